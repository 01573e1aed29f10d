"""Sheets as people really keep them (ledger-format.md): a generated county with its planted cases,
written as the workbooks a county office keeps — a merged title and a note above the header, header
cells with line breaks, units in brackets, a leading * and stray spaces, a 序号 column, 小计 and 合计
rows, file names with 表/名单/清单/台账/明细, dates as Excel serial numbers, times as Excel fractions,
money with formula noise, months written 2025年3月 — gives exactly the findings of the clean CSV
bundle (same rules, same people, same posts, months and amounts). A habit the importer cannot read
safely (a month Excel stored as the number 2025.1, an ID number stored as a number) is refused with
the file, the row as Excel numbers it and the column by its Chinese name."""
from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from audit.demo.generator import generate_bundle
from audit.demo.plant import as_of_for, plant_cases
from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME
from models import Base, db

from helpers import brief, findings, snapshot

START, MONTHS, SEED = dt.date(2025, 1, 1), 12, 11
# each table's file, named as offices name them: its Chinese name and 表, 名单, 清单, 台账 or 明细
FILES = {"persons": "人员信息表", "positions": "公益性岗位台账", "placements": "安置台账表",
         "workshops": "就业帮扶车间清单", "workshop_staff": "车间用工花名册表", "attendance": "考勤记录表",
         "wages": "工资发放明细", "reports": "上报数据表", "deaths": "死亡人员名单",
         "social_insurance": "社保缴费明细", "pensions": "养老金领取名单", "businesses": "工商登记清单",
         "officials": "干部名单表", "migrant_work": "外出务工台账"}
EXCEL_EPOCH = dt.date(1899, 12, 30)
HEAVY = {"attendance", "wages"}  # written row by row (openpyxl's write-only mode: no merged title)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, set[str]]:
    """The generated county with a planted case of every rule, and the rules planted."""
    folder = tmp_path_factory.mktemp("habits") / "clean"
    generate_bundle(folder, persons=400, start=START, months=MONTHS, seed=SEED)
    manifest = plant_cases(folder, start=START, months=MONTHS, seed=SEED)
    (folder / "expected.json").unlink()
    return folder, {case["rule"] for case in manifest}


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header_habit(zh: str, i: int, parse: str, required: bool) -> str:
    """The header cell as a county clerk typed it (each habit in turn)."""
    if parse in ("money", "signed_money"):
        return f"{zh}（元）" if i % 2 else f"{zh}(元)"
    habit = i % 4
    if habit == 0 and required:
        return "*" + zh
    if habit == 1 and len(zh) > 2:
        return zh[:2] + "\n" + zh[2:]  # Alt+Enter inside the cell
    if habit == 2:
        return f" {zh} "
    return zh


def cell_habit(value: str, parse: str, n: int):
    """The cell as Excel holds it: dates as serial numbers or date cells, times as fractions of a day,
    money as a float with formula noise, months as 2025年3月; the rest as typed text."""
    if value == "":
        return None
    if parse == "date":
        day = dt.date.fromisoformat(value)
        return (day - EXCEL_EPOCH).days if n % 3 == 0 else (dt.datetime.combine(day, dt.time()) if n % 3 == 1
                                                           else value)
    if parse == "time" and n % 2 == 0:
        hh, mm = map(int, value.split(":")[:2])
        return (hh * 60 + mm) / 1440
    if parse in ("money", "signed_money"):
        return float(value) + (1e-10 if n % 2 else -1e-10)  # what a formula leaves
    if parse == "month" and n % 2 == 0:
        year, month = value.split("-")
        return f"{year}年{int(month)}月"
    if parse == "integer":
        return int(value)
    return value


def fill(ws, spec, rows: list[dict], k: int, merged: bool) -> None:
    """One table's sheet, kept with every habit (``k`` varies which header habit falls where)."""
    keys = list(rows[0]) if rows else [c.key for c in spec.columns]
    cols = [spec.col(key) for key in keys]
    header = ["序号"] + [header_habit(c.zh, i + k, c.parse.__name__, c.required) for i, c in enumerate(cols)]
    ws.append([f"2025年奉节县{spec.zh}"])
    if merged:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append([None])
    ws.append(["填表单位：（盖章）", None, "填表日期：2026年1月5日"])
    ws.append(header)
    money = [j for j, c in enumerate(cols) if c.parse.__name__ in ("money", "signed_money")]
    for n, row in enumerate(rows, 1):
        ws.append([n] + [cell_habit(row[c.key], c.parse.__name__, n + j) for j, c in enumerate(cols)])
        if n == len(rows) // 2 and money:  # a 小计 row half way
            ws.append(["小计"] + [None] * len(cols))
    if money:
        total = [None] * len(cols)
        for j in money:
            total[j] = sum(float(r[cols[j].key] or 0) for r in rows)
        ws.append(["合计"] + total)


def write_habits(clean: Path, out: Path) -> Path:
    """The clean bundle as one workbook per table, kept with every habit; file names with a suffix."""
    out.mkdir(parents=True)
    for k, path in enumerate(sorted(clean.glob("*.csv"))):
        spec = BY_NAME[path.stem]
        heavy = spec.name in HEAVY
        wb = openpyxl.Workbook(write_only=heavy)
        fill(wb.create_sheet("Sheet1") if heavy else wb.active, spec, read_csv(path), k, merged=not heavy)
        wb.save(out / f"{FILES[spec.name]}.xlsx")
    return out


def write_one_book(clean: Path, out: Path) -> Path:
    """The clean bundle as one workbook, a sheet per table named as offices name them."""
    out.mkdir(parents=True)
    wb = openpyxl.Workbook(write_only=True)
    for k, path in enumerate(sorted(clean.glob("*.csv"))):
        spec = BY_NAME[path.stem]
        fill(wb.create_sheet(FILES[spec.name]), spec, read_csv(path), k + 1, merged=False)
    wb.save(out / "2025年奉节县公益性岗位台账汇总.xlsx")
    return out / "2025年奉节县公益性岗位台账汇总.xlsx"


@pytest.fixture(scope="module")
def habits(clean, tmp_path_factory) -> Path:
    return write_habits(clean[0], tmp_path_factory.mktemp("habits") / "workbooks")


@pytest.fixture(scope="module")
def one_book(clean, tmp_path_factory) -> Path:
    return write_one_book(clean[0], tmp_path_factory.mktemp("habits") / "book")


def wipe() -> None:
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


def audited(app, folder: Path):
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"], actor="tester")
    assert result.ok, [str(e) for e in result.errors[:10]]
    run_audit(db.engine, as_of=as_of_for(START, MONTHS), actor="tester")
    return result, findings(app)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["files", "one workbook"])
def test_workbooks_kept_with_every_habit_give_the_findings_of_the_clean_bundle(app, clean, request, layout):
    clean, planted = clean
    _, expected = audited(app, clean)
    assert {f["rule"] for f in expected} >= planted
    wipe()
    result, got = audited(app, request.getfixturevalue("habits" if layout == "files" else "one_book"))
    assert brief(got) == brief(expected)
    def evidence(found):  # findings of one rule and month may tie in the list's order: compare them sorted
        return sorted(json.dumps([f["rule"], f["evidence"]], ensure_ascii=False, sort_keys=True)
                      for f in found)

    assert evidence(got) == evidence(expected)

    # every row of every table was read, no total row among them, and nothing was left out
    clean_rows = {p.stem: len(read_csv(p)) for p in clean.glob("*.csv")}
    assert {t: c.rows for t, c in result.counts.items() if c.rows} == clean_rows
    notices = "\n".join(result.warnings)
    assert "工资发放明细.xlsx" in notices or "工资发放" in notices
    assert "合计" in notices and "小计" in notices
    assert "表头" in notices  # the title rows above the header, each file said once


def patched(habits: Path, tmp_path: Path, file: str, column: str, row_of: int, value) -> tuple[Path, int]:
    """A copy of the habits bundle with one cell of ``file`` changed: the ``row_of``-th data row of
    ``column`` (its Chinese header, matched as the importer would); returns the folder and the
    row's number as Excel shows it."""
    folder = tmp_path / "patched"
    shutil.copytree(habits, folder)
    wb = openpyxl.load_workbook(folder / file)
    ws = wb.active
    header_row = 4
    col = next(c.column for c in ws[header_row]
               if c.value and str(c.value).replace("\n", "").replace("*", "").strip().startswith(column))
    excel_row = header_row + row_of
    ws.cell(row=excel_row, column=col).value = value
    wb.save(folder / file)
    return folder, excel_row


@pytest.mark.parametrize(("file", "column", "value", "says"), [
    ("工资发放明细.xlsx", "所属月份", 2025.1, "2025.10 会变成 2025.1"),
    ("人员信息表.xlsx", "身份证号", 500236199603174744, "身份证号"),
])
def test_a_cell_excel_changed_is_refused_naming_file_row_and_column(app, habits, tmp_path, file, column,
                                                                      value, says):
    folder, excel_row = patched(habits, tmp_path, file, column, 7, value)
    before = snapshot(db.engine)
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"], actor="tester")
    assert not result.ok
    assert snapshot(db.engine) == before
    wrong = [e for e in result.errors if e.row == excel_row]
    assert len(wrong) == 1, [str(e) for e in result.errors[:5]]
    error = wrong[0]
    assert error.origin.startswith(file) and error.column == column
    assert says in error.reason
    assert file in str(error) and f"第{excel_row}行" in str(error) and f"[{column}]" in str(error)
