"""Bundles as files for the tests of the accepted forms (tests/ledger/test_bundle_*.py): the import and
what it added, headers renamed, workbooks, zips."""
from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
from flask import current_app
from sqlalchemy import select

from audit.ledger import values as v
from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME
from models import Attendance, Person, Placement, Position, Post, Report, Wage, WorkshopStaff, db

# What base_tables() adds to an empty database.
EXPECTED_ADDED = {"persons": 3, "positions": 2, "placements": 2, "workshops": 1, "workshop_staff": 1,
                  "attendance": 4, "wages": 2, "reports": 2, "deaths": 1, "officials": 1}


def run(path, **kw):
    return import_bundle(path, engine=db.engine, pii=current_app.extensions["pii"], **kw)


def added(result) -> dict[str, int]:
    return {t: c.added for t, c in result.counts.items()}


def messages(result) -> str:
    return "\n".join(str(e) for e in result.errors)


def assert_imported(result, expected=EXPECTED_ADDED):
    assert result.ok, messages(result)
    assert added(result) == expected
    assert {t: c.rows for t, c in result.counts.items()} == expected


def wage_of(code: str) -> int:
    return db.session.scalar(select(Position.monthly_wage_fen).join(Post, Post.id == Position.id)
                             .where(Post.code == code))


def assert_base_values_stored():
    """The values of base_tables(), as stored."""
    assert set(db.session.scalars(select(Person.name))) == {"王大山", "李小花", "张三"}
    assert wage_of("GW-001") == 80000
    assert wage_of("GW-002") == 90000
    assert db.session.scalar(select(WorkshopStaff.monthly_wage_fen)) == 250000
    assert db.session.scalar(select(WorkshopStaff.start_date)) == dt.date(2024, 10, 1)
    assert sorted(db.session.scalars(select(Placement.start_date))) == [dt.date(2025, 1, 1)] * 2
    assert list(db.session.scalars(select(Placement.end_date))) == [None, None]
    assert sorted(set(db.session.scalars(select(Attendance.work_date)))) == [dt.date(2025, 1, 2),
                                                                           dt.date(2025, 1, 3)]
    assert sorted(t for t in db.session.scalars(select(Attendance.check_in_time)) if t) == [
        dt.time(7, 55), dt.time(8, 1), dt.time(8, 30)]
    assert sorted(db.session.execute(select(Wage.period, Wage.paid_on, Wage.amount_fen)).all()) == [
        (dt.date(2025, 1, 1), dt.date(2025, 2, 10),
         80000), (dt.date(2025, 1, 1), dt.date(2025, 2, 12), 250000)]
    assert sorted(db.session.scalars(select(Report.value_x100))) == [100, 250000]


def renamed(tables: dict[str, list[dict]], header) -> dict[str, list[dict]]:
    """The same bundle with each column header replaced by ``header(spec, key, index)``."""
    out = {}
    for name, rows in tables.items():
        spec = BY_NAME[name]
        keys = list(rows[0])
        out[name] = [{header(spec, k, i): r.get(k, "") for i, k in enumerate(keys)} for r in rows]
    return out


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# ---- Excel ----------------------------------------------------------------------------------

CHINESE_SHEETS = {"persons", "placements", "attendance", "reports", "officials"}


def excel_cell(spec, key: str, text: str):
    """A cell as Excel holds it: real dates, numbers for money and counts, text for IDs and codes."""
    if text == "":
        return None
    parse = spec.col(key).parse
    if parse is v.date:
        return dt.datetime.fromisoformat(text)
    if parse is v.month:
        return dt.datetime.strptime(text, "%Y-%m")
    if parse is v.time:
        return dt.time.fromisoformat(text)
    if parse in (v.money, v.decimal_x100):
        d = Decimal(text)
        return int(d) if d == d.to_integral_value() else float(d)
    if parse is v.integer:
        return int(text)
    return text


def fill_sheet(ws, name: str, rows: list[dict]) -> None:
    spec = BY_NAME[name]
    keys = list(rows[0])
    ws.append(keys)
    for r in rows:
        ws.append([excel_cell(spec, k, r.get(k, "")) for k in keys])


def write_workbook(path: Path, tables: dict[str, list[dict]], sheet_name) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in tables.items():
        fill_sheet(wb.create_sheet(sheet_name(name)), name, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ---- zips -----------------------------------------------------------------------------------

class RawNameInfo(zipfile.ZipInfo):
    """An entry whose name is written as raw bytes (``filename`` is those bytes decoded as cp437) and
    without the UTF-8 flag 0x800: what zip tools on a Chinese Windows write. (zipfile would otherwise
    store any non-ASCII name as UTF-8 and set the flag.)"""

    def _encodeFilenameFlags(self):
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


def zip_folder(folder: Path, path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if prefix:
            zf.writestr(prefix, b"")  # the folder's own entry, as zip tools write it
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return path
