"""考勤接口: devices push check-ins with a bearer token bound to their unit (shared/docs/precheck.md,
"Attendance from devices"). Each test asserts what a device, an admin or an operator notices:
status codes, the per-record results, the stored rows, the audit log."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from models import Attendance, ChangeLog, DeviceRecord, DeviceToken, db

from web_helpers import BAIDI, login, post

AS_OF = "2025-06-30"
API = "/api/v1/attendance"


@pytest.fixture(autouse=True)
def _as_of(app):
    app.config["AUDIT_AS_OF"] = AS_OF


def make_token(name: str = "白帝村考勤机01", unit: str = BAIDI) -> str:
    from audit.devices.services import create_token

    _, secret = create_token(name, unit, by="test")
    db.session.commit()
    return secret


def rec(web, record_id, name="王大山", post_code="GW-A1", day="2025-04-01", status="出勤", **kw) -> dict:
    return {"record_id": record_id, "id_number": web.ids[name], "post_code": post_code, "work_date": day,
            "status": status, "check_in_time": "08:05", "method": "人脸识别", "device_id": "KQJ-BAIDI-01",
            "verified": "通过", **kw}


def call(app, token: str | None, records=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = app.test_client()  # a device: no cookie of anyone's
    if body is not None:
        return client.post(API, data=body, headers=headers, content_type="application/json")
    return client.post(API, json={"records": records}, headers=headers)


def results(resp) -> list[dict]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["results"]


def row(web, name: str, post_code: str, day: str):
    db.session.rollback()
    d = dt.date.fromisoformat(day)
    return db.session.execute(select(Attendance.status, Attendance.method, Attendance.device_id,
                                     Attendance.verified)
                              .where(Attendance.person_id == web.person_id[name],
                                     Attendance.post_id == web.post_id[post_code],
                                     Attendance.work_month == d.replace(day=1),
                                     Attendance.work_date == d)).first()


def log(action: str) -> list[ChangeLog]:
    db.session.rollback()
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.action == action)
                                   .order_by(ChangeLog.id)))


def test_records_are_stored_as_machine_records_and_the_call_is_logged(web, app):
    token = make_token()
    resp = call(app, token,
                [rec(web, "r1"), rec(web, "r2", day="2025-04-02", status="请假", check_in_time=None),
                             rec(web, "r3", "李小花", "GW-A2", method="小程序定位", device_id="13800000000")])
    assert resp.headers.get("Set-Cookie") is None and resp.headers["Cache-Control"] == "no-store"
    assert results(resp) == [{"record_id": "r1", "result": "stored"}, {"record_id": "r2", "result": "stored"},
                             {"record_id": "r3", "result": "stored"}]
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-01")) == ("出勤", "人脸识别", "KQJ-BAIDI-01", "通过")
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-02"))[:2] == ("请假", "人脸识别")
    assert tuple(row(web, "李小花", "GW-A2", "2025-04-01"))[:3] == ("出勤", "小程序定位", "13800000000")
    entry = log("device.attendance")[-1]
    assert entry.actor == "device:白帝村考勤机01" and entry.row_ref == "白帝村考勤机01"
    assert entry.new["unit"] == BAIDI and entry.new["unit_kind"] == "employer"
    assert (entry.new["received"], entry.new["stored"], entry.new["duplicate"],
            entry.new["error"]) == (3, 3, 0, 0)
    assert not any(web.ids[n] in json.dumps(entry.new, ensure_ascii=False) for n in web.ids)
    tok = db.session.scalar(select(DeviceToken))
    assert tok.last_used_at is not None and tok.token_hash != token and token not in tok.token_hash


def test_the_same_record_id_twice_stores_one_record(web, app):
    token = make_token()
    first = results(call(app, token, [rec(web, "r1"), rec(web, "r1", status="缺勤")]))
    assert first[0] == {"record_id": "r1", "result": "stored"}
    assert first[1]["result"] == "duplicate" and "已接收过" in first[1]["reason"]
    again = results(call(app, token, [rec(web, "r1", status="缺勤")]))
    assert again[0]["result"] == "duplicate"
    # another record id for a day that has a machine record: the first record is kept
    other = results(call(app, token, [rec(web, "r9", status="缺勤")]))
    assert (other[0]["result"] == "duplicate"
            and "该日已有人脸识别签到记录（出勤），保留先到的记录" in other[0]["reason"])
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-01"))[:2] == ("出勤", "人脸识别")
    assert db.session.scalar(select(func.count()).select_from(DeviceRecord)) == 1
    assert db.session.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.work_date == dt.date(2025, 4, 1), Attendance.person_id == web.person_id["王大山"])) == 1


def test_missing_bad_and_revoked_tokens_are_401(web, app):
    from audit.devices.services import by_name, revoke

    token = make_token()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {token}"}):
        resp = app.test_client().post(API, json={"records": [rec(web, "r1")]}, headers=headers)
        assert resp.status_code == 401 and resp.is_json and resp.get_json()["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "缺少设备令牌" in app.test_client().post(API, json={"records": []}).get_json()["error"]
    # a signed-in admin's session is no token
    browser = app.test_client()
    login(browser, "admin")
    resp = browser.post(API, json={"records": [rec(web, "r1")]})
    assert resp.status_code == 401 and resp.headers.get("Set-Cookie") is None
    revoke(by_name("白帝村考勤机01"), by="test")
    db.session.commit()
    resp = call(app, token, [rec(web, "r1")])
    assert resp.status_code == 401 and "已被吊销" in resp.get_json()["error"]
    assert row(web, "王大山", "GW-A1", "2025-04-01") is None
    refused = log("device.unauthorized")
    assert len(refused) == 1 and refused[0].new["reason"] == "missing"  # once a minute per address


def test_another_units_post_is_403_for_that_record_and_the_others_are_stored(web, app):
    token = make_token()
    out = results(call(app, token,
                       [rec(web, "a"), rec(web, "b", "刘一", "GW-B1"), rec(web, "c", "陈工", "CJ-A1"),
                                    rec(web, "d", day="2025-04-03")]))
    assert [r["result"] for r in out] == ["stored", "error", "error", "stored"]
    assert out[1] == {"record_id": "b", "result": "error", "status": 403,
                      "reason": "岗位「GW-B1」不属于本设备所属单位，不能写入其考勤"}
    assert out[2]["status"] == 403
    assert row(web, "刘一", "GW-B1", "2025-04-01") is None and row(web, "陈工", "CJ-A1", "2025-04-01") is None
    assert row(web, "王大山", "GW-A1", "2025-04-03") is not None
    # a workshop's device writes its workshop only
    ws = make_token("车间考勤机", "CJ-A1")
    out = results(call(app, ws, [rec(web, "a", "陈工", "CJ-A1"), rec(web, "b")]))
    assert [r["result"] for r in out] == ["stored", "error"] and out[1]["status"] == 403


def test_bad_values_unknown_people_hand_entries_and_future_days_are_errors(web, app, people):
    token = make_token()
    bad_check = web.ids["王大山"][:-1] + ("0" if web.ids["王大山"][-1] != "0" else "1")
    out = results(call(app, token, [
        rec(web, "a", id_number=bad_check), rec(web, "b", id_number=people.id("1970-01-01")),
        rec(web, "c", post_code="GW-ZZ"), rec(web, "d", status="迟到"), rec(web, "e", method="手工登记"),
        rec(web, "f", day="2025-07-01"), rec(web, "g", day="2025-13-01"), {"id_number": web.ids["王大山"]},
        "not an object", rec(web, "h", check_in_time="25:00"), rec(web, "ok")]))
    assert [r["result"] for r in out] == ["error"] * 10 + ["stored"]
    assert {r["status"] for r in out[:10]} == {422}
    reasons = [r["reason"] for r in out[:10]]
    assert "身份证号校验码错误" in reasons[0]
    assert "不在人员台账中" in reasons[1] and "*" in reasons[1]
    assert "没有编号为「GW-ZZ」的岗位或车间" in reasons[2]
    assert "考勤状态「迟到」不在允许的取值中" in reasons[3]
    assert "手工登记只能由经办人在考勤填报页面录入" in reasons[4]
    assert "晚于今天（审计基准日 2025-06-30）" in reasons[5]
    assert "日期不存在" in reasons[6] or "日期格式" in reasons[6]
    assert "缺少 record_id" in reasons[7] and out[7]["record_id"] is None
    assert "JSON 对象" in reasons[8]
    assert "时间不存在" in reasons[9]
    assert not any(web.ids[n] in json.dumps(out, ensure_ascii=False) for n in web.ids)
    # a record in error is not remembered: fixed, it is stored under the same record id
    assert results(call(app, token, [rec(web, "d", day="2025-04-05")]))[0]["result"] == "stored"


def test_more_than_1000_records_or_a_bad_body_is_refused(web, app):
    token = make_token()
    resp = call(app, token, [rec(web, f"r{i}") for i in range(1001)])
    assert resp.status_code == 413 and "一次最多提交 1000 条记录，本次 1001 条" in resp.get_json()["error"]
    assert row(web, "王大山", "GW-A1", "2025-04-01") is None
    resp = call(app, token, body="{not json")
    assert resp.status_code == 400 and "JSON" in resp.get_json()["error"]
    assert call(app, token, body=json.dumps([1, 2])).status_code == 400
    assert [e.new.get("refused") for e in log("device.attendance")] == [413, 400, 400]
    app.config["DEVICE_MAX_BODY_BYTES"] = 1000
    resp = call(app, token, [rec(web, f"r{i}") for i in range(10)])
    assert resp.status_code == 413 and resp.is_json and "请求内容过大" in resp.get_json()["error"]


def test_a_full_batch_of_1000_is_stored(web, app):
    token = make_token()
    days = [dt.date(2025, 4, 1) + dt.timedelta(days=i) for i in range(91)]  # April to June
    names = ["王大山", "李小花", "张三", "陈工", "刘一", "赵二"]
    batch = [rec(web, f"{n}-{p}-{d}", n, p, d.isoformat()) for n in names for p in ("GW-A1", "GW-A2")
             for d in days]
    out = results(call(app, token, batch[:1000]))
    assert len(out) == 1000 and {r["result"] for r in out} == {"stored"}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DeviceRecord)) == 1000


def test_a_machine_day_cannot_be_overwritten_by_hand_and_a_hand_day_is_replaced(web, app, client):
    from web_helpers import BAIDI as unit

    token = make_token()
    login(client, "operator_bd")
    pid, post_id = web.person_id["王大山"], web.post_id["GW-A1"]
    grid = {"kind": "employer", "unit": unit, "month": "2025-04"}
    # the operator enters 2 April by hand; then the device's record of that day replaces it
    resp = post(client, "/attendance/grid", {**grid, f"c-{pid}-{post_id}-2": "出勤"}, follow_redirects=True)
    assert resp.status_code == 200 and "已保存 1 条考勤" in resp.get_data(as_text=True)
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-02"))[:2] == ("出勤", "手工登记")
    out = results(call(app, token,
                       [rec(web, "m1", status="缺勤"), rec(web, "m2", day="2025-04-02", status="缺勤")]))
    assert (out
            == [{"record_id": "m1", "result": "stored"},
                {"record_id": "m2", "result": "stored", "replaced": True}])
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-02")) == ("缺勤", "人脸识别", "KQJ-BAIDI-01", "通过")
    assert log("device.attendance")[-1].new["replaced"] == 1
    # the operator's hand entry cannot overwrite the machine's days: refused, nothing changed
    resp = post(client, "/attendance/grid",
                {**grid, f"c-{pid}-{post_id}-1": "出勤", f"c-{pid}-{post_id}-2": "出勤"})
    assert resp.status_code == 422
    assert "该日已有人脸识别签到记录（缺勤），机器记录不能手工修改" in resp.get_data(as_text=True)
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-01"))[:2] == ("缺勤", "人脸识别")
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-02"))[:2] == ("缺勤", "人脸识别")
    # nor can the sheet the operator downloads and uploads back
    sheet = client.get(f"/attendance/sheet.xlsx?kind=employer&unit={unit}&month=2025-04")
    wb = openpyxl.load_workbook(io.BytesIO(sheet.data))
    ws = wb.active
    mine = next(r for r in ws.iter_rows(min_row=3) if r[1].value == "GW-A1" and r[3].value == "王大山")
    assert mine[4].value == "×"  # 1日: the machine's 缺勤
    mine[4].value = "√"
    buf = io.BytesIO()
    wb.save(buf)
    resp = post(client, "/attendance/upload", {**grid, "file": (io.BytesIO(buf.getvalue()), "考勤.xlsx")},
                content_type="multipart/form-data", follow_redirects=True)
    assert resp.status_code == 422 and "机器记录不能手工修改" in resp.get_data(as_text=True)
    assert tuple(row(web, "王大山", "GW-A1", "2025-04-01"))[:2] == ("缺勤", "人脸识别")


def test_cli_creates_a_token_shown_once_lists_and_revokes(web, app, runner):
    res = runner.invoke("devices", "create", "白帝村01", "--unit", BAIDI)
    assert res.exit_code == 0, res.output
    token = res.output.splitlines()[2].strip()
    assert len(token) >= 40 and "令牌（只显示这一次" in res.output
    assert results(call(app, token, [rec(web, "r1")]))[0]["result"] == "stored"
    assert runner.invoke("devices", "create", "车间01", "--unit", "CJ-A1").exit_code == 0
    listed = runner.invoke("devices", "list").output
    assert "白帝村01\t白帝镇白帝村村民委员会" in listed and "车间01\t" in listed and "（CJ-A1）" in listed
    assert token not in listed and token[:6] in listed and "从未使用" in listed and "有效" in listed
    bad = runner.invoke("devices", "create", "x", "--unit", "奉节县/白帝镇/没有这个单位")
    assert bad.exit_code != 0 and "没有用工单位" in bad.output
    dup = runner.invoke("devices", "create", "白帝村01", "--unit", BAIDI)
    assert dup.exit_code != 0 and "已有名为「白帝村01」的设备" in dup.output
    assert "区县/乡镇/单位名称" in runner.invoke("devices", "create", "--help").output
    res = runner.invoke("devices", "revoke", "白帝村01")
    assert res.exit_code == 0 and "已吊销" in res.output
    assert call(app, token, [rec(web, "r2")]).status_code == 401
    assert "已吊销" in runner.invoke("devices", "list").output
    assert [e.action for e in log("device.create")] == ["device.create", "device.create"]
    assert log("device.revoke")[0].actor.startswith("cli")


def test_admin_page_creates_shows_the_token_once_and_revokes(web, app, client):
    login(client, "admin")
    page = client.get("/admin/devices")
    assert page.status_code == 200 and "新建设备令牌" in page.get_data(as_text=True)
    # no CSRF token
    assert client.post("/admin/devices", data={"name": "x", "unit": BAIDI}).status_code == 400
    resp = post(client, "/admin/devices", {"name": "白帝村02", "unit": BAIDI})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    token = re.search(r'id="device-token">([^<]+)<', html).group(1)
    assert "只显示这一次" in html
    assert results(call(app, token, [rec(web, "r1")]))[0]["result"] == "stored"
    listing = client.get("/admin/devices").get_data(as_text=True)
    assert token not in listing and "白帝村02" in listing and "白帝镇白帝村村民委员会" in listing
    bad = post(client, "/admin/devices", {"name": "白帝村03", "unit": "CJ-ZZ"})
    assert bad.status_code == 400 and "没有编号为「CJ-ZZ」的就业帮扶车间" in bad.get_data(as_text=True)
    tid = db.session.scalar(select(DeviceToken.id).where(DeviceToken.name == "白帝村02"))
    assert client.post(f"/admin/devices/{tid}/revoke").status_code == 400  # no CSRF token
    resp = post(client, f"/admin/devices/{tid}/revoke", follow_redirects=True)
    assert resp.status_code == 200 and "已吊销设备「白帝村02」的令牌" in resp.get_data(as_text=True)
    assert call(app, token, [rec(web, "r2")]).status_code == 401
    logged = client.get("/admin/log?action=device.").get_data(as_text=True)
    assert "新建考勤设备「白帝村02」的令牌" in logged and "吊销考勤设备「白帝村02」的令牌" in logged
    assert "考勤设备 白帝村02 上传" in logged
    # only admins
    other = app.test_client()
    login(other, "operator_bd")
    assert other.get("/admin/devices").status_code == 403


def test_too_many_calls_are_429_with_retry_after(web, app):
    app.config["DEVICE_RATE_LIMIT"] = 3
    token = make_token()
    for i in range(3):
        assert call(app, token, [rec(web, f"r{i}")]).status_code == 200
    resp = call(app, token, [rec(web, "r9", day="2025-04-09")])
    assert resp.status_code == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert "调用过于频繁" in resp.get_json()["error"]
    assert row(web, "王大山", "GW-A1", "2025-04-09") is None
    assert call(app, token, [rec(web, "r9")]).status_code == 429
    assert len(log("device.rate_limited")) == 1  # the first refusal of the window
    other = make_token("另一台", BAIDI)  # per token
    assert call(app, other, [rec(web, "x", day="2025-04-09")]).status_code == 200


def test_openapi_is_served_and_names_the_endpoint(app):
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = json.loads(resp.data)
    op = doc["paths"]["/api/v1/attendance"]["post"]
    assert (doc["openapi"].startswith("3.")
            and doc["components"]["securitySchemes"]["deviceToken"]["scheme"] == "bearer")
    assert {"200", "400", "401", "403", "413", "429"} <= set(op["responses"])
    assert doc["components"]["schemas"]["AttendanceRequest"]["properties"]["records"]["maxItems"] == 1000
    assert app.test_client().get(API).status_code == 405 and app.test_client().get(API).is_json


def test_two_calls_at_once_with_the_same_records_store_each_once(web, app):
    """A device that resends before its first call was answered: one call stores, the other answers
    duplicate (a unique-key conflict makes it read the batch again), never a 500 or a second row."""
    import threading

    token = make_token()
    batch = [rec(web, f"c{i}", day=(dt.date(2025, 4, 1) + dt.timedelta(days=i)).isoformat())
             for i in range(60)]
    answers, start = [], threading.Barrier(2)

    def send():
        with app.app_context():
            start.wait()
            answers.append(call(app, token, batch))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200, 200]
    seen = sorted(tuple(sorted({r["result"] for r in a.get_json()["results"]})) for a in answers)
    assert seen == [("duplicate",), ("stored",)]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DeviceRecord)) == 60
