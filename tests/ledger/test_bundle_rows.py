"""Rows and cells of a bundle, through ``import_bundle`` (shared/docs/ledger-format.md): empty cells,
lines of only commas and blank lines, months Excel turned into numbers or dates, and the dry run."""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import openpyxl
from sqlalchemy import select

from models import (
    Attendance,
    ImportBatch,
    Official,
    Person,
    Placement,
    Position,
    Post,
    Report,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

from bundle_files import (
    added,
    assert_base_values_stored,
    assert_imported,
    messages,
    run,
    wage_of,
    write_workbook,
)
from helpers import base_tables, count, write_bundle

# ---- empty cells and blank lines ------------------------------------------------------------

def test_empty_end_date_means_still_active(app, people, tmp_path):
    tables = base_tables(people)
    tables["placements"][1]["end_date"] = "2025-06-30"
    result = run(write_bundle(tmp_path / "bundle", tables))
    assert_imported(result)
    ends = dict(db.session.execute(select(Post.code, Placement.end_date)
                                   .join(Post, Post.id == Placement.position_id)).all())
    assert ends == {"GW-001": None, "GW-002": dt.date(2025, 6, 30)}


def _insert_line(path: Path, after: int, line: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(after, line)
    path.write_text("".join(lines), encoding="utf-8")


def test_a_line_of_only_commas_is_ignored(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", tables)
    width = len(tables["persons"][0])
    _insert_line(folder / "persons.csv", 2, "," * (width - 1) + "\r\n")  # between the 1st and 2nd person
    _insert_line(folder / "attendance.csv", 5, "\r\n")  # a truly empty line at the end
    (folder / "wages.csv").write_text((folder / "wages.csv")
                                      .read_text(encoding="utf-8") + ",,,\r\n,,,,,,,\r\n", encoding="utf-8")
    result = run(folder)
    assert_imported(result)
    assert_base_values_stored()


def test_a_blank_line_does_not_shift_row_numbers(app, people, tmp_path):
    tables = base_tables(people)
    tables["persons"][1]["id_number"] = tables["persons"][1]["id_number"][:17]  # 17 characters
    folder = write_bundle(tmp_path / "bundle", tables)
    _insert_line(folder / "persons.csv", 2, "," * (len(tables["persons"][0]) - 1) + "\r\n")
    result = run(folder)
    assert not result.ok
    bad = [e for e in result.errors if e.table == "persons"]
    assert [(e.row, e.column) for e in bad] == [(4, "身份证号")]  # header 1, person 2, blank 3, person 4
    assert "18位" in bad[0].reason
    assert count(Person) == 0


# ---- dry run --------------------------------------------------------------------------------

def test_dry_run_counts_but_changes_nothing(app, people, tmp_path):
    folder = write_bundle(tmp_path / "bundle", base_tables(people))
    result = run(folder, dry_run=True)
    assert result.dry_run and not result.committed
    assert_imported(result)
    assert result.batch_id is None
    for model in (Person, Post, Position, Placement, Workshop, WorkshopStaff, Attendance, Wage, Report,
                  Official, ImportBatch):
        assert count(model) == 0, model.__name__

    # the real import then adds exactly what the dry run announced
    db.session.rollback()  # end the session's read transaction, to see what the import commits
    real = run(folder)
    assert added(real) == added(result)
    assert count(Person) == 3


def test_dry_run_on_a_loaded_database_shows_changes(app, people, tmp_path):
    tables = base_tables(people)
    assert_imported(run(write_bundle(tmp_path / "first", tables)))
    changed = copy.deepcopy(tables)
    changed["positions"][1]["monthly_wage"] = "950"
    result = run(write_bundle(tmp_path / "second", changed), dry_run=True)
    assert result.ok, messages(result)
    assert (result.counts["positions"].added, result.counts["positions"].changed) == (0, 1)
    assert wage_of("GW-002") == 90000  # unchanged: it was a dry run


def test_a_month_excel_turned_into_a_number_is_a_row_error_not_january(app, people, tmp_path):
    """2025.10 typed into a General cell is kept by Excel as 2025.1: stored as January it gave one
    county 1,247 false findings. The row is refused, asking for text (ledger-format.md)."""
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", tables, lambda name: name)
    wb = openpyxl.load_workbook(path)
    ws = wb["wages"]
    col = [c.value for c in ws[1]].index("period") + 1
    cell = ws.cell(row=2, column=col, value=2025.1)  # a number in a General cell, as Excel keeps 2025.10
    cell.number_format = "General"
    wb.save(path)
    result = run(path, dry_run=True)
    errors = [e for e in result.errors if e.table == "wages"]
    assert [(e.row, e.column) for e in errors] == [(2, "所属月份")]  # the column's Chinese name
    assert "月份被 Excel 存成了数字 2025.1" in errors[0].reason and "2025-10" in errors[0].reason


def test_a_month_excel_made_a_date_and_saved_as_csv_is_that_month(app, people, tmp_path):
    """2025-10 typed into a cell Excel makes a date and, saved as CSV, writes 2025/10/1: that month.
    Another day of the month in a month column is still refused."""
    tables = base_tables(people)
    tables["wages"][0]["period"] = "2025/1/1"
    assert run(write_bundle(tmp_path / "ok", tables)).ok
    db.session.rollback()
    assert {w.period for w in db.session.scalars(select(Wage))} >= {dt.date(2025, 1, 1)}
    tables["wages"][0]["period"] = "2025/1/15"
    result = run(write_bundle(tmp_path / "day", tables), dry_run=True)
    assert [(e.table, e.row, e.column) for e in result.errors] == [("wages", 2, "所属月份")]
    assert "月份格式应为 YYYY-MM" in result.errors[0].reason
