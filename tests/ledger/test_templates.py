"""``audit templates``: blank templates that officials can fill in. Their sample rows are marked as
samples and refused by the importer: an untouched template changes nothing."""
from __future__ import annotations

import csv
import re
import shutil

import openpyxl
import pytest
from stdnum.cn import ric

from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME, TABLES
from audit.ledger.templates import WORKBOOK_NAME, write_templates
from audit.ledger.values import id_number
from models import db

from helpers import snapshot

# What the sample rows hold: two people (the second one works in the workshop), one row elsewhere.
SAMPLE_ROWS = {spec.name: 1 for spec in TABLES} | {"persons": 2}
# what the unmarked samples load: a row each, the 考勤表's row as the six days it marks
EXPECTED_ADDED = SAMPLE_ROWS | {"attendance_grid": 6}


def run_import(app, path):
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"])


@pytest.fixture
def templates(tmp_path):
    out = tmp_path / "templates"
    write_templates(out)
    return out


def test_the_command_writes_every_template(runner, tmp_path):
    out = tmp_path / "tpl"
    result = runner.invoke("templates", str(out))
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    expected = {f"{t.name}.{ext}" for t in TABLES for ext in ("csv", "xlsx")} | {WORKBOOK_NAME}
    assert names == expected
    assert {"persons.csv", "migrant_work.csv", "persons.xlsx", "migrant_work.xlsx", "台账模板.xlsx"} <= names
    assert str(len(expected)) in result.output


def test_write_templates_returns_the_paths_it_wrote(tmp_path):
    written = write_templates(tmp_path / "new" / "dir")
    assert len(written) == 2 * len(TABLES) + 1
    assert all(p.is_file() for p in written)
    assert sorted(p.name for p in written) == sorted(p.name for p in (tmp_path / "new" / "dir").iterdir())


def test_csv_templates_have_a_bom_and_chinese_headers(templates):
    raw = (templates / "persons.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["身份证号", "姓名", "联系电话", "户编号", "区县", "乡镇街道", "村社区", "人员类别",
                       "劳动能力", "银行账号"]
    assert len(rows) == 3  # header and two sample people
    for spec in TABLES:
        with open(templates / f"{spec.name}.csv", encoding="utf-8-sig", newline="") as fh:
            header, *samples = list(csv.reader(fh))
        assert header == [c.zh for c in spec.columns]
        assert samples and all(len(r) == len(header) for r in samples)


SAMPLE_REFUSED = "是模板示例行，请删除后再导入"


def sample_rows_of_every_table() -> set[tuple[str, int]]:
    """(table, row number as in the file) of every sample row: the header is row 1."""
    return {(t.name, r) for t in TABLES for r in range(2, 2 + SAMPLE_ROWS[t.name])}


def assert_refused_as_a_whole(result, before, engine) -> None:
    assert not result.ok and not result.committed
    assert {(e.table, e.row) for e in result.errors} == sample_rows_of_every_table()
    for e in result.errors:  # one error a row, naming the sheet and the row
        assert f"第 {e.row} 行{SAMPLE_REFUSED}" in str(e) and BY_NAME[e.table].zh in str(e), str(e)
    assert snapshot(engine) == before  # nothing changed


def test_the_folder_of_csv_templates_is_refused_and_changes_nothing(app, templates, tmp_path):
    folder = tmp_path / "csv-only"
    folder.mkdir()
    for f in templates.glob("*.csv"):
        shutil.copy(f, folder)
    before = snapshot(db.engine)
    assert_refused_as_a_whole(run_import(app, folder), before, db.engine)


def test_the_untouched_workbook_is_refused_and_changes_nothing(app, templates):
    before = snapshot(db.engine)
    result = run_import(app, templates / WORKBOOK_NAME)
    assert_refused_as_a_whole(result, before, db.engine)
    assert ("人员信息(persons)（台账模板.xlsx「人员信息」） 第2行 [身份证号] 值「000000"
            in str(result.errors[0]))
    assert not [w for w in result.warnings if "说明" not in w]  # only the explanation sheet is skipped


def test_each_untouched_xlsx_template_is_refused(app, templates, tmp_path):
    folder = tmp_path / "xlsx-only"
    folder.mkdir()
    for spec in TABLES:
        shutil.copy(templates / f"{spec.name}.xlsx", folder)
    before = snapshot(db.engine)
    assert_refused_as_a_whole(run_import(app, folder), before, db.engine)


def test_one_sample_row_left_among_real_rows_refuses_the_bundle(app, templates, tmp_path, people):
    folder = tmp_path / "filled"
    folder.mkdir()
    real = people.id("1975-03-02", True)
    with open(templates / "persons.csv", encoding="utf-8-sig", newline="") as fh:
        header, first, second = list(csv.reader(fh))
    row = dict(zip(header, first, strict=False)) | {"身份证号": real, "姓名": "王大山", "户编号": "H001"}
    with open(folder / "persons.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, [row[h] for h in header], second])
    before = snapshot(db.engine)
    result = run_import(app, folder)
    refused = [e for e in result.errors if e.table == "persons"]  # (the other required tables are missing)
    assert not result.ok and [e.row for e in refused] == [3]
    assert "第 3 行" + SAMPLE_REFUSED in str(refused[0])
    assert snapshot(db.engine) == before


def unmarked(text: str) -> str:
    """The sample rows with their mark taken off: live-looking codes, names and ID numbers."""
    text = re.sub(r"000000(\d{11})[0-9X]",
                  lambda m: "500236" + m.group(1) + ric.calc_check_digit("500236" + m.group(1) + "?"), text)
    return text.replace("示例-", "").replace("示例", "")


def test_apart_from_the_mark_the_sample_rows_are_a_valid_bundle(app, templates, tmp_path):
    folder = tmp_path / "unmarked"
    folder.mkdir()
    for f in templates.glob("*.csv"):
        (folder / f.name).write_text(unmarked(f.read_text(encoding="utf-8-sig")), encoding="utf-8")
    result = run_import(app, folder)
    assert result.ok and result.committed, [str(e) for e in result.errors]
    # every sample row is read; the replaces row is applied, not stored (it deletes nothing here)
    assert {t: c.rows for t, c in result.counts.items()} == EXPECTED_ADDED
    assert {t: c.added for t, c in result.counts.items()} == EXPECTED_ADDED | {"replaces": 0}
    assert not any(c.deleted for c in result.counts.values())


def test_sample_codes_names_and_ids_can_never_be_live(templates):
    wb = openpyxl.load_workbook(templates / WORKBOOK_NAME)
    people = list(wb["人员信息"].iter_rows(min_row=2, values_only=True))
    assert [p[1] for p in people] == ["示例人员甲", "示例人员乙"]
    assert all(p[0].startswith("000000") and p[3].startswith("示例-") for p in people)
    assert [id_number(p[0]) for p in people] == [p[0] for p in people]  # valid numbers all the same
    for sheet, col in (("公益性岗位", 0), ("就业帮扶车间", 0), ("安置台账", 1), ("考勤记录", 1),
                       ("工资发放", 1), ("上报数据", 0), ("车间用工花名册", 0)):
        assert (all(r[col].startswith("示例-")
                    for r in wb[sheet].iter_rows(min_row=2, values_only=True))), sheet
    text = "\n".join(str(c) for row in wb["说明"].iter_rows(values_only=True) for c in row if c is not None)
    assert "示例行" in text and "会被拒绝" in text


def test_xlsx_template_keeps_ids_and_accounts_as_text(templates):
    wb = openpyxl.load_workbook(templates / "persons.xlsx")
    ws = wb["人员信息"]
    assert wb.sheetnames == ["人员信息"]
    headers = [c.value for c in ws[1]]
    assert headers == [c.zh for c in BY_NAME["persons"].columns]
    id_col = headers.index("身份证号") + 1
    account_col = headers.index("银行账号") + 1
    for row in (2, 3):
        for col in (id_col, account_col):
            cell = ws.cell(row=row, column=col)
            assert cell.number_format == "@"
            assert isinstance(cell.value, str) and len(cell.value) >= 18
    # the whole column is text, so IDs typed later are not turned into floats
    assert ws.column_dimensions["A"].number_format == "@"
    assert ws.freeze_panes == "A2"
    head = ws.cell(row=1, column=id_col)
    assert head.font.bold and head.comment is not None and head.comment.text == "必填"
    optional = ws.cell(row=1, column=headers.index("联系电话") + 1)
    assert optional.comment is None and optional.fill.fgColor.rgb != head.fill.fgColor.rgb


def test_workbook_has_an_explanation_sheet_then_one_sheet_per_table(templates):
    wb = openpyxl.load_workbook(templates / WORKBOOK_NAME)
    assert wb.sheetnames == ["说明", *(t.zh for t in TABLES)]
    text = "\n".join(str(c) for row in wb["说明"].iter_rows(values_only=True) for c in row if c is not None)
    for spec in TABLES:
        assert spec.name in text and spec.zh in text
    for needle in ("YYYY年M月D日", "YYYYMM", "两位小数", "乡村公益性岗位", "人脸识别", "村委会主任",
                   "total_headcount", "必填", "选填"):
        assert needle in text
    wages = wb["工资发放"]
    assert [c.value for c in wages[1]] == [c.zh for c in BY_NAME["wages"].columns]
    assert wages.cell(row=2, column=1).number_format == "@"
