"""Attendance kept as a monthly grid — 考勤表 (ledger-format.md, "Attendance kept as a monthly grid"):
a sheet of marks, a row per person, post and month, is the same attendance as the 考勤记录 rows it
stands for (手工登记, 未核验): stored alike, audited alike. Its errors name the sheet, the Excel row
and the day column, and say what to write instead."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
from sqlalchemy import select

from audit.engine.runner import run_audit
from audit.ledger.grid import MARKS_HELP
from audit.ledger.importer import import_bundle
from models import Attendance, Base, Person, Post, db

from helpers import County, brief, count, findings, snapshot, write_bundle

MARK = {"出勤": "√", "请假": "假", "缺勤": "×", "休息": "休"}
GRID_HEADER = ["身份证号", "岗位或车间编号", "月份", "姓名", *(f"{n}日" for n in range(1, 32))]
TITLE = "白帝村公益性岗位考勤表"


def _import(app, path, **kw):
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"], actor="tester", **kw)


def _wipe(engine) -> None:
    """Empty every table, as a fresh database is (the ``database_url`` fixture's way on PostgreSQL)."""
    names = [t.name for t in Base.metadata.sorted_tables]
    db.session.rollback()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in reversed(names):
                conn.exec_driver_sql(f"DELETE FROM {name}")
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def hand_kept(c: County) -> None:
    """The county's attendance as a village keeps it on paper: a status a day, no time, no device."""
    c.t["attendance"] = [{k: r[k] for k in ("id_number", "post_code", "work_date", "status")}
                         | {"method": "手工登记", "verified": "未核验"} for r in c.t["attendance"]]


def grid_rows(c: County, attendance: list[dict], blank: tuple = ()) -> list[list]:
    """The 考勤表 rows of these attendance rows: one per person, post and month, in the order first met,
    a mark in each day's column, blank for a day without a record; ``blank``: (ID, post, month) rows
    on the sheet without a mark."""
    grid: dict[tuple[str, str, str], dict[int, str]] = {}
    for r in attendance:
        day = dt.date.fromisoformat(r["work_date"])
        grid.setdefault((r["id_number"], r["post_code"], r["work_date"][:7]), {})[day.day] = MARK[r["status"]]
    for key in blank:
        grid.setdefault(key, {})
    return [[idn, post, month, c.names[idn], *(days.get(n) for n in range(1, 32))]
            for (idn, post, month), days in grid.items()]


def write_grid(path: Path, rows: list[list], *, sheet: str = "考勤表", title: bool = False,
               others: dict[str, list[dict]] | None = None) -> Path:
    """A workbook with the 考勤表 sheet (a title row above the header when ``title``), and sheets of
    other tables (``others``: table name -> rows, headers their keys) when the workbook is the bundle."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([TITLE])
    ws.append(GRID_HEADER)
    for r in rows:
        ws.append(r)
    for name, table in (others or {}).items():
        other = wb.create_sheet(name)
        keys = list(dict.fromkeys(k for r in table for k in r))
        other.append(keys)
        for r in table:
            other.append([r.get(k, "") for k in keys])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def grid_bundle(c: County, folder: Path, blank: tuple = ()) -> Path:
    """The county as CSV files, its attendance as 考勤表.xlsx instead of attendance.csv."""
    tables = {k: v for k, v in c.t.items() if v and k != "attendance"}
    write_bundle(folder, tables)
    write_grid(folder / "考勤表.xlsx", grid_rows(c, c.t["attendance"], blank), sheet="2025年1-3月")
    return folder


def stored_attendance(app) -> list[tuple]:
    db.session.rollback()
    pii = app.extensions["pii"]
    a = Attendance
    q = (select(Person.id_enc, Post.code, a.work_date, a.status, a.method, a.verified, a.check_in_time,
                a.device_id)
         .join(Person, Person.id == a.person_id).join(Post, Post.id == a.post_id))
    return sorted((pii.decrypt(enc), *rest) for enc, *rest in db.session.execute(q))


def county(people) -> tuple[County, dict[str, str]]:
    """Four people on two posts over January to March 2025, attendance kept by hand. Planted: 李小花
    paid in full for March with 10 days (the rest 缺勤); 赵空一 paid for February with no attendance at
    all; 钱请假 on leave (假) for a week of February, paid in full."""
    c = County(people)
    c.position("GW-1")
    c.position("GW-2", title="护林员", wage="900.00")
    a, b = c.person("王大山"), c.person("李小花", male=False)
    d, e = c.person("赵空一"), c.person("钱请假", male=False)
    for who, post in ((a, "GW-1"), (b, "GW-2"), (d, "GW-1"), (e, "GW-2")):
        c.place(who, post, "2025-01-01")
        c.month(who, post, "2025-01")
    c.month(a, "GW-1", "2025-02")
    c.month(a, "GW-1", "2025-03")
    c.month(b, "GW-2", "2025-02")
    c.work(b, "GW-2", "2025-03", present=10, other="缺勤")
    c.pay(b, "GW-2", "2025-03")
    c.pay(d, "GW-1", "2025-02")  # no attendance at all
    c.month(d, "GW-1", "2025-03")
    c.work(e, "GW-2", "2025-02", present=15, other="请假")
    c.pay(e, "GW-2", "2025-02")
    c.month(e, "GW-2", "2025-03")
    hand_kept(c)
    return c, dict(a=a, b=b, d=d, e=e)


def audited(app) -> list[tuple]:
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    return brief(findings(app))


# ---- 1. a 考勤表 is the attendance it stands for ---------------------------------------------------

def test_a_grid_stores_and_audits_exactly_as_the_attendance_rows_it_stands_for(app, people, tmp_path):
    c, who = county(people)
    as_csv = write_bundle(tmp_path / "csv", {k: v for k, v in c.t.items() if v})
    result = _import(app, as_csv)
    assert result.ok, [str(e) for e in result.errors[:5]]
    rows_csv = stored_attendance(app)
    found_csv = audited(app)

    _wipe(db.engine)
    assert count(Person) == 0 and count(Attendance) == 0
    # 赵空一's February on the sheet without a mark: a row of blanks is no record, as on paper
    as_grid = grid_bundle(c, tmp_path / "grid", blank=((who["d"], "GW-1", "2025-02"),))
    result = _import(app, as_grid)
    assert result.ok, [str(e) for e in result.errors[:5]]
    assert "attendance" not in result.counts
    assert result.counts["attendance_grid"].added == len(c.t["attendance"])
    rows_grid = stored_attendance(app)
    found_grid = audited(app)

    assert rows_grid == rows_csv and len(rows_grid) == len(c.t["attendance"])
    assert {r[4:] for r in rows_grid} == {("手工登记", "未核验", None, None)}
    assert {r[3] for r in rows_grid} == {"出勤", "请假", "缺勤", "休息"}
    assert found_grid == found_csv
    # and what they find is what was planted
    assert ("PS01", who["d"], "GW-1", ["2025-02"], "800.00") in found_grid
    assert any(f[:4] == ("PS02", who["b"], "GW-2", ["2025-03"]) for f in found_grid), found_grid
    assert not [f for f in found_grid if f[1] == who["a"]]


def test_a_grid_holding_the_attendance_of_a_replaced_month_is_what_stays(app, people, tmp_path):
    """A village corrects March by sending its 考勤表 again with a 替换范围 row: the days on the new
    sheet stay (as they would from 考勤记录), the days it no longer holds go."""
    c, who = county(people)
    assert _import(app, write_bundle(tmp_path / "csv", {k: v for k, v in c.t.items() if v})).ok
    march = [r for r in c.t["attendance"] if r["work_date"].startswith("2025-03")
             and not (r["id_number"] == who["b"] and r["status"] == "缺勤")]  # 李小花's 缺勤 days were wrong
    folder = tmp_path / "correction"
    write_bundle(folder,
                 {"replaces": [{"table": "attendance", "period_from": "2025-03", "district": "奉节县"}]})
    write_grid(folder / "考勤表.xlsx", grid_rows(c, march))
    before = stored_attendance(app)
    dropped = len([r for r in c.t["attendance"] if r["id_number"] == who["b"] and r["status"] == "缺勤"])

    dry = _import(app, folder, dry_run=True)
    assert dry.ok, [str(e) for e in dry.errors[:5]]
    assert dry.counts["attendance"].deleted == dropped
    result = _import(app, folder)
    assert result.ok and result.counts["attendance"].deleted == dropped
    after = stored_attendance(app)
    assert len(after) == len(before) - dropped
    assert set(after) == {r for r in before if not (r[0] == who["b"] and r[3] == "缺勤")}


# ---- 2. errors name the sheet, the row and the day ------------------------------------------------

def _loaded(app, people, tmp_path) -> tuple[County, dict[str, str]]:
    c, who = county(people)
    assert _import(app, write_bundle(tmp_path / "csv", {k: v for k, v in c.t.items() if v})).ok
    return c, who


def _refused(app, path) -> list:
    before = snapshot(db.engine)
    result = _import(app, path)
    assert not result.ok
    assert snapshot(db.engine) == before
    return result.errors


def _april(c: County, idn: str, post: str) -> list:
    """A clean April row: weekdays √, the rest 休."""
    days = [dt.date(2025, 4, n) for n in range(1, 31)]
    return [idn, post, "2025-04", c.names[idn], *(("√" if d.weekday() < 5 else "休") for d in days), None]


def test_an_unknown_mark_names_the_sheet_row_and_day_and_the_marks_to_use(app, people, tmp_path):
    c, who = _loaded(app, people, tmp_path)
    late = _april(c, who["b"], "GW-2")
    late[4 + 14] = "迟"  # 15日
    path = write_grid(tmp_path / "台账.xlsx", [_april(c, who["a"], "GW-1"), late], title=True)
    [e] = _refused(app, path)
    # row 1 the title, row 2 the header, row 3 王大山, row 4 李小花
    assert (e.table, e.row, e.column, e.value) == ("attendance_grid", 4, "15日", "迟")
    assert e.origin == "台账.xlsx「考勤表」"
    assert e.reason == f"考勤标记「迟」无法识别：{MARKS_HELP}"
    assert (str(e).startswith("考勤表") and "台账.xlsx「考勤表」" in str(e)
            and "第4行 [15日] 值「迟」" in str(e))
    assert "√" in str(e) and "假 = 请假" in str(e)


def test_a_mark_on_a_day_february_does_not_have(app, people, tmp_path):
    c, who = _loaded(app, people, tmp_path)
    row = [who["a"], "GW-1", "2025-02", c.names[who["a"]], *(["√"] * 30), None]  # 1日 … 30日 marked
    [e29, e30] = _refused(app, write_grid(tmp_path / "台账.xlsx", [row]))
    assert [(e.row, e.column, e.value) for e in (e29, e30)] == [(2, "29日", "√"), (2, "30日", "√")]
    assert e30.reason == "2025年2月只有28天，没有30日：请删去这一格"
    assert "第2行 [30日] 值「√」" in str(e30) and "台账.xlsx「考勤表」" in str(e30)


def test_a_name_not_the_persons_names_the_name_on_file(app, people, tmp_path):
    c, who = _loaded(app, people, tmp_path)
    row = _april(c, who["a"], "GW-1")
    row[3] = "王小山"
    [e] = _refused(app, write_grid(tmp_path / "台账.xlsx", [_april(c, who["b"], "GW-2"), row]))
    assert (e.row, e.column, e.value) == (3, "姓名", "王小山")
    assert e.reason == "与人员信息表中此身份证号的姓名「王大山」不符：请核对是否填错了人或身份证号"
    assert who["a"] not in str(e)


def test_a_day_also_in_the_bundles_attendance_table_is_refused_on_both_sides(app, people, tmp_path):
    c, who = _loaded(app, people, tmp_path)
    listed = [{"身份证号": who["a"], "岗位或车间编号": "GW-1", "日期": "2025-04-03", "考勤状态": "出勤"},
              {"身份证号": who["a"], "岗位或车间编号": "GW-1", "日期": "2025-04-15", "考勤状态": "请假"}]
    path = write_grid(tmp_path / "台账.xlsx", [_april(c, who["b"], "GW-2"), _april(c, who["a"], "GW-1")],
                      others={"考勤记录": listed})
    errors = _refused(app, path)
    assert [(e.table, e.row, e.column) for e in errors] == [("attendance_grid", 3, "3日"),
                                                          ("attendance_grid", 3, "15日")]
    assert (errors[0].reason
            == ("2025-04-03 的考勤在考勤记录表第2行也有：同一天只能在一张表中填写，请删去其中一处"))
    assert "第3行 [15日]" in str(errors[1]) and "考勤记录表第3行也有" in errors[1].reason


def test_a_day_in_both_tables_is_refused_in_an_empty_database_too(app, people, tmp_path):
    """The first bundle a village sends, its 考勤记录 and 考勤表 overlapping on a day."""
    c, who = county(people)
    folder = grid_bundle(c, tmp_path / "grid")
    first = next(r for r in c.t["attendance"] if r["id_number"] == who["a"])
    write_bundle(folder, {"attendance": [first]})
    errors = _refused(app, folder)
    assert [(e.table, e.row, e.column) for e in errors] == [("attendance_grid", 2, "1日")]
    assert "2025-01-01 的考勤在考勤记录表第2行也有" in errors[0].reason
    assert count(Attendance) == 0


# ---- 3. the command line --------------------------------------------------------------------------

def test_the_command_lines_dry_run_reports_the_attendance_a_grid_would_add(app, people, runner, tmp_path):
    c, who = _loaded(app, people, tmp_path)
    path = write_grid(tmp_path / "四月.xlsx", [_april(c, who["a"], "GW-1"), _april(c, who["b"], "GW-2")],
                      title=True)
    days = 2 * 30
    before = count(Attendance)
    out = runner.invoke("import", str(path), "--dry-run")
    assert out.exit_code == 0, out.output
    assert "试导入（未写入数据库）" in out.output
    line = next(x for x in out.output.splitlines() if x.startswith("考勤表(attendance_grid)"))
    assert line.split()[1:] == [str(days), str(days), "0", "0"]  # rows, to add, to change, unchanged
    db.session.rollback()
    assert count(Attendance) == before

    # a refused sheet: the command says where, and exits 1
    bad = _april(c, who["a"], "GW-1")
    bad[4 + 14] = "迟"
    out = runner.invoke("import", str(write_grid(tmp_path / "坏.xlsx", [bad])), "--dry-run")
    assert out.exit_code == 1
    assert ("共有 1 处错误" in out.output and "坏.xlsx「考勤表」" in out.output
            and "第2行 [15日] 值「迟」" in out.output)
