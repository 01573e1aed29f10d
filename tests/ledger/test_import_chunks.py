"""The importer reads, checks and writes a table chunk by chunk (``importer.CHUNK`` rows, made tiny
here, as the rows of one INSERT on SQLite): what crosses a chunk's edge is found as if the table
were read whole — a bad cell names its row, a key given twice names both rows, identical wage rows
are numbered and named — and a refusal after chunks were written leaves the database exactly as it
was. Each case runs the two ways a table is written: straight into an empty table, and staged
beside rows already stored."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from audit.ledger import importer, writers
from models import Attendance, Wage, db

from helpers import base_tables, count, run_import, snapshot, write_bundle


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(writers, "ROWS_PER_INSERT", 2)  # SQLite: a chunk is one INSERT of 2 rows and one of 1


def days(person: str, post: str, first: dt.date, n: int) -> list[dict]:
    return [{"id_number": person, "post_code": post, "work_date": (first + dt.timedelta(days=i)).isoformat(),
             "status": "出勤"} for i in range(n)]


def prepare(app, people, tmp_path, stored: bool) -> dict[str, list[dict]]:
    """Import the base bundle (without attendance, or with ``stored`` one day of it, so that the
    next import's attendance is staged) and return it with ten days of attendance: rows 2-11, four
    chunks."""
    tables = base_tables(people)
    base = copy.deepcopy(tables)
    base["attendance"] = base["attendance"][:1]
    if not stored:
        del base["attendance"]
    tables["attendance"] = days(tables["persons"][0]["id_number"], "GW-001", dt.date(2025, 3, 3), 10)
    assert run_import(app, write_bundle(tmp_path / "base", base)).ok
    assert count(Attendance) == (1 if stored else 0)
    return tables


@pytest.mark.parametrize("stored", [False, True], ids=["empty-table", "staged"])
def test_a_bad_cell_in_a_later_chunk_names_its_row(app, people, tmp_path, stored):
    tables = prepare(app, people, tmp_path, stored)
    tables["attendance"][5]["status"] = "迟到"  # row 7: the second chunk holds rows 5-7
    before = snapshot(db.engine)
    result = run_import(app, write_bundle(tmp_path / "bad", tables))
    assert [(e.table, e.row, e.column, e.value, e.origin) for e in result.errors] == [
        ("attendance", 7, "考勤状态", "迟到", "attendance.csv")]
    assert "考勤记录(attendance)（attendance.csv） 第7行 [考勤状态] 值「迟到」" in str(result.errors[0])
    assert snapshot(db.engine) == before


@pytest.mark.parametrize("stored", [False, True], ids=["empty-table", "staged"])
def test_a_key_given_again_in_a_later_chunk_names_both_rows(app, people, tmp_path, stored):
    tables = prepare(app, people, tmp_path, stored)
    tables["attendance"][8] = dict(tables["attendance"][1], status="请假")  # row 10 repeats row 3's day
    before = snapshot(db.engine)
    result = run_import(app, write_bundle(tmp_path / "dup", tables))
    assert [(e.table, e.row) for e in result.errors] == [("attendance", 10)]
    assert result.errors[0].reason == "与第3行的身份证号、岗位或车间编号、日期相同（重复记录）"
    assert snapshot(db.engine) == before


@pytest.mark.parametrize("stored", [False, True], ids=["empty-table", "staged"])
def test_a_cell_cleaned_mid_chunk_is_written_once(app, people, tmp_path, stored):
    """On SQLite the first chunk is written as it converts; the second (rows 5-7) holds a cell with
    a zero-width space in its middle row: what that chunk wrote before it is undone and the chunk
    converted again the careful way, which names the row. Every day is stored once."""
    tables = prepare(app, people, tmp_path, stored)
    tables["attendance"][4]["status"] = "出\u200b勤"  # row 6
    result = run_import(app, write_bundle(tmp_path / "b", tables))
    assert result.ok, [str(e) for e in result.errors]
    assert "考勤记录(attendance) 第 6 行：已删除不可见的控制字符" in result.warnings
    assert result.counts["attendance"].added == 10
    db.session.rollback()  # a fresh snapshot (``prepare`` counted in the session)
    assert count(Attendance) == 10 + stored
    row6 = db.select(Attendance.status).where(Attendance.work_date == dt.date(2025, 3, 7))
    assert db.session.scalars(row6).all() == ["出勤"]


def test_a_template_sample_row_mid_chunk_is_refused_by_its_row(app, people, tmp_path):
    tables = prepare(app, people, tmp_path, stored=False)
    tables["attendance"][7]["post_code"] = "示例GW-001"  # row 9, the middle of the third chunk
    result = run_import(app, write_bundle(tmp_path / "b", tables))
    assert [(e.table, e.row, e.column) for e in result.errors] == [("attendance", 9, "岗位或车间编号")]
    assert "第 9 行是模板示例行" in result.errors[0].reason
    assert count(Attendance) == 0


def test_a_person_given_twice_chunks_apart_names_both_rows(app, people, tmp_path):
    tables = base_tables(people)
    for i in range(5):  # rows 5-9
        tables["persons"].append({**tables["persons"][2], "id_number": people.id(f"1991-01-0{i + 1}"),
                                  "name": f"新人{i}"})
    tables["persons"].append(dict(tables["persons"][0], name="王大山（重复）"))  # row 10 repeats row 2
    result = run_import(app, write_bundle(tmp_path / "b", tables))
    assert [(e.table, e.row, e.column) for e in result.errors] == [("persons", 10, "身份证号")]
    assert "与第2行的身份证号相同" in result.errors[0].reason


@pytest.mark.parametrize("stored", [False, True], ids=["empty-table", "staged"])
def test_a_refusal_after_chunks_were_written_leaves_the_database_as_it_was(app, people, tmp_path, stored):
    tables = prepare(app, people, tmp_path, stored)
    stranger = people.id("1960-06-06", False)
    tables["attendance"][9]["id_number"] = stranger  # row 11, the fourth chunk: not in persons
    tables["wages"][1]["amount"] = "很多"  # and a later table refused too
    before = snapshot(db.engine)
    result = run_import(app, write_bundle(tmp_path / "bad", tables))
    assert [(e.table, e.row) for e in result.errors] == [("attendance", 11), ("wages", 3)]
    assert result.counts["attendance"].rows == 9  # three chunks were written, then taken back
    assert snapshot(db.engine) == before
    assert count(Attendance) == (1 if stored else 0)


def test_a_dry_run_of_many_chunks_writes_nothing_and_counts_everything(app, people, tmp_path):
    tables = prepare(app, people, tmp_path, stored=True)
    before = snapshot(db.engine)
    result = run_import(app, write_bundle(tmp_path / "b", tables), dry_run=True)
    assert result.ok and result.counts["attendance"].added == 10
    assert snapshot(db.engine) == before


def test_identical_wage_rows_chunks_apart_are_numbered_and_named(app, people, tmp_path):
    tables = base_tables(people)
    first = tables["wages"][0]
    for month in ("2025-02", "2025-03", "2025-04"):  # rows 4-6
        tables["wages"].append(dict(first, period=month, paid_on=f"{month}-10"))
    tables["wages"].append(dict(first))  # row 7 repeats row 2, in another chunk
    tables["wages"].append(dict(first, batch="补发"))  # row 8: same key, another batch: not identical
    path = write_bundle(tmp_path / "b", tables)
    result = run_import(app, path)
    assert result.ok, [str(e) for e in result.errors]
    twins = [w for w in result.warnings if "完全相同" in w]
    assert twins == ["工资发放(wages) 第7行与第2行完全相同：两行都已保留，审计时将按重复发放核查"]
    assert result.counts["wages"].added == 7 and count(Wage) == 7
    again = run_import(app, path)  # the copies are numbered alike: nothing new
    assert again.ok and again.counts["wages"].unchanged == 7 and count(Wage) == 7


def test_progress_is_reported_chunk_by_chunk(app, people, tmp_path):
    tables = prepare(app, people, tmp_path, stored=False)
    seen = []
    result = run_import(app, write_bundle(tmp_path / "b", tables),
                        on_progress=lambda label, n: seen.append((label, n)))
    assert result.ok
    assert [n for label, n in seen if label == "考勤记录(attendance)"] == [3, 6, 9, 10]  # the last too


def test_the_cli_shows_a_progress_bar_with_rows_per_second_when_asked(app, runner, people, tmp_path):
    path = write_bundle(tmp_path / "b", prepare(app, people, tmp_path, stored=False))
    quiet = runner.invoke("import", str(path), "--dry-run")  # not a terminal: no bar
    assert quiet.exit_code == 0 and "行/s" not in quiet.stderr
    shown = runner.invoke("import", str(path), "--progress")
    assert shown.exit_code == 0, shown.output
    assert "导入 考勤记录(attendance)" in shown.stderr and "行/s" in shown.stderr
    db.session.rollback()  # a fresh snapshot (``prepare`` counted in the session)
    assert "导入完成" in shown.stdout and count(Attendance) == 10
