"""The importer's contract: all or nothing, every bad row named, idempotent, changes logged."""
from __future__ import annotations

import copy

from sqlalchemy import select

from models import Attendance, ChangeLog, ImportBatch, Person, Placement, Position, Post, Wage, db

from helpers import base_tables, count, run_import, snapshot, write_bundle


def errors_by(result):
    return {(e.table, e.row, e.column): e for e in result.errors}


def test_a_valid_bundle_loads_every_table(app, people, tmp_path):
    result = run_import(app, write_bundle(tmp_path / "b", base_tables(people)))
    assert result.ok, [str(e) for e in result.errors]
    assert {t: c.added for t, c in result.counts.items()} == {
        "persons": 3, "positions": 2, "placements": 2, "workshops": 1, "workshop_staff": 1, "attendance": 4,
        "wages": 2, "reports": 2, "deaths": 1, "officials": 1}
    wage = db.session.scalar(select(Position.monthly_wage_fen).join(Post, Post.id == Position.id)
                             .where(Post.code == "GW-002"))
    assert wage == 90000  # "900" yuan, exactly, in fen
    batch = db.session.scalars(select(ImportBatch)).one()
    assert (batch.actor == "tester" and batch.status == "committed"
            and batch.counts["attendance"]["added"] == 4)


def test_every_bad_row_is_reported_at_once_and_nothing_is_written(app, runner, people, tmp_path):
    good = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "good", good)).ok
    before = snapshot(db.engine)

    bad = copy.deepcopy(good)
    a = good["persons"][0]["id_number"]
    wrong_check = people.id("1966-06-06", False)
    wrong_check = wrong_check[:-1] + ("0" if wrong_check[-1] != "0" else "1")
    bad["persons"].append({**good["persons"][2], "id_number": wrong_check, "name": "错号"})  # row 5
    newcomer = people.id("1979-09-09", False)
    bad["persons"].append({**good["persons"][1], "id_number": newcomer, "categories": "贫困户"})  # row 6
    bad["placements"].append({"id_number": newcomer, "position_code": "GW-002", "start_date": "2025-03-01"})
    bad["placements"][0]["start_date"] = "2025-02-30"  # row 2: no such day
    bad["attendance"].append({"id_number": a, "post_code": "GW-999", "work_date": "2025-01-06",
                              "status": "出勤"})  # row 6: neither a position nor a workshop
    stranger = people.id("1988-08-08", True)
    bad["wages"].append({"id_number": stranger, "post_code": "GW-001", "period": "2025-01", "amount": "100",
                         "paid_on": "2025-02-10"})  # row 4: not in persons
    bad["reports"] = [{k: v for k, v in r.items() if k != "metric"} for r in bad["reports"]]  # no 指标 column
    path = write_bundle(tmp_path / "bad", bad)

    result = run_import(app, path)
    assert not result.ok
    errs = errors_by(result)
    assert "校验码错误" in errs[("persons", 5, "身份证号")].reason
    assert errs[("persons", 5, "身份证号")].value == wrong_check
    assert "人员类别「贫困户」不在规定的类别中" in errs[("persons", 6, "人员类别")].reason
    assert errs[("placements", 2, "上岗日期")].reason == "日期不存在"
    assert "既不是公益性岗位编号，也不是就业帮扶车间编号" in errs[("attendance", 6, "岗位或车间编号")].reason
    assert errs[("wages", 4, "身份证号")].reason == "此人不在人员信息表（persons）中"
    assert errs[("reports", 1, "指标")].reason.startswith("缺少必填列「指标」（metric）")
    # a row that points at a refused persons row says so, instead of "unknown person"
    assert "人员信息表中的那一行有错误" in errs[("placements", 4, "身份证号")].reason
    assert snapshot(db.engine) == before  # nothing written, not even an import batch

    cli = runner.invoke("import", str(path))
    assert cli.exit_code == 1
    assert "导入被拒绝" in cli.output and "数据库未做任何更改" in cli.output
    assert "人员信息(persons)（persons.csv） 第5行 [身份证号]" in cli.output
    assert snapshot(db.engine) == before


def test_reimporting_the_same_bundle_changes_nothing(app, people, tmp_path):
    path = write_bundle(tmp_path / "b", base_tables(people))
    assert run_import(app, path).ok
    records = ("import_batches", "change_log")
    before = {k: v for k, v in snapshot(db.engine).items() if k not in records}
    again = run_import(app, path)
    assert again.ok
    assert all(c.added == 0 and c.changed == 0 and c.unchanged == c.rows for c in again.counts.values())
    assert {k: v for k, v in snapshot(db.engine).items() if k not in records} == before
    assert (db.session.scalars(select(ImportBatch.status).order_by(ImportBatch.id))
            .all() == ["committed", "no_change"])
    # both imports are in the audit log, the first with what it added, the second as changing nothing
    logged = db.session.scalars(select(ChangeLog).order_by(ChangeLog.seq)).all()
    assert [(e.action, e.new["status"]) for e in logged] == [("import.commit", "committed"),
                                                            ("import.commit", "no_change")]
    assert (logged[0].new["added"]["persons"] == len(base_tables(people)["persons"])
            and logged[1].new["added"] == {})


def test_a_changed_row_is_updated_and_logged_with_old_and_new_values(app, people, tmp_path):
    tables = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "v1", tables)).ok
    tables["persons"][0]["bank_account"] = "6228480000000000999"
    tables["persons"][0]["categories"] = "脱贫人口;残疾人"
    tables["positions"][1]["monthly_wage"] = "950.50"
    tables["placements"][0]["end_date"] = "2025-06-30"
    tables["attendance"][1]["status"] = "缺勤"
    result = run_import(app, write_bundle(tmp_path / "v2", tables))
    assert result.ok
    assert {t: c.changed for t, c in result.counts.items() if c.changed} == {
        "persons": 1, "positions": 1, "placements": 1, "attendance": 1}
    assert result.counts["attendance"].unchanged == 3

    logs = {log.table_name: log
            for log in db.session.scalars(select(ChangeLog).where(ChangeLog.action == "import.update"))}
    assert set(logs) == {"persons", "positions", "placements", "attendance"}
    person = logs["persons"]
    assert (person.actor == "tester" and person.action == "import.update"
            and person.batch_id == result.batch_id)
    assert (person.old["bank_masked"] == "6228***********0011"
            and person.new["bank_masked"] == "6228***********0999")
    assert person.new["categories"] == "脱贫人口;残疾人" and person.old["categories"] == "脱贫人口"
    assert (logs["positions"].old == {"monthly_wage": "900.00"}
            and logs["positions"].new == {"monthly_wage": "950.50"})
    assert logs["positions"].row_ref == "GW-002"
    assert logs["attendance"].old == {"status": "请假"} and logs["attendance"].new == {"status": "缺勤"}
    assert logs["attendance"].row_ref.endswith("/ GW-001 / 2025-01-03")
    assert (db.session.scalar(select(Placement.end_date).where(Placement.end_date.is_not(None)))
            .isoformat() == "2025-06-30")


def test_identical_wage_rows_are_kept_as_evidence_and_reported(app, people, tmp_path):
    tables = base_tables(people)
    tables["wages"].append(dict(tables["wages"][0]))  # paid twice: row 4 repeats row 2
    path = write_bundle(tmp_path / "b", tables)
    result = run_import(app, path)
    assert result.ok
    assert result.counts["wages"].added == 3
    assert any("第4行与第2行完全相同" in w for w in result.warnings)
    assert count(Wage) == 3
    assert run_import(app, path).counts["wages"].unchanged == 3  # and re-import still adds nothing
    assert count(Wage) == 3


def test_a_code_that_is_both_a_position_and_a_workshop_is_refused(app, people, tmp_path):
    tables = base_tables(people)
    tables["workshops"].append({**tables["workshops"][0], "workshop_code": "GW-001", "name": "重号车间"})
    result = run_import(app, write_bundle(tmp_path / "b", tables))
    assert not result.ok
    err = errors_by(result)[("workshops", 3, "车间编号")]
    assert err.value == "GW-001" and "岗位编号和车间编号不能重复" in err.reason
    assert count(Person) == 0


def test_duplicate_keys_within_a_table_are_errors_naming_both_rows(app, people, tmp_path):
    tables = base_tables(people)
    tables["attendance"].append(dict(tables["attendance"][0], status="缺勤"))  # row 6 repeats row 2's key
    result = run_import(app, write_bundle(tmp_path / "b", tables))
    assert not result.ok
    [err] = result.errors
    assert (err.table, err.row) == ("attendance", 6) and "与第2行" in err.reason and "重复记录" in err.reason
    assert count(Attendance) == 0


def test_required_tables_are_needed_only_until_the_database_has_them(app, people, tmp_path):
    tables = base_tables(people)
    only_deaths = write_bundle(tmp_path / "deaths", {"deaths": tables["deaths"]})
    result = run_import(app, only_deaths)
    assert not result.ok
    assert {e.table for e in result.errors} == {"persons", "positions", "placements"}
    assert all("缺少必需的表" in e.reason for e in result.errors)
    assert run_import(app, write_bundle(tmp_path / "full", tables)).ok
    later = run_import(app, write_bundle(tmp_path / "more", {"deaths": [
        {"id_number": people.id("1950-01-01", True), "death_date": "2025-04-01"}]}))
    assert later.ok and later.counts["deaths"].added == 1


def test_import_command_prints_the_counts(runner, people, tmp_path):
    path = write_bundle(tmp_path / "b", base_tables(people))
    dry = runner.invoke("import", str(path), "--dry-run")
    assert dry.exit_code == 0 and "试导入（未写入数据库）" in dry.output
    assert count(Person) == 0
    done = runner.invoke("import", str(path))
    assert done.exit_code == 0, done.output
    assert "导入完成" in done.output
    line = next(x for x in done.output.splitlines() if x.startswith("考勤记录(attendance)"))
    assert line.split()[1:] == ["4", "4", "0", "0"]


def test_a_value_under_no_header_is_an_error_not_dropped(app, people, tmp_path):
    import openpyxl

    rows = base_tables(people)["persons"]
    keys = list(rows[0])
    cases = (("middle", keys[:2] + [None] + keys[2:], 2, "第3列", "该列没有表头，但此行在该列有内容"),
             # as in a CSV
             ("right", keys + [None], len(keys), f"第{len(keys) + 1}列以后", "该行的列数多于表头"))
    for case, header, extra_at, column, reason in cases:
        folder = tmp_path / case
        folder.mkdir()
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(header)
        for i, r in enumerate(rows):
            cells = [r[k] for k in keys]
            cells.insert(extra_at, "备注：此人已外出务工" if i == 1 else None)
            ws.append(cells)
        wb.save(folder / "persons.xlsx")
        before = snapshot(db.engine)
        result = run_import(app, folder)
        assert not result.ok, case
        assert [(e.table, e.row, e.column, e.reason) for e in result.errors if e.table == "persons"] == [
            ("persons", 3, column, reason)], case
        assert snapshot(db.engine) == before


def test_a_dry_run_names_every_changed_field_with_old_and_new_values(app, people, tmp_path):
    tables = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "v1", tables)).ok
    wang = db.session.scalar(select(Person.id_masked).where(Person.name == "王大山"))
    tables["persons"][0]["bank_account"] = "6228480000000000999"
    tables["persons"][0]["categories"] = "脱贫人口;残疾人"
    tables["positions"][1]["monthly_wage"] = "950.50"
    tables["attendance"][1]["status"] = "缺勤"
    before = snapshot(db.engine)
    result = run_import(app, write_bundle(tmp_path / "v2", tables), dry_run=True)
    assert result.ok and snapshot(db.engine) == before
    changes = result.changes
    assert changes["positions"] == {"rows": [{"ref": "GW-002 护林员",
                                              "fields": [["月补贴标准", "900.00 元", "950.50 元"]]}],
                                    "more": 0}
    person = changes["persons"]["rows"][0]
    assert person["ref"] == f"王大山（{wang}）"
    assert ["人员类别", "脱贫人口", "脱贫人口;残疾人"] in person["fields"]
    assert ["银行账号", "6228***********0011", "6228***********0999"] in person["fields"]
    assert changes["attendance"]["rows"] == [{"ref": f"王大山（{wang}） / GW-001 / 2025-01-03",
                                              "fields": [["考勤状态", "请假", "缺勤"]]}]
    assert "placements" not in changes and "wages" not in changes  # nothing of theirs changes
    text = repr(changes)
    assert tables["persons"][0]["id_number"] not in text and "6228480000000000999" not in text


def test_the_changed_rows_shown_are_capped_with_a_count_of_the_rest(app, people, tmp_path, monkeypatch):
    from audit.ledger import merges

    tables = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "v1", tables)).ok
    for row in tables["attendance"]:
        row["status"] = "休息"
    monkeypatch.setattr(merges, "CHANGES_SHOWN", 2)
    result = run_import(app, write_bundle(tmp_path / "v2", tables), dry_run=True)
    assert result.counts["attendance"].changed == 4
    assert len(result.changes["attendance"]["rows"]) == 2 and result.changes["attendance"]["more"] == 2


def test_the_command_lines_dry_run_prints_the_fields_that_change(app, people, runner, tmp_path):
    tables = base_tables(people)
    assert run_import(app, write_bundle(tmp_path / "v1", tables)).ok
    tables["positions"][1]["monthly_wage"] = "950.50"
    out = runner.invoke("import", str(write_bundle(tmp_path / "v2", tables)), "--dry-run")
    assert out.exit_code == 0, out.output
    assert "公益性岗位(positions)将更新：" in out.output
    assert "GW-002 护林员：月补贴标准（900.00 元 → 950.50 元）" in out.output
