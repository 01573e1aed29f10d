"""Sign-in, the lock after five wrong passwords and the limit of failures per client address (both
held in the database, so every worker sees them), the idle timeout, sign-out that voids the cookie,
CSRF, security headers, open redirects, and the administration of users (admins only)."""
from __future__ import annotations

import datetime as dt

import pytest

from models import db

import web_helpers as wh
from auth_web import COOKIE, CSRF_MESSAGE, IDLE_MESSAGE, REFUSED, fresh, log, set_seen, signed_in, text
from web_helpers import user

pytestmark = pytest.mark.usefixtures("requests_apart", "quick_hashes")

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
