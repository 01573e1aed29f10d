"""B10 (issue 13): a bundle with hundreds of duplicate keys is refused with one row error per
duplicate, naming both rows; never a database error."""
from __future__ import annotations

import copy

from audit.ledger.bundle import Limits
from audit.ledger.importer import import_bundle
from models import Attendance, Person, Post, db

from helpers import base_tables, count, write_bundle

N = 300


def run_import(app, path, **limits):
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"], actor="tester",
                         limits=Limits(**limits))


def test_hundreds_of_duplicate_keys_are_row_errors(app, people, tmp_path):
    tables = copy.deepcopy(base_tables(people))
    a = tables["persons"][0]["id_number"]
    tables["persons"] += [dict(tables["persons"][0], name=f"王大山{i}") for i in range(N)]
    tables["positions"] += [dict(tables["positions"][0], title=f"保洁员{i}") for i in range(N)]
    tables["workshops"] += [dict(tables["workshops"][0]) for _ in range(N)]
    tables["placements"] += [dict(tables["placements"][0]) for _ in range(N)]
    day = {"id_number": a, "post_code": "GW-001", "work_date": "2025-01-02", "status": "出勤"}
    tables["attendance"] += [dict(day) for _ in range(N)]
    tables["reports"] += [dict(tables["reports"][0]) for _ in range(N)]
    tables["deaths"] += [dict(tables["deaths"][0]) for _ in range(N)]
    tables["officials"] += [dict(tables["officials"][0]) for _ in range(N)]
    result = run_import(app, write_bundle(tmp_path / "dup", tables))

    assert not result.ok
    by_table: dict[str, list] = {}
    for e in result.errors:
        by_table.setdefault(e.table, []).append(e)
    for name, first in (("persons", 2), ("positions", 2), ("workshops", 2), ("placements", 2),
                        ("attendance", 2), ("reports", 2), ("deaths", 2), ("officials", 2)):
        dups = [e for e in by_table.get(name, []) if "重复记录" in e.reason]
        assert len(dups) == N, (name, len(dups), [str(e) for e in by_table.get(name, [])][:3])
        rows = sorted(e.row for e in dups)
        originals = len(base_tables(people)[name])
        assert rows == list(range(originals + 2, originals + 2 + N)), name
        assert all(f"与第{first}行" in e.reason for e in dups), name
    assert count(Person) == 0 and count(Post) == 0 and count(Attendance) == 0


def test_duplicates_against_an_empty_table_loaded_directly(app, people, tmp_path):
    """Attendance of an empty table goes straight in: its duplicates must still be row errors."""
    tables = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "base", {k: tables[k] for k in
                                                           ("persons", "positions", "placements",
                                                            "workshops")})).ok
    a, b = tables["persons"][0]["id_number"], tables["persons"][1]["id_number"]
    days = [{"id_number": p, "post_code": c, "work_date": f"2025-01-{d:02d}", "status": "出勤"}
            for d in range(1, 29) for p, c in ((a, "GW-001"), (b, "GW-002"))]
    dup = days * 6  # each day 6 times: 280 duplicates
    result = run_import(app, write_bundle(tmp_path / "att", {"attendance": dup}))
    dups = [e for e in result.errors if e.table == "attendance"]
    assert len(dups) == len(dup) - len(days)
    assert all("重复记录" in e.reason for e in dups)
    assert "与第2行" in next(e.reason for e in dups if e.row == 2 + len(days))
    assert count(Attendance) == 0


def test_more_duplicates_than_a_statement_may_carry_parameters(app, people, tmp_path):
    """66,000 copies of one attendance row: more than PostgreSQL's 65,535 bind parameters; each
    copy is still one row error naming row 2, and nothing is written."""
    tables = base_tables(people)
    a = tables["persons"][0]["id_number"]
    day = {"id_number": a, "post_code": "GW-001", "work_date": "2025-01-02", "status": "出勤"}
    tables["attendance"] = [dict(day) for _ in range(66_001)]
    bundle = write_bundle(tmp_path / "many", tables)
    result = run_import(app, bundle, max_errors=0)  # no cap on the errors kept: every copy counted
    dups = [e for e in result.errors if e.table == "attendance"]
    assert len(dups) == 66_000
    assert all(e.reason.startswith("与第2行") and "重复记录" in e.reason for e in dups)
    assert count(Attendance) == 0 and count(Person) == 0
    # with the default cap (IMPORT_MAX_ERRORS) the check keeps 10,000 of them and says it stopped
    result = run_import(app, bundle)
    assert len([e for e in result.errors if e.table == "attendance"]) == 10_000
    assert result.errors[0].reason.startswith("错误过多：已发现 10000 处错误，检查到此停止")
    assert count(Attendance) == 0 and count(Person) == 0
