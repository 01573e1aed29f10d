"""考勤填报: operators enter a month of attendance for their own units (the grid or its sheet); it is
checked, stored and audited at once. Each test asserts what the operator sees."""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import func, select

from models import Attendance, ChangeLog, Placement, db

from attendance_web import (
    APRIL,
    attendance_count,
    bd_grid,
    cells,
    grid_url,
    masked,
    rows_of,
    selected,
    text,
    unit_findings_of,
    weekdays,
)
from web_helpers import BAIDI, GUIJING, QUCHI, login, post

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
    assert (re.search(r'title="2025-03-03 人脸识别签到记录，不能手工修改[^"]*"><select'
                      r' disabled[^>]*><option>出勤<', page))
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
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A1 · 2025-04-10：该日不在岗（在岗期间：2025-04-16 至"
            " 今），"
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
    ps01 = [f for f in unit_findings_of("2025-02") if f.rule == "PS01"
            and f.person_id == web.person_id["王大山"]]
    assert [f.status for f in ps01] == ["resolved"]
    row = re.search(r'<li class="att-finding">\s*<div class="att-f-head">\s*<span class="badge'
                    r' badge-high">PS01</span>.*?</li>',
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


# ---- who may ---------------------------------------------------------------------------------------

OTHER_UNITS = [("workshop", "CJ-B1"), ("employer", QUCHI), ("employer", GUIJING),
               ("workshop", "CJ-A1"), ("elsewhere", BAIDI), ("employer", ""),
               # P1: a name is no unit
               ("employer", "白帝村村民委员会"), ("employer", "奉节县/草堂镇/白帝村村民委员会")]


def test_another_units_attendance_is_not_found(web, client):
    login(client, "operator_bd")
    before = attendance_count()
    for kind, unit in OTHER_UNITS:
        q = f"kind={kind}&unit={unit}&month=2025-04"
        assert client.get(f"/attendance/grid?{q}").status_code == 404, unit
        assert client.get(f"/attendance/sheet.xlsx?{q}").status_code == 404, unit
        cell = f"c-{web.person_id['刘一']}-{web.post_id['GW-B1']}-1"
        resp = post(client, "/attendance/grid",
                    {"kind": kind, "unit": unit, "month": "2025-04", cell: "出勤"})
        assert resp.status_code == 404 and "不在您的管辖范围内" in text(resp), unit
        resp = post(client, "/attendance/upload", {"kind": kind, "unit": unit, "month": "2025-04",
                                                   "file": (io.BytesIO(b"x"), "a.csv")},
                    content_type="multipart/form-data")
        assert resp.status_code == 404, unit
        resp = post(client, "/attendance/grid/fill",
                    {"kind": kind, "unit": unit, "month": "2025-04", "fill": "all"})
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
