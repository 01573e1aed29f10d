"""Sign-in, the lock after five wrong passwords and the limit of failures per client address (both
held in the database, so every worker sees them), the idle timeout, sign-out that voids the cookie,
CSRF, security headers, open redirects, and the administration of users (admins only)."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from audit import create_app
from audit.auditlog import record
from audit.auth.services import scope_text
from models import ChangeLog, User, db

import web_helpers as wh
from web_helpers import RequestClient

COOKIE = "audit_session"
# the one answer to every refused sign-in (B3): it tells no account's existence or state
REFUSED = "用户名或密码错误，或账户暂不可用"
IDLE_MESSAGE = "您已超过 30 分钟未操作，请重新登录。"
CSRF_MESSAGE = "表单的安全校验未通过"


@pytest.fixture(autouse=True)
def _requests_apart(app):
    app.test_client_class = RequestClient


@pytest.fixture(autouse=True)
def _quick_hashes(quick_hashes):
    """Cheap password hashes here too (tests/conftest.py)."""


@pytest.fixture
def worker(app):
    """A second web worker: another application on the same database (as gunicorn runs them)."""
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": app.config["SECRET_KEY"], "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                        "INSTANCE_PATH": app.instance_path, "TESTING": True})
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def accounts(app):
    """The users of ``web_helpers.USERS`` without the ledger data (for what does not need it)."""
    wh.create_users(app)


def user(name: str) -> User:
    db.session.rollback()  # see what the requests committed
    return db.session.scalar(select(User).where(User.username == name))


def log(action: str) -> list[ChangeLog]:
    db.session.rollback()
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.action == action)
                                   .order_by(ChangeLog.id)))


def signed_in(client) -> bool:
    """Whether the client's session is alive: the dashboard does not send it to the sign-in page."""
    r = client.get("/dashboard/")
    return not (r.status_code == 302 and "/login" in r.headers["Location"])


def text(r) -> str:
    return r.get_data(as_text=True)


def rows(r) -> str:
    """The log table's body (the filter's suggestions name every action too)."""
    page = text(r)
    return page[page.index("<tbody>"):page.index("</tbody>")] if "<tbody>" in page else ""


def fresh(app) -> RequestClient:
    return app.test_client()


# -- signing in -----------------------------------------------------------------------------------


def test_the_right_password_lands_on_the_dashboard(accounts, client):
    r = wh.login(client, "auditor_fj")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    assert signed_in(client)
    assert client.get("/login").headers["Location"] == "/dashboard/"  # already signed in
    assert [e.actor for e in log("auth.login")] == ["auditor_fj"]


def test_a_wrong_password_or_an_unknown_name_is_refused_in_chinese(accounts, client):
    wrong = wh.login(client, "auditor_fj", "not-the-password")
    assert wrong.status_code == 401
    assert REFUSED in text(wrong) and "再错" not in text(wrong)
    unknown = wh.login(client, "nobody", wh.PASSWORD)
    assert unknown.status_code == 401 and REFUSED in text(unknown)
    assert not signed_in(client)
    assert [e.row_ref for e in log("auth.login_failed")] == ["auditor_fj", "nobody"]


def test_five_wrong_passwords_lock_the_account_in_the_database(accounts, app, client, worker):
    for attempt in range(1, 5):
        assert REFUSED in text(wh.login(client, "inspector_fj", f"wrong-{attempt}"))
    fifth = wh.login(client, "inspector_fj", "wrong-5")
    assert REFUSED in text(fifth) and "已锁定" not in text(fifth)
    assert log("auth.login_failed")[-1].new["locked"] is True  # the log says it, the page does not

    sixth = wh.login(client, "inspector_fj")  # the right password
    assert sixth.status_code == 401 and REFUSED in text(sixth)
    assert log("auth.login_refused")[-1].new["reason"] == "locked"
    assert not signed_in(client)
    locked_until = user("inspector_fj").locked_until
    assert dt.timedelta(minutes=14) < locked_until - dt.datetime.now() <= dt.timedelta(minutes=15)

    # another worker process reads the same lock from the database
    elsewhere = wh.login(worker.test_client(), "inspector_fj")
    assert elsewhere.status_code == 401 and REFUSED in text(elsewhere)
    assert wh.login(fresh(app), "inspector_fj").status_code == 401

    # 15 minutes later it works again, on any worker
    u = user("inspector_fj")
    u.locked_until = dt.datetime.now() - dt.timedelta(seconds=1)
    db.session.commit()
    again = worker.test_client()
    assert wh.login(again, "inspector_fj").headers["Location"] == "/dashboard/"
    assert signed_in(again)
    u = user("inspector_fj")
    assert (u.failed_logins, u.locked_until) == (0, None)
    assert len(log("auth.login_refused")) == 3


def test_the_failures_of_several_workers_add_up(accounts, app, worker):
    for i in range(5):
        wh.login((worker if i % 2 else app).test_client(), "auditor_ws", f"wrong-{i}")
    refused = wh.login(fresh(app), "auditor_ws")
    assert refused.status_code == 401 and REFUSED in text(refused)
    assert log("auth.login_refused")[-1].new["reason"] == "locked"


# -- the session's life -----------------------------------------------------------------------------


def set_seen(client, seconds_ago: int) -> None:
    with client.session_transaction() as sess:
        sess["seen"] = int(time.time()) - seconds_ago


def test_thirty_idle_minutes_end_the_session(accounts, client):
    wh.login(client, "admin")
    set_seen(client, 29 * 60)
    assert client.get("/admin/users").status_code == 200  # 29 minutes: still there

    set_seen(client, 31 * 60)
    r = client.get("/admin/users")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    page = client.get(r.headers["Location"])
    assert IDLE_MESSAGE in text(page)
    assert client.get("/admin/users").status_code == 302
    assert [e.row_ref for e in log("auth.timeout")] == ["admin"]


def test_after_sign_out_a_copy_of_the_cookie_no_longer_works(accounts, app, client, worker):
    wh.login(client, "admin")
    assert client.get("/admin/users").status_code == 200
    copied = client.get_cookie(COOKIE).value

    out = wh.post(client, "/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert "您已安全退出。" in text(client.get("/login"))

    for other in (fresh(app), worker.test_client()):
        other.set_cookie(COOKIE, copied)
        r = other.get("/admin/users")
        assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert [e.row_ref for e in log("auth.logout")] == ["admin"]


def test_a_copied_cookie_works_on_every_worker_while_signed_in(accounts, client, worker):
    wh.login(client, "admin")
    other = worker.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    assert other.get("/admin/users").status_code == 200  # the session is the database's, not the worker's


def test_a_post_without_the_csrf_token_is_refused(accounts, client):
    page = client.post("/login", data={"username": "admin", "password": wh.PASSWORD})
    assert page.status_code == 400 and CSRF_MESSAGE in text(page)
    assert not signed_in(client)

    wh.login(client, "admin")
    r = client.post("/logout")
    assert r.status_code == 400 and CSRF_MESSAGE in text(r)
    assert signed_in(client)
    r = client.post("/admin/users/new", data={"username": "x1", "role": "admin", "password": "secret-pass-1",
                                              "confirm": "secret-pass-1"})
    assert r.status_code == 400 and user("x1") is None
    r = client.post("/admin/users/new", data={"username": "x1", "role": "admin", "password": "secret-pass-1",
                                              "confirm": "secret-pass-1", "csrf_token": "forged"})
    assert r.status_code == 400 and user("x1") is None


def test_get_logout_changes_nothing(accounts, client):
    wh.login(client, "admin")
    r = client.get("/logout")
    assert r.status_code == 405 and "不允许的操作" in text(r)
    assert client.get("/admin/users").status_code == 200
    assert log("auth.logout") == []


def test_headers_and_cookie_flags(accounts, client):
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"

    r = wh.login(client, "admin")
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags
    assert client.get("/admin/users").headers["Cache-Control"] == "no-store"


def test_the_sign_in_does_not_follow_a_redirect_off_the_site(accounts, app):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example",
                   "javascript:alert(1)", "evil.example"):
        client = fresh(app)
        token = wh.csrf_from(text(client.get("/login", query_string={"next": target})))
        r = client.post("/login", query_string={"next": target},
                        data={"username": "admin", "password": wh.PASSWORD, "csrf_token": token})
        assert r.status_code == 302 and r.headers["Location"] == "/dashboard/", target
    client = fresh(app)
    token = wh.csrf_from(text(client.get("/login")))
    r = client.post("/login?next=/admin/log", data={"username": "admin", "password": wh.PASSWORD,
                                                    "csrf_token": token})
    assert r.headers["Location"] == "/admin/log"  # a page of this site is fine


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


def new_user(client, **fields):
    data = {"username": "op_new", "display_name": "新经办人", "role": "operator",
            "scopes": "workshop:CJ-A1\nemployer:白帝村村民委员会", "password": "secret-pass-1",
            "confirm": "secret-pass-1"} | fields
    return wh.post(client, "/admin/users/new", data)


def test_the_admin_creates_an_operator_who_then_signs_in(web, app, client):
    wh.login(client, "admin")
    r = new_user(client)
    assert r.status_code == 302
    page = text(client.get(r.headers["Location"]))
    assert "已创建用户 op_new（经办人）" in page
    assert "workshop:CJ-A1" in page and f"employer:{wh.BAIDI}" in page and "提示" not in page

    created = user("op_new")
    assert created.role == "operator" and created.display_name == "新经办人"
    assert [scope_text(s) for s in created.scopes] == ["workshop:CJ-A1", f"employer:{wh.BAIDI}"]  # P1: the key
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
    assert "登录失败" in auth and "auditor_fj" in auth and "filler-" not in auth and "越权访问被拒" not in auth
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



# -- failures per client address ------------------------------------------------------------------------

RATE_MESSAGE = "该地址登录失败次数过多，请约 {} 分钟后再试。"


@pytest.fixture
def quick_dummy(monkeypatch):
    """An unknown user name checks a cheap dummy hash here (the real one is scrypt: 0.3 s each)."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr("audit.auth.services._DUMMY_HASH",
                        generate_password_hash("x", method="pbkdf2:sha256:1000"))


def from_address(app, ip: str) -> RequestClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def failures(ip: str) -> list[dt.datetime]:
    from models import SignInFailure

    db.session.rollback()
    return list(db.session.scalars(select(SignInFailure.at).where(SignInFailure.ip == ip)))


def move_failures_back(ip: str, minutes: float) -> None:
    from models import SignInFailure

    db.session.rollback()
    for row in db.session.scalars(select(SignInFailure).where(SignInFailure.ip == ip)):
        row.at -= dt.timedelta(minutes=minutes)
    db.session.commit()


def test_twenty_failures_from_one_address_refuse_even_the_right_password(accounts, app, quick_dummy):
    attacker = from_address(app, "203.0.113.7")
    names = [n for n in wh.USERS if n != "auditor_fj"][:5]
    for i in range(20):  # unknown names and wrong passwords of five accounts (none of them locks)
        name = f"guess-{i}" if i % 2 else names[i // 4]
        r = wh.login(attacker, name, f"wrong-{i}")
        assert r.status_code == 401 and REFUSED in text(r), i
    assert len(failures("203.0.113.7")) == 20

    refused = wh.login(attacker, "auditor_fj")  # the right password of a real account
    assert refused.status_code == 429 and RATE_MESSAGE.format(15) in text(refused)
    assert 14 * 60 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert not signed_in(attacker) and log("auth.login") == []
    wrong = wh.login(attacker, "auditor_fj", "wrong-again")
    assert wrong.status_code == 429
    assert user("auditor_fj").failed_logins == 0  # no password was checked: the account counts nothing
    assert len(failures("203.0.113.7")) == 20  # refusals add no failure

    elsewhere = from_address(app, "198.51.100.9")  # another address is not concerned
    assert wh.login(elsewhere, "auditor_fj").headers["Location"] == "/dashboard/"
    assert signed_in(elsewhere)


def test_the_block_lifts_when_the_window_passes_and_a_success_clears_nothing(accounts, app, quick_dummy):
    app.config.update(SIGNIN_IP_LIMIT=3, SIGNIN_IP_WINDOW_MINUTES=15)
    ip = "203.0.113.8"
    client = from_address(app, ip)
    wh.login(client, "nobody-1", "x")
    wh.login(client, "auditor_fj", "wrong")
    assert wh.login(client, "auditor_ws").status_code == 302  # a success clears nothing
    wh.post(client, "/logout")
    assert wh.login(client, "nobody-2", "x").status_code == 401  # the third failure
    assert wh.login(client, "auditor_ws").status_code == 429

    move_failures_back(ip, 10)
    r = wh.login(client, "auditor_ws")
    assert r.status_code == 429 and RATE_MESSAGE.format(5) in text(r)

    move_failures_back(ip, 5)  # the oldest failure has left the window: one more try
    assert wh.login(client, "auditor_ws").headers["Location"] == "/dashboard/"
    assert signed_in(client)
    assert len(failures(ip)) == 3  # still there: they leave the window on their own


def test_only_the_first_refusal_of_a_window_is_logged(accounts, app, monkeypatch, quick_dummy):
    app.config.update(SIGNIN_IP_LIMIT=2, SIGNIN_IP_WINDOW_MINUTES=15)
    ip = "203.0.113.9"
    client = from_address(app, ip)
    for name in ("nobody-1", "nobody-2"):
        wh.login(client, name, "x")
    for name in ("admin", "nobody-3", "auditor_fj", "admin"):
        assert wh.login(client, name).status_code == 429
    entries = log("auth.rate_limited")
    assert [(e.row_ref, e.actor, e.new["username"]) for e in entries] == [(ip, "anonymous", "admin")]

    other = from_address(app, "198.51.100.10")  # another address: an entry of its own
    for _ in range(3):
        wh.login(other, "nobody", "x")
    assert [e.row_ref for e in log("auth.rate_limited")] == [ip, "198.51.100.10"]

    class Later(dt.datetime):  # 16 minutes on: the first window and its entry are past
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(minutes=16)

    later = type("dt", (), {"datetime": Later, "timedelta": dt.timedelta})
    for module in ("audit.auth.services", "audit.auditlog"):  # the sign-in's clock and the log's
        monkeypatch.setattr(f"{module}.dt", later)
    for name in ("nobody-4", "nobody-5"):
        assert wh.login(client, name, "x").status_code == 401
    for _ in range(3):
        assert wh.login(client, "admin").status_code == 429
    assert [e.row_ref for e in log("auth.rate_limited")] == [ip, "198.51.100.10", ip]


def test_every_kind_of_failure_counts_and_old_rows_are_deleted(accounts, app, quick_dummy):
    from audit.auth.services import set_active
    from models import SignInFailure

    set_active(user("operator_cj"), False, by="test")
    db.session.add(SignInFailure(ip="192.0.2.1", at=dt.datetime.now() - dt.timedelta(days=1, minutes=1)))
    db.session.add(SignInFailure(ip="192.0.2.1", at=dt.datetime.now() - dt.timedelta(hours=23)))
    db.session.commit()
    ip = "203.0.113.10"
    client = from_address(app, ip)
    for i in range(5):
        wh.login(client, "inspector_ws", f"wrong-{i}")  # the fifth locks the account
    assert REFUSED in text(wh.login(client, "inspector_ws"))  # refused: locked
    assert REFUSED in text(wh.login(client, "operator_cj"))  # refused: inactive
    assert [e.new["reason"] for e in log("auth.login_refused")][-2:] == ["locked", "inactive"]
    wh.login(client, "nobody", "x")  # unknown
    assert len(failures(ip)) == 8
    assert len(failures("192.0.2.1")) == 1  # the row older than a day is gone


def test_workers_share_the_count_of_an_address(accounts, app, worker, quick_dummy):
    for a in (app, worker):
        a.config.update(SIGNIN_IP_LIMIT=4)
    ip = "203.0.113.11"
    for i in range(4):
        wh.login(from_address(worker if i % 2 else app, ip), f"nobody-{i}", "x")
    for a in (app, worker):
        r = wh.login(from_address(a, ip), "admin")
        assert r.status_code == 429 and RATE_MESSAGE.format(15) in text(r)
    assert len(log("auth.rate_limited")) == 1
    assert wh.login(from_address(worker, "198.51.100.11"), "admin").status_code == 302


def test_the_limits_come_from_the_environment(monkeypatch, tmp_path):
    from audit.config import from_environment

    given = {"SECRET_KEY": "x", "AUDIT_PII_KEY": "y", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    cfg = from_environment(str(tmp_path), given)
    assert (cfg["SIGNIN_IP_LIMIT"], cfg["SIGNIN_IP_WINDOW_MINUTES"]) == (20, 15)
    monkeypatch.setenv("SIGNIN_IP_LIMIT", "50")
    monkeypatch.setenv("SIGNIN_IP_WINDOW_MINUTES", "30")
    cfg = from_environment(str(tmp_path), given)
    assert (cfg["SIGNIN_IP_LIMIT"], cfg["SIGNIN_IP_WINDOW_MINUTES"]) == (50, 30)


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for_only_when_configured(app, accounts):
    def failed_from(application, forwarded: str) -> str:
        c = RequestClient(application)
        token = wh.csrf_from(c.get("/login").get_data(as_text=True))
        c.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token},
               headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
        db.session.rollback()
        return db.session.scalars(select(ChangeLog).where(ChangeLog.action == "auth.login_failed")
                                  .order_by(ChangeLog.id.desc())).first().new["ip"]

    # served directly: the header is the client's word and is ignored
    assert failed_from(app, "203.0.113.7") == "10.0.0.1"
    proxied = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "SECRET_KEY": app.config["SECRET_KEY"], "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                          "INSTANCE_PATH": app.instance_path, "TESTING": True, "PROXY_FIX_X_FOR": 1})
    try:
        assert failed_from(proxied, "203.0.113.7") == "203.0.113.7"
    finally:
        with proxied.app_context():
            db.engine.dispose()
