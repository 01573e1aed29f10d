"""The administration of users (admins only): who may, creating and changing users (a change of
scopes ends the user's session), resetting, deactivating and unlocking, and the audit log page."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit.auditlog import record
from audit.auth.services import scope_text
from models import User, db

import web_helpers as wh
from auth_web import REFUSED, fresh, log, new_user, rows, signed_in, text
from web_helpers import user

pytestmark = pytest.mark.usefixtures("requests_apart", "quick_hashes")

# -- administration: who may --------------------------------------------------------------------------


def test_only_admins_manage_users_and_every_denial_is_logged(accounts, app, client):
    assert client.get("/admin/users").headers["Location"].startswith("/login")  # not signed in

    for name in ("auditor_fj", "inspector_ws", "operator_cj"):
        c = fresh(app)
        wh.login(c, name)
        r = c.get("/admin/users")
        assert r.status_code == 403 and "无权访问" in text(r)
        assert c.get("/admin/log").status_code == 403
        assert wh.post(c, "/admin/users/1/password", {"password": "taken-over-1", "confirm": "taken-over-1"},
                       ).status_code == 403
    denied = log("access.denied")
    assert [(e.actor, e.row_ref) for e in denied[:2]] == [("auditor_fj", "/admin/users"),
                                                          ("auditor_fj", "/admin/log")]
    assert {e.actor for e in denied} == {"auditor_fj", "inspector_ws", "operator_cj"}
    assert wh.login(fresh(app), "admin").status_code == 302  # the admin's password is unchanged


def test_the_user_list_shows_roles_scopes_and_state(web, client):
    u = user("auditor_ws")
    u.locked_until = dt.datetime.now() + dt.timedelta(minutes=10)
    user_off = db.session.scalar(select(User).where(User.username == "inspector_ws"))
    user_off.active = False
    db.session.commit()

    wh.login(client, "admin")
    page = text(client.get("/admin/users"))
    for name in wh.USERS:
        assert name in page
    assert "审计人员" in page and "督查人员" in page and "经办人" in page
    assert f"employer:{wh.QUCHI}" in page and "workshop:CJ-B1" in page and "奉节县/白帝镇" in page
    assert "锁定至" in page and "已停用" in page

    operators = text(client.get("/admin/users?role=operator"))
    assert "operator_bd" in operators and "operator_ws" in operators
    assert "auditor_fj" not in operators and "共 3 个用户" in operators


# -- administration: creating and changing users ---------------------------------------------------------


def test_the_admin_creates_an_operator_who_then_signs_in(web, app, client):
    wh.login(client, "admin")
    r = new_user(client)
    assert r.status_code == 302
    page = text(client.get(r.headers["Location"]))
    assert "已创建用户 op_new（经办人）" in page
    assert "workshop:CJ-A1" in page and f"employer:{wh.BAIDI}" in page and "提示" not in page

    created = user("op_new")
    assert created.role == "operator" and created.display_name == "新经办人"
    # P1: the key
    assert [scope_text(s) for s in created.scopes] == ["workshop:CJ-A1", f"employer:{wh.BAIDI}"]
    assert log("user.create")[-1].actor == "admin"

    newcomer = fresh(app)
    assert wh.login(newcomer, "op_new", "secret-pass-1").headers["Location"] == "/dashboard/"
    assert signed_in(newcomer)
    assert newcomer.get("/admin/users").status_code == 403


@pytest.mark.parametrize("fields, message", [
    ({"role": "operator", "scopes": "奉节县"}, "经办人的范围是单位"),
    ({"role": "auditor", "scopes": ""}, "每个用户至少需要一个范围"),
    ({"role": "auditor", "scopes": "workshop:CJ-A1"}, "只有经办人按单位划定范围"),
    ({"password": "short", "confirm": "short"}, "密码至少 12 位"),
    ({"confirm": "secret-pass-2"}, "两次输入的密码不一致"),
    ({"username": "auditor_fj"}, "用户名 auditor_fj 已存在"),
    ({"username": ""}, "请输入用户名"),
    ({"role": "chief"}, "未知角色 chief"),
])
def test_a_refused_new_user_shows_the_reason_and_keeps_the_input(accounts, client, fields, message):
    wh.login(client, "admin")
    r = new_user(client, **fields)
    page = text(r)
    assert r.status_code == 400 and message in page
    if fields.get("username", "op_new") == "op_new":
        assert 'value="op_new"' in page and "新经办人" in page
        assert user("op_new") is None
    assert ("secret-pass-1" in page) is False  # passwords are never sent back


def test_a_scope_naming_nothing_loaded_is_taken_with_a_warning(web, client):
    wh.login(client, "admin")
    r = new_user(client, scopes="workshop:CJ-Z9")
    page = text(client.get(r.headers["Location"]))
    assert "提示：已导入的数据中没有 workshop:CJ-Z9" in page


def test_changing_a_users_scopes_ends_their_session(web, app, client):
    operator = fresh(app)
    wh.login(operator, "operator_cj")
    assert signed_in(operator)

    wh.login(client, "admin")
    uid = user("operator_cj").id
    bad = wh.post(client, f"/admin/users/{uid}/scopes", {"scopes": "奉节县"})
    assert bad.status_code == 400 and "经办人的范围是单位" in text(bad) and "奉节县" in text(bad)
    assert signed_in(operator)  # nothing changed

    r = wh.post(client, f"/admin/users/{uid}/scopes", {"scopes": "workshop:CJ-A1\nworkshop:CJ-B1"})
    assert r.status_code == 302
    assert "其已登录的会话已失效" in text(client.get(r.headers["Location"]))
    assert [scope_text(s) for s in user("operator_cj").scopes] == ["workshop:CJ-A1", "workshop:CJ-B1"]
    entry = log("user.scopes")[-1]
    assert (entry.actor, entry.old["scopes"], entry.new["scopes"]) == (
        "admin", ["workshop:CJ-A1"], ["workshop:CJ-A1", "workshop:CJ-B1"])

    assert not signed_in(operator)
    assert wh.login(operator, "operator_cj").status_code == 302  # signs in again, with the new scopes


def test_an_admin_changing_their_own_account_stays_signed_in(accounts, client):
    wh.login(client, "admin")
    uid = user("admin").id
    assert wh.post(client, f"/admin/users/{uid}/scopes", {"scopes": ""}).status_code == 302
    assert client.get("/admin/users").status_code == 200
    new = {"password": "new-keeper-pass", "confirm": "new-keeper-pass"}
    assert wh.post(client, f"/admin/users/{uid}/password", new).status_code == 302
    assert client.get("/admin/users").status_code == 200
    r = wh.post(client, f"/admin/users/{uid}/deactivate")
    assert r.status_code == 400 and "不能停用自己正在使用的账户" in text(r)
    assert user("admin").active


def test_reset_password_deactivate_activate_and_unlock(accounts, app, client):
    wh.login(client, "admin")
    uid = user("auditor_bd").id
    victim = fresh(app)
    wh.login(victim, "auditor_bd")

    reset = f"/admin/users/{uid}/password"
    mismatch = wh.post(client, reset, {"password": "new-pass-123", "confirm": "other-123"})
    assert mismatch.status_code == 400 and "两次输入的密码不一致" in text(mismatch)
    short = wh.post(client, reset, {"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "密码至少 12 位" in text(short)
    r = wh.post(client, reset, {"password": "new-pass-123", "confirm": "new-pass-123"})
    assert "已重设 auditor_bd 的密码" in text(client.get(r.headers["Location"]))
    assert not signed_in(victim)
    assert wh.login(fresh(app), "auditor_bd").status_code == 401
    assert wh.login(victim, "auditor_bd", "new-pass-123").status_code == 302

    r = wh.post(client, f"/admin/users/{uid}/deactivate")
    assert "已停用用户 auditor_bd" in text(client.get(r.headers["Location"]))
    assert not signed_in(victim)
    refused = wh.login(victim, "auditor_bd", "new-pass-123")
    assert refused.status_code == 401 and REFUSED in text(refused)
    assert log("auth.login_refused")[-1].new["reason"] == "inactive"
    assert "已停用" in text(client.get("/admin/users"))

    r = wh.post(client, f"/admin/users/{uid}/activate")
    assert "已启用用户 auditor_bd" in text(client.get(r.headers["Location"]))
    for i in range(5):
        wh.login(fresh(app), "auditor_bd", f"wrong-{i}")
    assert REFUSED in text(wh.login(victim, "auditor_bd", "new-pass-123"))
    assert log("auth.login_refused")[-1].new["reason"] == "locked"
    detail = text(client.get(f"/admin/users/{uid}"))
    assert "锁定至" in detail and "解除锁定" in detail
    r = wh.post(client, f"/admin/users/{uid}/unlock")
    assert "已解除 auditor_bd 的锁定" in text(client.get(r.headers["Location"]))
    assert wh.login(victim, "auditor_bd", "new-pass-123").status_code == 302

    actions = [e.action for e in log("user.password") + log("user.active") + log("user.unlock")]
    assert actions == ["user.password", "user.active", "user.active", "user.unlock"]
    assert client.get("/admin/users/99999").status_code == 404


def test_the_last_active_admin_cannot_be_deactivated(accounts, client):
    from audit.auth.services import UserError, create_user, set_active

    create_user("admin2", "admin", "second-admin-1", by="test")
    db.session.commit()
    wh.login(client, "admin")
    r = wh.post(client, f"/admin/users/{user('admin2').id}/deactivate")
    assert r.status_code == 302 and not user("admin2").active  # another admin remains: the signed-in one

    with pytest.raises(UserError, match="唯一启用的管理员账户"):  # admin_ws is narrowed to 巫山县
        set_active(user("admin"), False, by="test")
    db.session.rollback()
    assert user("admin").active


# -- the audit log page -------------------------------------------------------------------------------


def test_the_audit_log_is_newest_first_filtered_and_paged(accounts, app, client):
    wh.login(fresh(app), "auditor_fj", "wrong-password")
    denied = fresh(app)
    wh.login(denied, "inspector_fj")
    denied.get("/admin/users")
    for i in range(105):
        record("test.filler", table="", ref=f"filler-{i:03d}", who="filler")
    db.session.commit()

    wh.login(client, "admin")
    first = text(client.get("/admin/log"))
    assert first.index("filler-104") < first.index("filler-010")  # newest first
    assert "filler-004" not in first and "下一页" in first
    second = text(client.get("/admin/log?page=2"))
    assert "filler-004" in second and "filler-104" not in second and "上一页" in second

    auth = rows(client.get("/admin/log?action=auth."))
    assert ("登录失败" in auth and "auditor_fj" in auth and "filler-" not in auth
            and "越权访问被拒" not in auth)
    by_actor = rows(client.get("/admin/log", query_string={"actor": "inspector_fj"}))
    assert "越权访问被拒" in by_actor and "/admin/users" in by_actor and "filler-" not in by_actor
    none = text(client.get("/admin/log?action=user.create&actor=inspector_fj"))
    assert "没有符合条件的记录" in none
    assert "原：" not in none


def test_an_admin_narrowed_to_a_region_reads_it_but_manages_no_users(web, client):
    wh.login(client, "admin_ws")
    assert client.get("/admin/users").status_code == 403
    assert wh.post(client, f"/admin/users/{user('auditor_fj').id}/unlock").status_code == 403
    page = client.get("/findings/").get_data(as_text=True)
    assert "GW-B1" in page and "GW-A1" not in page
