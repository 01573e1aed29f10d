"""考勤填报: operators enter a month of attendance for their own units (the grid or its sheet); it is
checked, stored and audited at once. Each test asserts what the operator sees."""
from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from audit.ledger.grid import MARKS_HELP
from models import Attendance, ChangeLog, Finding, Person, Placement, db

from helpers import write_bundle
from web_helpers import BAIDI, GUIJING, QUCHI, login, post

APRIL = dt.date(2025, 4, 1)
AS_OF = "2025-06-30"


@pytest.fixture(autouse=True)
def _as_of(app):
    app.config["AUDIT_AS_OF"] = AS_OF  # the audit after a submission replays this date


def weekdays(month: dt.date) -> list[dt.date]:
    out, d = [], month
    while d.month == month.month:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def text(resp) -> str:
    return resp.get_data(as_text=True)


def selected(page: str, pid: int, post_id: int, day: int) -> str | None:
    """The status a cell of the grid shows ("" when blank); None when the cell cannot be filled."""
    m = re.search(rf'<select name="c-{pid}-{post_id}-{day}"[^>]*>(.*?)</select>', page, re.S)
    if m is None:
        return None
    chosen = re.search(r'<option value="([^"]*)" selected>', m.group(1))
    return chosen.group(1) if chosen else ""


def masked(name: str) -> str:
    return db.session.scalar(select(Person.id_masked).where(Person.name == name))


def rows_of(web, name: str, post_code: str, month: dt.date) -> dict[dt.date, tuple[str, str, str]]:
    db.session.rollback()
    q = select(Attendance.work_date, Attendance.status, Attendance.method, Attendance.verified).where(
        Attendance.person_id == web.person_id[name], Attendance.post_id == web.post_id[post_code],
        Attendance.work_month == month)
    return {r.work_date: (r.status, r.method, r.verified) for r in db.session.execute(q)}


def attendance_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Attendance))


def cells(web, name: str, post_code: str, days: list[dt.date], status: str = "出勤") -> dict[str, str]:
    pid, post_id = web.person_id[name], web.post_id[post_code]
    return {f"c-{pid}-{post_id}-{d.day}": status for d in days}


def bd_grid(month: str = "2025-04") -> dict[str, str]:
    return {"kind": "employer", "unit": BAIDI, "month": month}


def grid_url(month: str = "2025-04") -> str:
    return f"/attendance/grid?kind=employer&unit={BAIDI}&month={month}"


def unit_findings_of(month: str) -> list[Finding]:
    db.session.rollback()
    return [f for f in db.session.scalars(select(Finding).where(Finding.unit == BAIDI))
            if month in f.periods]


def sheet(client, month: str = "2025-04"):
    resp = client.get(f"/attendance/sheet.xlsx?kind=employer&unit={BAIDI}&month={month}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(resp.data))


def upload(client, wb_or_bytes, name: str = "考勤.xlsx", month: str = "2025-04"):
    if isinstance(wb_or_bytes, bytes):
        data = wb_or_bytes
    else:
        buf = io.BytesIO()
        wb_or_bytes.save(buf)
        data = buf.getvalue()
    return post(client, "/attendance/upload", {**bd_grid(month), "file": (io.BytesIO(data), name)},
                content_type="multipart/form-data", follow_redirects=True)


# ---- the operator's units ------------------------------------------------------------------------

def test_index_lists_own_units_with_posts_and_months(web, client, app):
    login(client, "operator_bd")
    page = text(client.get("/attendance/"))
    assert "白帝村村民委员会" in page
    assert "GW-A1" in page and "GW-A2" in page
    assert "2025年02月" in page and "2025年03月" in page  # months with attendance
    assert 'href="/attendance/grid?kind=employer&amp;unit=' in page
    assert "曲尺村村民委员会" not in page and "GW-B1" not in page and "GW-A3" not in page

    other = app.test_client()
    login(other, "operator_ws")  # two units: an employer and a workshop
    page = text(other.get("/attendance/"))
    assert "曲尺村村民委员会" in page and "GW-B1" in page and "曲尺村帮扶车间（CJ-B1）" in page
    assert "白帝村村民委员会" not in page


def test_grid_is_people_by_days_prefilled(web, client):
    login(client, "operator_bd")
    resp = client.get(grid_url("2025-03"))
    assert resp.status_code == 200
    page = text(resp)
    assert "王大山" in page and masked("王大山") in page and "李小花" in page and "GW-A1" in page
    assert len(re.findall(r'<th scope="col" class="(?:we)?">', page)) == 31  # one column per day of March
    assert page.count('class="we"') == 10  # March 2025 has 10 weekend days
    # 王大山 worked the first 10 weekdays of March on GW-A1, checked in by face: those cells show
    # 出勤 and are closed (a machine's record is evidence); his other days are open and pre-filled
    pid, post_id = web.person_id["王大山"], web.post_id["GW-A1"]
    assert selected(page, pid, post_id, 3) is None and selected(page, pid, post_id, 31) == "休息"
    assert re.search(r'title="2025-03-03 人脸识别签到记录，不能手工修改[^"]*"><select disabled[^>]*><option>出勤<', page)
    assert "工作日出勤" in page and f'name="fill" value="{pid}-{post_id}"' in page
    assert "全部人员工作日填“出勤”" in page and 'formaction="/attendance/grid/fill"' in page
    assert "空白格表示不修改" in page


def test_workshop_operator_sees_the_workshop_staff(web, client):
    login(client, "operator_cj")
    page = text(client.get("/attendance/grid?kind=workshop&unit=CJ-A1&month=2025-04"))
    assert "CJ-A1" in page and "陈工" in page and masked("陈工") in page
    assert "王大山" not in page
    data = {"kind": "workshop", "unit": "CJ-A1", "month": "2025-04",
            **cells(web, "陈工", "CJ-A1", [dt.date(2025, 4, 1), dt.date(2025, 4, 2)], "请假")}
    page = text(post(client, "/attendance/grid", data, follow_redirects=True))
    assert "已保存 2 条考勤，审计已完成" in page and "本单位 2025年04月 的审计发现" in page
    assert {s for s, _, _ in rows_of(web, "陈工", "CJ-A1", APRIL).values()} == {"请假"}


# ---- submitting the grid -----------------------------------------------------------------------

def test_twenty_days_are_stored_logged_and_audited(web, client):
    login(client, "operator_bd")
    days = weekdays(APRIL)[:20]
    data = {**bd_grid(), **cells(web, "王大山", "GW-A1", days)}
    resp = post(client, "/attendance/grid", data, follow_redirects=True)
    assert resp.status_code == 200
    page = text(resp)
    assert "已保存 20 条考勤，审计已完成" in page

    stored = rows_of(web, "王大山", "GW-A1", APRIL)
    assert sorted(stored) == days
    assert set(stored.values()) == {("出勤", "手工登记", "未核验")}
    assert db.session.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.work_month == APRIL, Attendance.work_date == days[0])) == 1

    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "attendance.submit")).all()
    assert len(log) == 1 and log[0].actor == "operator_bd"
    assert log[0].new["inserted"] == 20 and log[0].new["updated"] == 0
    assert log[0].new["changes"][0] == {"person": f"王大山（{masked('王大山')}）", "post": "GW-A1",
                                        "date": "2025-04-01", "old": None, "new": "出勤"}

    # the page lists the unit's findings of April (as the audit just left them), or says there are none
    assert "本单位 2025年04月 的审计发现" in page
    found = unit_findings_of("2025-04")
    if found:
        for f in found:
            assert f.rule in page and f"/findings/{f.id}" in page
    else:
        assert "本单位本月暂无审计发现" in page
    # the grid now shows what was saved, and the submission is on the start page
    pid, post_id = web.person_id["王大山"], web.post_id["GW-A1"]
    assert selected(page, pid, post_id, 1) == "出勤" and selected(page, pid, post_id, 30) == ""
    start = text(client.get("/attendance/"))
    assert "最近的提交" in start and "operator_bd" in start and "网页填报" in start


def test_a_day_outside_the_holding_is_refused_and_nothing_written(web, client):
    # 李小花 also takes GW-A1 from 16 April: before that she does not hold it
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 4, 16)))
    db.session.commit()
    login(client, "operator_bd")
    page = text(client.get(grid_url()))
    li, gw = web.person_id["李小花"], web.post_id["GW-A1"]
    assert f'name="c-{li}-{gw}-16"' in page and f'name="c-{li}-{gw}-15"' not in page
    assert len(re.findall(r'<td class="off[^"]*" title="2025-04-\d\d 不在岗', page)) == 15

    before = attendance_count()
    data = {**bd_grid(), **cells(web, "王大山", "GW-A1", weekdays(APRIL)[:5]),
            **cells(web, "李小花", "GW-A1", [dt.date(2025, 4, 10), dt.date(2025, 4, 16)])}
    resp = post(client, "/attendance/grid", data)
    assert resp.status_code == 422
    page = text(resp)
    assert "本次提交未保存任何数据" in page
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A1 · 2025-04-10：该日不在岗（在岗期间：2025-04-16 至 今），"
            "不能登记考勤。") in page
    assert "2025-04-16：" not in page  # that day is fine
    assert attendance_count() == before
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "attendance.submit")) == 0
    # what the operator typed is still there, and the bad cell is marked
    wang = web.person_id["王大山"]
    assert selected(page, wang, gw, 1) == "出勤" and selected(page, li, gw, 16) == "出勤"
    assert re.search(r'<td class="off bad" title="2025-04-10 不在岗', page)


def test_bad_status_a_day_beyond_the_month_and_a_stranger_are_refused(web, client):
    login(client, "operator_bd")
    wang, gw1, gw3 = web.person_id["王大山"], web.post_id["GW-A1"], web.post_id["GW-A3"]
    before = attendance_count()
    resp = post(client, "/attendance/grid", {
        **bd_grid(), f"c-{wang}-{gw1}-2": "到岗", f"c-{wang}-{gw1}-31": "出勤", f"c-{wang}-{gw1}-3": "出勤",
        f"c-{web.person_id['张三']}-{gw3}-2": "出勤", f"c-{wang}-{gw1}-03": "请假"})
    assert resp.status_code == 422
    page = text(resp)
    who = f"王大山（{masked('王大山')}） · 岗位 GW-A1"
    assert f"{who} · 2025-04-02：「到岗」不是有效的考勤状态" in page
    assert f"{who} · 第 31 日：不在 2025年04月 内（该月共 30 天）" in page
    assert "不属于白帝镇白帝村村民委员会" in page  # GW-A3 is another unit's post; 张三 is not named
    assert "张三" not in page
    assert f"{who} · 2025-04-03：同一天提交了多次" in page
    assert "有 4 处问题" in page
    assert attendance_count() == before


def test_a_day_after_the_as_of_date_is_closed(web, client, app):
    app.config["AUDIT_AS_OF"] = "2025-04-10"
    login(client, "operator_bd")
    wang, gw1 = web.person_id["王大山"], web.post_id["GW-A1"]
    page = text(client.get(grid_url()))
    assert f'name="c-{wang}-{gw1}-10"' in page and f'name="c-{wang}-{gw1}-11"' not in page
    resp = post(client, "/attendance/grid", {**bd_grid(), f"c-{wang}-{gw1}-11": "出勤"})
    assert resp.status_code == 422
    assert "2025-04-11：日期晚于审计基准日 2025-04-10，不能预先登记考勤" in text(resp)


def test_entering_the_paid_month_resolves_the_phantom_salary(web, client):
    """王大山 was paid for February 2025 on GW-A1 with every day 缺勤 (PS01). Entering the month's
    weekdays as 出勤 makes the finding go away at the audit that follows."""
    login(client, "operator_bd")
    page = text(client.get(grid_url("2025-02")))
    assert "PS01" in page and "待复核" in page
    feb = dt.date(2025, 2, 1)
    assert set(s for s, _, _ in rows_of(web, "王大山", "GW-A1", feb).values()) == {"缺勤"}

    data = {**bd_grid("2025-02"), **cells(web, "王大山", "GW-A1", weekdays(feb))}
    resp = post(client, "/attendance/grid", data, follow_redirects=True)
    page = text(resp)
    assert "已保存 20 条考勤，审计已完成（新增 0 条、修改 20 条" in page
    assert "本单位 2025年02月没有待处理的审计发现" in page
    ps01 = [f for f in unit_findings_of("2025-02") if f.rule == "PS01" and f.person_id == web.person_id["王大山"]]
    assert [f.status for f in ps01] == ["resolved"]
    row = re.search(r'<li class="att-finding">\s*<div class="att-f-head">\s*<span class="badge badge-high">PS01</span>.*?</li>',
                    page, re.S).group(0)
    assert "数据已消除" in row and f"/findings/{ps01[0].id}" in row
    stored = rows_of(web, "王大山", "GW-A1", feb)
    assert sum(1 for s, m, v in stored.values() if (s, m, v) == ("出勤", "手工登记", "未核验")) == 20
    assert sum(1 for s, _, _ in stored.values() if s == "缺勤") == 8  # weekends left as they were
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "attendance.submit")).one()
    assert log.new["updated"] == 20 and log.old["cells"][0]["old"] == "缺勤"


def test_resubmitting_the_same_month_changes_nothing(web, client):
    login(client, "operator_bd")
    data = {**bd_grid("2025-03"), **cells(web, "王大山", "GW-A1", weekdays(dt.date(2025, 3, 1))[:10])}
    page = text(post(client, "/attendance/grid", data, follow_redirects=True))
    assert "没有改动" in page
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "attendance.submit")) == 0


# ---- filling the working days --------------------------------------------------------------------

def form_of(page: str) -> dict[str, str]:
    """What the browser sends with the grid's form: every open cell with the value it shows."""
    out = {}
    for name, body in re.findall(r'<select name="(c-[\d-]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        out[name] = chosen.group(1) if chosen else ""
    return out


def skipped_lines(page: str) -> list[str]:
    m = re.search(r'<ul class="att-skipped">(.*?)</ul>', page, re.S)
    return [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>(.*?)</li>", m.group(1), re.S)] if m else []


def load_more(app, tmp_path, tables: dict) -> None:
    """Import a few more ledger rows (the deaths list, a wage) as an auditor would."""
    from audit.ledger.importer import import_bundle

    result = import_bundle(write_bundle(tmp_path / "more", tables), engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors]


@pytest.fixture
def li_died(web, app, tmp_path):
    """李小花 (GW-A2 of 白帝村) is on the deaths list: she died on Friday 11 April 2025; April was paid."""
    load_more(app, tmp_path, {
        "deaths": [{"id_number": web.ids["李小花"], "death_date": "2025-04-11"}],
        "wages": [{"id_number": web.ids["李小花"], "post_code": "GW-A2", "period": "2025-04", "amount": "800.00",
                   "paid_on": "2025-05-10"}]})
    return dt.date(2025, 4, 11)


def findings_of(web, name: str, month: str) -> list[str]:
    db.session.rollback()
    return [f.rule for f in db.session.scalars(select(Finding).where(
        Finding.person_id == web.person_id[name], Finding.status.in_(("open", "confirmed"))))
        if month in f.periods]


def test_fill_all_skips_the_dead_and_says_so_then_the_audit_finds_nothing(web, client, li_died):
    login(client, "operator_bd")
    page = text(client.get(grid_url()))
    li, gw2 = web.person_id["李小花"], web.post_id["GW-A2"]
    wang, gw1 = web.person_id["王大山"], web.post_id["GW-A1"]
    assert "此人已于 2025-04-11 死亡" in page  # the cells after the death say so

    before = attendance_count()
    resp = post(client, "/attendance/grid/fill", {**bd_grid(), **form_of(page), "fill": "all"})
    assert resp.status_code == 200
    page = text(resp)
    assert attendance_count() == before  # nothing saved yet
    assert "尚未保存" in page
    lines = skipped_lines(page)
    assert f"李小花（{masked('李小花')}） · 岗位 GW-A2：4 月 11 日死亡（死亡名单），4 月 14 日起未填" in lines
    assert not [x for x in lines if "王大山" in x]
    april = weekdays(APRIL)
    assert all(selected(page, wang, gw1, d.day) == "出勤" for d in april)
    assert all(selected(page, li, gw2, d.day) == ("出勤" if d <= li_died else "") for d in april)
    assert all(selected(page, wang, gw1, d) == "" for d in (5, 6, 12, 13))  # weekends stay blank

    # the operator saves what the fill left, and the audit that follows finds nothing on her
    page = text(post(client, "/attendance/grid", {**bd_grid(), **form_of(page)}, follow_redirects=True))
    assert "审计已完成" in page
    stored = rows_of(web, "李小花", "GW-A2", APRIL)
    assert sorted(stored) == [d for d in april if d <= li_died]
    # no PS01 (paid, no present day) and no IM05 (present after death); the full month's pay for
    # nine days of work remains a PS02 (paid more than due), as it should
    assert not {"PS01", "IM05"} & set(findings_of(web, "李小花", "2025-04"))


def test_fill_never_overwrites_and_names_days_off_the_post(web, client):
    # 李小花 also takes GW-A1 from 16 April; 王大山 has typed 请假 on the 2nd (not saved yet)
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 4, 16)))
    db.session.commit()
    login(client, "operator_bd")
    li, gw1, gw2 = web.person_id["李小花"], web.post_id["GW-A1"], web.post_id["GW-A2"]
    wang = web.person_id["王大山"]
    form = form_of(text(client.get(grid_url())))
    form[f"c-{wang}-{gw1}-2"] = "请假"
    page = text(post(client, "/attendance/grid/fill", {**bd_grid(), **form, "fill": "all"}))
    lines = skipped_lines(page)
    assert f"王大山（{masked('王大山')}） · 岗位 GW-A1：已登记请假 1 天，未覆盖" in lines
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A1：4 月 1 日至 15 日未在岗"
            "（在岗期间：2025-04-16 至 今）") in lines
    assert selected(page, wang, gw1, 2) == "请假" and selected(page, wang, gw1, 3) == "出勤"
    assert selected(page, li, gw1, 15) is None and selected(page, li, gw1, 16) == "出勤"

    # one row's button fills that row only
    page = text(post(client, "/attendance/grid/fill", {**bd_grid(), **form, "fill": f"{li}-{gw2}"}))
    assert selected(page, li, gw2, 1) == "出勤" and selected(page, wang, gw1, 1) == ""
    assert f"已把 {len(weekdays(APRIL))} 个空白工作日填为“出勤”" in page


def test_a_present_day_after_death_is_refused_by_the_server(web, client, li_died):
    login(client, "operator_bd")
    li, gw2 = web.person_id["李小花"], web.post_id["GW-A2"]
    before = attendance_count()
    resp = post(client, "/attendance/grid", {**bd_grid(), f"c-{li}-{gw2}-11": "出勤", f"c-{li}-{gw2}-14": "出勤"})
    assert resp.status_code == 422
    page = text(resp)
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A2 · 2025-04-14：此人已于 2025-04-11 死亡（民政/公安死亡名单），"
            "死亡之后不能登记出勤") in page
    assert "2025-04-11：" not in page  # the day of death itself may be a working day
    assert attendance_count() == before
    # absence after the death may be recorded (it corrects a wrong 出勤)
    page = text(post(client, "/attendance/grid", {**bd_grid(), f"c-{li}-{gw2}-14": "缺勤"}, follow_redirects=True))
    assert "已保存 1 条考勤" in page


# ---- the sheet -------------------------------------------------------------------------------------

def test_the_downloaded_sheet_uploaded_back_with_changes_is_stored(web, client):
    login(client, "operator_bd")
    wb = sheet(client, "2025-03")
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "attendance.sheet", ChangeLog.actor == "operator_bd")) == 1  # the download is logged
    ws = wb.active
    assert [c.value for c in ws[2]][:6] == ["身份证号", "岗位或车间编号", "月份", "姓名", "1日", "2日"]
    assert ws.max_column == 4 + 31 and ws.cell(row=2, column=4 + 31).value == "31日"
    wang = next(r for r in ws.iter_rows(min_row=3) if r[3].value == "王大山")
    assert wang[0].value == masked("王大山") and wang[1].value == "GW-A1" and wang[2].value == "2025-03"
    assert wang[4 + 2].value == "√" and wang[4 + 30].value == "休"  # pre-filled with marks (the 3rd, the 31st)
    # 王大山 did 10 days in March: the operator corrects the 17th-21st to √ and 24th to 假
    for day in (17, 18, 19, 20, 21):
        wang[3 + day].value = "√"
    wang[3 + 24].value = "假"
    page = text(upload(client, wb, month="2025-03"))
    assert "已保存 6 条考勤，审计已完成（新增 0 条、修改 6 条" in page
    stored = rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1))
    assert stored[dt.date(2025, 3, 17)] == ("出勤", "手工登记", "未核验")
    assert stored[dt.date(2025, 3, 24)][0] == "请假"
    assert sum(1 for s, _, _ in stored.values() if s == "出勤") == 15
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "attendance.submit")).one()
    assert log.new["source"] == "上传表格：考勤.xlsx" and log.new["updated"] == 6


def test_a_csv_in_gb18030_is_read(web, client):
    login(client, "operator_bd")
    head = "岗位编号,姓名,身份证号(脱敏)," + ",".join(str(d) for d in range(1, 31))
    line = f"GW-A2,李小花,{masked('李小花')},出勤,出勤" + "," * 28
    page = text(upload(client, (head + "\r\n" + line + "\r\n").encode("gb18030"), "考勤.csv"))
    assert "已保存 2 条考勤，审计已完成" in page
    assert sorted(rows_of(web, "李小花", "GW-A2", APRIL)) == [dt.date(2025, 4, 1), dt.date(2025, 4, 2)]


def test_a_doubled_row_in_the_sheet_is_refused(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    wang = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[3] == "王大山")
    first = next(i for i, r in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1) if r[3] == "王大山")
    ws.append(list(wang[:4]) + ["√"] * 2)
    ws.cell(row=first, column=5).value = "√"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert f"第 {ws.max_row} 行与第 {first} 行重复：同一人员、同一岗位（王大山（{masked('王大山')}） · 岗位 GW-A1）" in page
    assert "未写入任何数据" in page
    assert attendance_count() == before


def test_sheet_errors_name_the_row_and_column(web, client):
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 4, 16)))
    db.session.commit()
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    ws.cell(row=2, column=4 + 31).value = "31日"  # a 31st of April, in column AI
    rows = {r[3].value + r[1].value: r[0].row for r in ws.iter_rows(min_row=3)}
    ws.cell(row=rows["王大山GW-A1"], column=4 + 31).value = "√"  # AI: the 31st
    ws.cell(row=rows["王大山GW-A1"], column=4 + 2).value = "上班"  # F: the 2nd
    ws.cell(row=rows["李小花GW-A1"], column=4 + 1).value = "√"  # E: the 1st, before she took the post
    ws.append(["500236********0000", "GW-A1", "2025-04", "赵某", "√"])
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    wang, li = f"王大山（{masked('王大山')}） · 岗位 GW-A1", f"李小花（{masked('李小花')}） · 岗位 GW-A1"
    assert (f"第 {rows['王大山GW-A1']} 行「31日」（AI 列，{wang}）：日期「31」不在 2025年04月 内（该月共 30 天），"
            "不能填写考勤：请把这一格留空。") in page
    assert (f"第 {rows['王大山GW-A1']} 行「2日」（F 列，2025-04-02，{wang}）：考勤标记「上班」无法识别："
            f"{MARKS_HELP}。") in page
    assert (f"第 {rows['李小花GW-A1']} 行「1日」（E 列，2025-04-01，{li}）：该日不在岗（在岗期间：2025-04-16 至 今），"
            "不能登记考勤：请把这一格留空。") in page
    assert f"第 {ws.max_row} 行：岗位「GW-A1」、姓名「赵某」" in page and "不在白帝镇白帝村村民委员会 2025年04月的在岗名单中" in page
    assert attendance_count() == before


def sheet_row(ws, name: str, post_code: str) -> int:
    return next(r[0].row for r in ws.iter_rows(min_row=3) if r[3].value == name and r[1].value == post_code)


def day_col(day: int) -> int:
    """The column of a day in the downloaded sheet (身份证号, 岗位或车间编号, 月份, 姓名, then 1日 in E)."""
    return 4 + day


def test_the_download_is_a_kaoqinbiao_with_masked_ids_and_marks(web, client):
    """The sheet follows the 考勤表 contract: its header cells, 月份 as YYYY-MM, a row per person and
    post; the ID masked (the note says so), never whole anywhere; stored days as marks."""
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 3, 16)))
    db.session.commit()
    login(client, "operator_bd")
    ws = sheet(client, "2025-03").active
    assert [c.value for c in ws[2]] == ["身份证号", "岗位或车间编号", "月份", "姓名"] + [f"{d}日" for d in range(1, 32)]
    note = ws["A1"].value
    assert "2025年03月 考勤表" in note and "身份证号为脱敏显示" in note and MARKS_HELP in note
    people = [(r[3], r[1], r[0], r[2]) for r in ws.iter_rows(min_row=3, values_only=True)]
    assert people == [("李小花", "GW-A1", masked("李小花"), "2025-03"), ("王大山", "GW-A1", masked("王大山"), "2025-03"),
                      ("李小花", "GW-A2", masked("李小花"), "2025-03")]  # by post, then name
    values = [str(c) for r in ws.iter_rows(values_only=True) for c in r if c is not None]
    assert not [v for v in values for full in web.ids.values() if full in v]  # no full ID number anywhere
    # stored March: 王大山 10 days 出勤 then 休息 (the fixture's month), written as √ and 休
    wang = [c.value for c in ws[sheet_row(ws, "王大山", "GW-A1")]]
    stored = rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1))
    mark_of = {"出勤": "√", "请假": "假", "缺勤": "×", "休息": "休"}
    assert {d.day: mark_of[s] for d, (s, _, _) in stored.items()} == {
        n: wang[day_col(n) - 1] for n in range(1, 32) if wang[day_col(n) - 1] is not None}
    assert set(wang[4:]) <= {"√", "假", "×", "休", None} and "√" in wang and "休" in wang
    # 李小花 takes GW-A1 on the 16th: the 15 days before are grey, the 16th is not
    li = sheet_row(ws, "李小花", "GW-A1")
    greys = [n for n in range(1, 32) if ws.cell(row=li, column=day_col(n)).fill.fgColor.rgb == "00E6E9EE"]
    assert greys == list(range(1, 16))
    assert ws.freeze_panes == "E3"
    (dv,) = ws.data_validations.dataValidation
    assert dv.formula1 == '"√,假,×,休,出勤,请假,缺勤,休息"' and str(dv.sqref) == f"E3:AI{2 + len(people)}"


def test_a_sheet_of_marks_is_stored_as_attendance_rows(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "王大山", "GW-A1")
    marks = {1: "√", 2: "假", 3: "×", 4: 1, 5: "休", 7: "✓", 8: "出勤", 9: " 旷 "}
    for day, m in marks.items():
        ws.cell(row=r, column=day_col(day)).value = m
    page = text(upload(client, wb))
    assert "已保存 8 条考勤，审计已完成（新增 8 条、修改 0 条" in page
    stored = rows_of(web, "王大山", "GW-A1", APRIL)
    expected = {1: "出勤", 2: "请假", 3: "缺勤", 4: "出勤", 5: "休息", 7: "出勤", 8: "出勤", 9: "缺勤"}
    assert stored == {dt.date(2025, 4, d): (s, "手工登记", "未核验") for d, s in expected.items()}


def test_an_unknown_mark_is_refused_naming_row_and_day(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "王大山", "GW-A1")
    ws.cell(row=r, column=day_col(14)).value = "√"
    ws.cell(row=r, column=day_col(15)).value = "?"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 {r} 行「15日」（S 列，2025-04-15，王大山（{masked('王大山')}） · 岗位 GW-A1）：考勤标记「?」无法识别："
            f"{MARKS_HELP}。") in page
    assert "未写入任何数据" in page and "「14日」" not in page
    assert attendance_count() == before


def test_a_sheet_of_another_month_is_refused(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "李小花", "GW-A2")
    ws.cell(row=r, column=3).value = "2025-05"
    ws.cell(row=r, column=day_col(1)).value = "√"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 {r} 行「月份」（C 列，李小花（{masked('李小花')}） · 岗位 GW-A2）：月份是 2025年05月，不是本表的 "
            "2025年04月：请写 2025-04") in page
    assert attendance_count() == before
    # a month Excel turned into a date, or written 2025年4月, is the same month
    ws.cell(row=r, column=3).value = dt.datetime(2025, 4, 1)
    assert "已保存 1 条考勤" in text(upload(client, wb))
    head = "身份证号,岗位或车间编号,月份,姓名," + ",".join(f"{d}日" for d in range(1, 31))
    line = f"{masked('李小花')},GW-A2,2025/4/1,李小花,√,假"  # saved as CSV by Excel after it made 2025-04 a date
    assert "已保存 1 条考勤" in text(upload(client, (head + "\r\n" + line + "\r\n").encode("gb18030"), "考勤.csv"))
    assert {d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()} == {1: "出勤", 2: "请假"}


def test_a_sheet_in_the_earlier_layout_still_uploads(web, client):
    """Sheets downloaded before the 考勤表 layout: 岗位编号, 姓名, 身份证号(脱敏), then 1 … 30, words."""
    login(client, "operator_bd")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["白帝镇白帝村村民委员会 2025年04月 考勤表。每格填写 出勤、请假、缺勤 或 休息；…"])
    ws.append(["岗位编号", "姓名", "身份证号(脱敏)"] + list(range(1, 31)))
    ws.append(["GW-A1", "王大山", masked("王大山"), "出勤", "请假", "√"])
    ws.append(["GW-A2", "李小花", masked("李小花"), None, "缺勤"])
    page = text(upload(client, wb, "考勤表_旧.xlsx"))
    assert "已保存 4 条考勤，审计已完成（新增 4 条" in page
    assert {d.day: s for d, (s, _, _) in rows_of(web, "王大山", "GW-A1", APRIL).items()} == {
        1: "出勤", 2: "请假", 3: "出勤"}
    assert {d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()} == {2: "缺勤"}


def test_a_villages_own_kaoqinbiao_with_full_ids_is_matched(web, client):
    """A 考勤表 kept by the village: a title row, 序号, full ID numbers, no 姓名 for one row; matched to
    the unit's holders by the ID. A full ID is never shown back whole."""
    login(client, "operator_bd")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["白帝村 2025 年 4 月考勤表"])
    ws.append(["序号", "姓名", "身份证号", "岗位或车间编号", "月份"] + [f"{d}日" for d in range(1, 31)])
    ws.append([1, "王大山", web.ids["王大山"], "GW-A1", "2025-04", "√", "√", "假"])
    ws.append([2, None, web.ids["李小花"].lower(), "GW-A2", "2025年4月", "×", "休"])
    page = text(upload(client, wb, "白帝村考勤.xlsx"))
    assert "已保存 5 条考勤，审计已完成（新增 5 条" in page
    assert {d.day: s for d, (s, _, _) in rows_of(web, "王大山", "GW-A1", APRIL).items()} == {
        1: "出勤", 2: "出勤", 3: "请假"}
    assert {d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()} == {1: "缺勤", 2: "休息"}

    # someone of another unit, a wrong check character, a name not the ID's: refused, IDs masked
    bad = web.ids["王大山"][:-1] + ("0" if web.ids["王大山"][-1] != "0" else "1")
    ws.append([3, "张三", web.ids["张三"], "GW-A1", "2025-04", "√"])
    ws.append([4, "王大山", bad, "GW-A1", "2025-04", "√"])
    ws.append([5, "李四", web.ids["王大山"], "GW-A1", "2025-04", "√"])
    before = attendance_count()
    resp = upload(client, wb, "白帝村考勤.xlsx")
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 5 行：岗位「GW-A1」、姓名「张三」、身份证号「{masked('张三')}」不在白帝镇白帝村村民委员会 "
            "2025年04月的在岗名单中") in page
    assert "第 6 行「身份证号」（C 列）：身份证号校验码错误，按前17位应为" in page
    assert f"第 7 行「姓名」（B 列）：姓名「李四」与身份证号 {masked('王大山')} 的在岗人员「王大山」不符" in page
    assert not [full for full in (*web.ids.values(), bad) if full in page]
    assert attendance_count() == before


BAD_FILES = [
    ("考勤.xlsx", b"this is not a spreadsheet", "不是有效的 xlsx 文件"),
    ("考勤.xlsx", b"", "上传的文件是空的"),
    ("考勤.xls", b"\xd0\xcf\x11\xe0old excel", "不支持旧版 .xls 文件"),
    ("考勤.pdf", b"%PDF-1.4", "只能上传 .xlsx 或 .csv 格式的考勤表"),
    ("考勤.csv", b"", "上传的文件是空的"),
    ("考勤.csv", "随便写点什么\n没有表头".encode(), "没有找到表头行"),
    ("考勤.csv", b"\xff\xfe\x00\x00\x81", "编码无法识别"),
]


def test_bad_files_get_a_clear_message(web, client):
    login(client, "operator_bd")
    for name, data, message in BAD_FILES:
        resp = upload(client, data, name)
        assert resp.status_code in (400, 422), name
        page = text(resp)
        assert message in page and "未写入任何数据" in page, (name, data)
    resp = upload(client, openpyxl.Workbook())
    assert resp.status_code == 422 and "上传的表格是空的" in text(resp)
    resp = post(client, "/attendance/upload", bd_grid())
    assert resp.status_code == 400 and "请选择要上传的考勤表文件" in text(resp)


# ---- who may ---------------------------------------------------------------------------------------

OTHER_UNITS = [("workshop", "CJ-B1"), ("employer", QUCHI), ("employer", GUIJING),
               ("workshop", "CJ-A1"), ("elsewhere", BAIDI), ("employer", ""),
               ("employer", "白帝村村民委员会"), ("employer", "奉节县/草堂镇/白帝村村民委员会")]  # P1: a name is no unit


def test_another_units_attendance_is_not_found(web, client):
    login(client, "operator_bd")
    before = attendance_count()
    for kind, unit in OTHER_UNITS:
        q = f"kind={kind}&unit={unit}&month=2025-04"
        assert client.get(f"/attendance/grid?{q}").status_code == 404, unit
        assert client.get(f"/attendance/sheet.xlsx?{q}").status_code == 404, unit
        resp = post(client, "/attendance/grid", {"kind": kind, "unit": unit, "month": "2025-04",
                                                 f"c-{web.person_id['刘一']}-{web.post_id['GW-B1']}-1": "出勤"})
        assert resp.status_code == 404 and "不在您的管辖范围内" in text(resp), unit
        resp = post(client, "/attendance/upload", {"kind": kind, "unit": unit, "month": "2025-04",
                                                   "file": (io.BytesIO(b"x"), "a.csv")},
                    content_type="multipart/form-data")
        assert resp.status_code == 404, unit
        resp = post(client, "/attendance/grid/fill", {"kind": kind, "unit": unit, "month": "2025-04", "fill": "all"})
        assert resp.status_code == 404 and "刘一" not in text(resp), unit
    assert attendance_count() == before


def test_only_operators_enter_attendance(web, app):
    for user in ("auditor_fj", "auditor_bd", "inspector_fj", "admin"):
        client = app.test_client()
        login(client, user)
        assert client.get("/attendance/").status_code == 403, user
        assert client.get(grid_url()).status_code == 403, user
        assert client.get(grid_url().replace("grid", "sheet.xlsx")).status_code == 403, user
        resp = post(client, "/attendance/grid", {**bd_grid(), **cells(web, "王大山", "GW-A1", [APRIL])})
        assert resp.status_code == 403 and "无权访问" in text(resp), user
        resp = post(client, "/attendance/grid/fill", {**bd_grid(), "fill": "all"})
        assert resp.status_code == 403 and "王大山" not in text(resp), user
    assert not rows_of(web, "王大山", "GW-A1", APRIL)
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "access.denied", ChangeLog.actor == "auditor_fj")) >= 1


def test_a_malformed_month_is_a_clear_error(web, client):
    login(client, "operator_bd")
    resp = client.get(f"/attendance/grid?kind=employer&unit={BAIDI}&month=2025-13")
    assert resp.status_code == 400 and "月份格式应为 YYYY-MM" in text(resp)


def test_a_machine_record_cannot_be_overwritten_by_hand(web, client):
    """A face-recognition check-in is evidence for IM01/IM02: an operator may not change it."""
    login(client, "operator_bd")
    before = rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1))
    assert before[dt.date(2025, 3, 3)] == ("出勤", "人脸识别", "通过")
    resp = post(client, "/attendance/grid", {**bd_grid("2025-03"),
                                            **cells(web, "王大山", "GW-A1", [dt.date(2025, 3, 3)], "缺勤")})
    assert resp.status_code == 422
    assert "该日已有人脸识别签到记录（出勤），机器记录不能手工修改" in text(resp)
    assert rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1)) == before
