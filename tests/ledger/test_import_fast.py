"""The importer's fast path (audit/ledger/fast.py): on PostgreSQL a large CSV of attendance or wages
goes to the server as text and is converted by its distinct values. It must store exactly what the
row path stores, and hand every file it cannot read exactly — a quote, a bad value, a blank or
total row, a short row — back to the row path, whose messages name the rows as before."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from audit.demo.generator import generate_bundle
from audit.ledger import fast
from audit.ledger.bundle import Limits
from audit.ledger.importer import import_bundle
from models import Attendance, Base, Wage, db

from helpers import base_tables, write_bundle

pytestmark = pytest.mark.postgresql  # the fast path is PostgreSQL's; SQLite reads row by row

FAST = Limits(fast_min_rows=1)  # every attendance and wages file tries the fast path
ROWS = Limits(fast_min_rows=10**12)  # none does


@pytest.fixture
def took(monkeypatch) -> list[str]:
    """The tables the fast path wrote (a file it handed back is not among them)."""
    written: list[str] = []
    load = fast.load

    def spy(conn, source, *args, **kw):
        rows = load(conn, source, *args, **kw)
        written.append(source.spec.name)
        return rows

    monkeypatch.setattr(fast, "load", spy)
    return written


def run_import(app, path, limits: Limits, **kw):
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"], actor="tester", limits=limits,
                         **kw)


def stored(*, ids: bool = True) -> dict[str, list[tuple]]:
    """Attendance and wages as stored, but for the ciphertext (encrypted afresh each time) and, with
    ``ids=False``, the row id (a first try straight into an empty table, undone, spends ids of the
    sequence)."""
    out = {}
    for model in (Attendance, Wage):
        t = model.__table__
        cols = [c for c in t.columns if not c.name.endswith("_enc") and (ids or c.name != "id")]
        out[t.name] = sorted(tuple(map(str, row)) for row in db.session.execute(select(*cols)))
    return out


def empty_database() -> None:
    db.session.rollback()
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    db.session.execute(db.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


def outcome(result) -> tuple:
    return ([str(e) for e in result.errors], result.warnings,
            {t: dataclasses.astuple(c) for t, c in result.counts.items()})


def test_the_fast_path_stores_what_the_row_path_stores(app, tmp_path, took):
    folder = tmp_path / "county"
    generate_bundle(folder, persons=120, start=dt.date(2025, 1, 1), months=3, seed=7)
    by_rows = run_import(app, folder, ROWS)
    assert by_rows.ok and took == []
    expected = stored()
    assert len(expected["attendance"]) > 4_000 and len(expected["wages"]) > 150

    empty_database()
    by_fast = run_import(app, folder, FAST)
    assert by_fast.ok and took == ["attendance", "wages"]
    assert stored() == expected
    assert outcome(by_fast) == outcome(by_rows)

    again = run_import(app, folder, FAST)  # the tables now hold the rows: staged, merged, nothing new
    assert took == ["attendance", "wages"] * 2
    assert again.counts["attendance"].unchanged == len(expected["attendance"])
    assert again.counts["wages"].unchanged == len(expected["wages"])
    assert stored() == expected


def test_two_payments_alike_are_numbered_and_the_payroll_is_read_once(app, tmp_path, monkeypatch):
    folder = tmp_path / "county"
    generate_bundle(folder, persons=120, start=dt.date(2025, 1, 1), months=3, seed=7)
    wages = folder / "wages.csv"
    lines = wages.read_text(encoding="utf-8").splitlines(keepends=True)
    wages.write_text("".join(lines + [lines[1]]), encoding="utf-8")  # the first payment again, last
    last = len(lines) + 1  # its row number (the header is row 1)
    by_rows = run_import(app, folder, ROWS)
    assert by_rows.ok
    expected = stored(ids=False)

    empty_database()
    loads: list[str] = []
    load = fast.load

    def counted(conn, source, *args, **kw):
        loads.append(source.spec.name)
        return load(conn, source, *args, **kw)

    monkeypatch.setattr(fast, "load", counted)
    by_fast = run_import(app, folder, FAST)
    assert by_fast.ok
    twin = f"工资发放(wages) 第{last}行与第2行完全相同：两行都已保留，审计时将按重复发放核查"
    assert twin in by_fast.warnings
    # both kept, numbered 1 and 2, as the row path stores them
    assert stored(ids=False) == expected
    seqs = db.session.execute(select(Wage.seq).group_by(Wage.seq).order_by(Wage.seq)).scalars().all()
    assert seqs == [1, 2]
    # the payroll went to the server once: straight into the empty table, the copy would be refused
    # by the unique key only at the end of the INSERT, and the file read again the staged way
    assert loads.count("wages") == 1


@pytest.fixture
def rebuilt(monkeypatch) -> list[bool]:
    """Every load's choice: True if the target's indexes were dropped and built after."""
    monkeypatch.setattr(fast, "REBUILD_MIN_ROWS", 1)
    choices: list[bool] = []
    around = fast._indexes_rebuilt

    @contextlib.contextmanager
    def spy(*args, **kw):
        with around(*args, **kw) as rebuilding:
            choices.append(rebuilding)
            yield rebuilding

    monkeypatch.setattr(fast, "_indexes_rebuilt", spy)
    return choices


def attendance_indexes() -> set[str]:
    return set(db.session.execute(db.text("SELECT indexname FROM pg_indexes WHERE tablename = 'attendance'"))
               .scalars())


def test_a_large_load_into_an_empty_table_rebuilds_its_keys(app, people, tmp_path, took, rebuilt):
    tables = base_tables_with_days(people)
    tables["attendance"].append(dict(tables["attendance"][3], status="请假"))  # the day of row 5 again
    result = run_import(app, write_bundle(tmp_path / "dup", tables), FAST)
    # the rebuilt primary key refuses the file; the importer stages it and names both rows
    assert rebuilt[0] is True
    assert [(e.row, e.reason) for e in result.errors] == [
        (len(tables["attendance"]) + 1, "与第5行的身份证号、岗位或车间编号、日期相同（重复记录）")]
    assert db.session.scalar(select(db.func.count()).select_from(Attendance)) == 0
    assert attendance_indexes() == {"pk_attendance", "ix_attendance_phone"}
    db.session.commit()

    del tables["attendance"][-1]
    rebuilt.clear()
    assert run_import(app, write_bundle(tmp_path / "ok", tables), FAST).ok
    assert "attendance" in took and rebuilt[0] is True
    assert db.session.scalar(select(db.func.count()).select_from(Attendance)) == 12
    assert attendance_indexes() == {"pk_attendance", "ix_attendance_phone"}


def test_a_reader_of_the_empty_table_keeps_its_indexes_and_the_import_does_not_wait(app, people, tmp_path,
                                                                                    took,
                                                                                     rebuilt):
    tables = base_tables_with_days(people)
    with db.engine.connect() as reader:  # a page or an audit run reading attendance, its transaction open
        assert reader.scalar(select(db.func.count()).select_from(Attendance)) == 0
        result = run_import(app, write_bundle(tmp_path / "b", tables), FAST)
        assert result.ok and "attendance" in took and rebuilt[0] is False
    assert db.session.scalar(select(db.func.count()).select_from(Attendance)) == 12


def base_tables_with_days(people) -> dict[str, list[dict]]:
    """The small bundle with twelve days of one person's work (attendance rows 2-13)."""
    tables = base_tables(people)
    first = tables["attendance"][0]
    tables["attendance"] = [dict(first, work_date=(dt.date(2025, 3, 3) + dt.timedelta(days=i)).isoformat())
                            for i in range(12)]
    return tables


def _quoted(text: str) -> str:
    head, *rows = text.splitlines()
    return "\n".join([head, *[row.replace("出勤", '"出勤"') for row in rows]]) + "\n"


def _bad_status(text: str) -> str:
    lines = text.splitlines()
    lines[6] = lines[6].replace("出勤", "迟到")
    return "\n".join(lines) + "\n"


def _blank_line(text: str) -> str:
    lines = text.splitlines()
    return "\n".join([*lines[:4], "", *lines[4:]]) + "\n"


def _total_row(text: str) -> str:
    return text + "合计,,,,,,,\n"


def _short_row(text: str) -> str:
    lines = text.splitlines()
    lines[3] = ",".join(lines[3].split(",")[:4])
    return "\n".join(lines) + "\n"


def _backslash_dot(text: str) -> str:  # PostgreSQL's end-of-data marker, as a line of its own
    lines = text.splitlines()
    return "\n".join([*lines[:5], "\\.", *lines[5:]]) + "\n"


@pytest.mark.parametrize("change",
                         [_quoted, _bad_status, _blank_line, _total_row, _short_row, _backslash_dot],
                         ids=["quote", "bad-value", "blank-line", "total-row", "short-row", "end-marker"])
def test_a_file_the_fast_path_cannot_read_exactly_is_read_row_by_row(app, people, tmp_path, took, change):
    folder = write_bundle(tmp_path / "b", base_tables_with_days(people))
    path = folder / "attendance.csv"
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    by_rows = run_import(app, folder, ROWS, dry_run=True)
    by_fast = run_import(app, folder, FAST, dry_run=True)
    assert "attendance" not in took
    assert outcome(by_fast) == outcome(by_rows)
    if change is _bad_status:
        assert [(e.row, e.column, e.value) for e in by_fast.errors] == [(7, "考勤状态", "迟到")]
    if change is _total_row:
        assert any("合计行" in w for w in by_fast.warnings) and by_fast.ok
