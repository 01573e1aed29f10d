"""P2 (issue 13): a session ends ``SESSION_MAX_HOURS`` (default 12) after sign-in, however active it
is: the idle timeout alone would let a busy (or a stolen, kept-alive) session live for ever."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from models import ChangeLog, db

import web_helpers as wh
from web_helpers import RequestClient

COOKIE = "audit_session"


@pytest.fixture(autouse=True)
def _requests_apart(app, quick_hashes):
    app.test_client_class = RequestClient
    wh.create_users(app)


def signed_in_at(client, hours_ago: float) -> None:
    """Sign-in that many hours ago, active a moment ago (the idle timeout is not what ends it)."""
    with client.session_transaction() as sess:
        sess["since"] = int(time.time() - hours_ago * 3600)
        sess["seen"] = int(time.time()) - 60


def test_a_session_ends_twelve_hours_after_sign_in_even_if_active(app, client):
    assert wh.login(client, "auditor_fj").status_code == 302
    signed_in_at(client, 11.9)
    assert client.get("/dashboard/").status_code == 200  # under 12 hours: still there

    copied = app.test_client()  # the cookie as it was, copied before the end
    copied.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    signed_in_at(client, 12.05)
    r = client.get("/dashboard/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert ("登录已满 12 小时，为安全起见请重新登录" in client.get(r.headers["Location"])
            .get_data(as_text=True))
    assert client.get("/dashboard/").status_code == 302
    assert copied.get("/dashboard/").status_code == 302  # every copy of the session ended with it
    db.session.rollback()
    ended = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "auth.expired"))
    assert [e.row_ref for e in ended] == ["auditor_fj"]
    admin = app.test_client()
    wh.login(admin, "admin")
    assert "登录已满规定时长，被自动退出登录" in admin.get("/admin/log?action=auth.").get_data(as_text=True)

    assert wh.login(client, "auditor_fj").status_code == 302  # signing in again starts a new session
    assert client.get("/dashboard/").status_code == 200


def test_the_lifetime_is_a_setting(app, client):
    app.config["SESSION_MAX_HOURS"] = 2
    wh.login(client, "auditor_fj")
    signed_in_at(client, 1.9)
    assert client.get("/dashboard/").status_code == 200
    signed_in_at(client, 2.1)
    r = client.get("/dashboard/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert "登录已满 2 小时" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_the_sign_in_page_says_so(client):
    assert "登录满 12 小时须重新登录" in client.get("/login").get_data(as_text=True)
