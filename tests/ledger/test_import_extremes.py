"""The cells and files that broke the import, one by one: extreme and over-wide cells, damaged zip
entries, an unmatched quote, a sheet damaged after its first rows, an unreadable region. Each is
refused in Chinese with the database as it was (tests/ledger/test_fuzz_import.py fuzzes the same)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from audit.ledger.schema import BY_NAME
from models import Position, Post, db

from fuzz_bundles import (
    VALID,
    Snapshot,
    cells_of,
    header_of,
    ledger_snapshot,
    post_files,
    run,
    shown_reasons,
    zipped,
)
from fuzz_workbooks import csv_of, damage_zip, rewrite_part, workbook
from helpers import snapshot, write_bundle
from web_helpers import login

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the zips made so on purpose


# ---- the cells and files that broke the import, one by one --------------------------------------------

def arabic_digits(s: str, keep_last: bool = False) -> str:
    """The digits of ``s`` as Arabic-Indic digits (``\\d`` matches them, and int() reads them)."""
    body = s[:-1] if keep_last else s
    return "".join(chr(0x660 + int(c)) for c in body) + (s[-1] if keep_last else "")


EXTREMES = [
    # table, column, value, how the reason begins
    ("positions", "monthly_wage", "9" * 19, "金额过大"),  # more than 64 bits of fen
    ("wages", "amount", "99999999999999999", "金额过大"),
    ("reports", "value", "9" * 25, "数值过大"),
    ("workshops", "baseline_poverty_headcount", "3000000000", "数值过大"),  # more than 32 bits
    ("workshops", "baseline_poverty_headcount", "1e400", "数值过大"),
    ("workshops", "baseline_poverty_headcount", "1e999999999", "数值过大"),  # int() of it took hours
    ("persons", "name", "张" * 129, "内容过长"),
    ("migrant_work", "place", "广" * 130, "内容过长"),
    ("persons", "id_number", arabic_digits(VALID["persons"][0]["id_number"], keep_last=True),
     "身份证号前17位应为数字"),
    ("persons", "bank_account", arabic_digits("6228480000000000011"), "银行账号应为6至32位数字"),
]


def one_cell_refused(tmp_path: Path, table: str, column: str, value, dry_runs=(True, False)) -> list[str]:
    """Import a valid row of ``table`` whose ``column`` holds ``value``: the reasons refusing it, if
    that cell is the one error and nothing was written (else an AssertionError)."""
    folder = write_bundle(Path(tempfile.mkdtemp(dir=tmp_path)), {table: [{**VALID[table][0], column: value}]})
    reasons = []
    for dry_run in dry_runs:
        before = Snapshot(snapshot(db.engine))
        result = run(folder, dry_run)
        zh = BY_NAME[table].col(column).zh  # errors name a column by its Chinese header
        assert [(e.table, e.row, e.column) for e in result.errors] == [(table, 2, zh)], result.errors
        assert Snapshot(snapshot(db.engine)) == before
        reasons.append(result.errors[0].reason)
    return reasons


def test_extreme_cells_are_row_errors(app, loaded, tmp_path):
    for table, column, value, reason in EXTREMES:
        for got in one_cell_refused(tmp_path, table, column, value):
            assert got.startswith(reason), (table, column, value[:20], got)
    assert Snapshot(snapshot(db.engine)) == loaded


WIDER = [("persons", "name", "张" * 65), ("persons", "phone", "1" * 33), ("persons", "name", "ﷺ" * 5),
         ("positions", "position_code", "G" * 65), ("positions", "title", "保" * 65),
         ("wages", "batch", "B" * 65), ("attendance", "device_id", "D" * 65),
         ("wages", "account_name", "张" * 65)]


def test_text_wider_than_its_column_is_refused(app, loaded, tmp_path):
    for table, column, value in WIDER:
        assert one_cell_refused(tmp_path, table, column, value, dry_runs=(False,))[0].startswith("内容过长")


def test_a_household_code_wider_than_its_column_is_refused(app, loaded, tmp_path):
    for table in ("persons", "officials"):
        reason = one_cell_refused(tmp_path, table, "household_id", "H" * 65, dry_runs=(False,))[0]
        assert reason.startswith("内容过长"), reason


def test_an_empty_required_days_is_the_default_20(app, loaded, tmp_path):
    for i, empty in enumerate(["", "  "]):
        code = f"GW-NEW-{i}"
        row = {**VALID["positions"][0], "position_code": code, "required_days": empty}
        result = run(write_bundle(tmp_path / code, {"positions": [row]}), dry_run=False)
        assert result.ok, result.errors
        db.session.rollback()
        assert db.session.scalar(select(Position.required_days).join(Post, Post.id == Position.id)
                                 .where(Post.code == code)) == 20


def test_an_unreadable_zip_entry_is_named(app, loaded, tmp_path):
    data = zipped([("persons.csv", csv_of("persons", VALID["persons"]))])
    for how, reason in [("crc", "压缩包中的 persons.csv 已损坏，无法解压"),
                        ("encrypted", "压缩包中的 persons.csv 设有密码"),
                        ("method", "压缩包中的 persons.csv 使用了不支持的压缩方式")]:
        path = tmp_path / f"{how}.zip"
        path.write_bytes(damage_zip(data, how))
        result = run(path, dry_run=True)
        assert [e.table for e in result.errors] == ["bundle"], result.errors
        assert result.errors[0].reason.startswith(reason), result.errors[0].reason
    assert Snapshot(snapshot(db.engine)) == loaded


def test_an_unmatched_quote_is_explained_in_chinese(app, loaded, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    rows = [",".join(header_of(BY_NAME["persons"], False))] + ['"王大山' + "，" * 70_000] * 3
    (folder / "persons.csv").write_text("\n".join(rows), encoding="utf-8")
    result = run(folder, dry_run=True)
    assert [str(e) for e in result.errors] == [
        f"persons.csv 第3行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
        "（常见原因：引号不成对，使后面的内容都并进了一个单元格）"]


def test_a_sheet_damaged_after_its_first_rows_is_refused_in_chinese(app, loaded, tmp_path):
    """A read-only sheet is parsed as it is read: the damage shows only then, after a header and a
    row were read."""
    persons = BY_NAME["persons"]
    data = workbook([("persons", header_of(persons, False),
                      [cells_of(persons, r) for r in VALID["persons"]])])
    path = tmp_path / "台账.xlsx"
    path.write_bytes(rewrite_part(data, "xl/worksheets/sheet1.xml", b'<row r="3"', b'<row r="3" <'))
    result = run(path, dry_run=True)
    assert [str(e) for e in result.errors] == [
        "台账.xlsx「persons」 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），请用 Excel 重新保存后"
        "再上传"]
    assert Snapshot(snapshot(db.engine)) == loaded


def test_an_unreadable_region_is_explained_as_such_not_as_missing(client, web):
    """The scope check cannot read a district of 129 characters; it leaves the row to the importer,
    which says what is wrong, instead of calling the district empty."""
    login(client, "auditor_fj")
    before = ledger_snapshot()
    persons = BY_NAME["persons"]
    rows = [{**VALID["persons"][0], "district": "奉" * 129},
            {**VALID["persons"][1], "district": dt.date(2025, 1, 1)}]
    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.title = "persons"
    wb.active.append(header_of(persons, False))
    for r in rows:
        wb.active.append(cells_of(persons, r))
    wb.save(buf)
    resp = post_files(client, ("file", "台账.xlsx", buf.getvalue()))
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    reasons = shown_reasons(html)
    assert "内容过长（129个字符），最多128个字符" in reasons and "应为文本，不是日期" in reasons, reasons
    assert not [r for r in reasons if "未填写区县" in r], reasons
    assert ledger_snapshot() == before
