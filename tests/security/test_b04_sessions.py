"""B4 (issue 13): at most ``MAX_SESSIONS_PER_USER`` (default 3) signed-in sessions per user. One
more sign-in ends the oldest: that browser is signed out on its next request and told why in
Chinese, and the audit log says so. Sign-out ends the session's row; sessions abandoned (idle past
the timeout) do not count."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from audit.auth.services import create_user
from models import ChangeLog, User, db
from models.accounts import UserSession

from web_helpers import PASSWORD, RequestClient, csrf_from

LIMIT = "同时在线的会话超过 3 个，本会话（最早登录的一个）已结束"


@pytest.fixture(autouse=True)
def accounts(app, quick_hashes):
    app.test_client_class = RequestClient
    create_user("admin", "admin", PASSWORD, by="test")
    create_user("auditor_fj", "auditor", PASSWORD, regions=["奉节县"], by="test")
    create_user("auditor_ws", "auditor", PASSWORD, regions=["巫山县"], by="test")
    db.session.commit()


def text(r) -> str:
    return r.get_data(as_text=True)


def sign_in(app, username: str):
    c = app.test_client()
    page = c.get("/login")
    r = c.post("/login", data={"username": username, "password": PASSWORD,
                               "csrf_token": csrf_from(text(page))})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    return c


def signed_in(client) -> bool:
    return client.get("/dashboard/").status_code == 200


def rows(username: str) -> list[UserSession]:
    db.session.rollback()
    uid = db.session.scalar(select(User.id).where(User.username == username))
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == uid)
                                   .order_by(UserSession.created_at, UserSession.id)))


def test_a_fourth_sign_in_ends_the_first_session(app):
    first, second, third = (sign_in(app, "auditor_fj") for _ in range(3))
    elsewhere = sign_in(app, "auditor_ws")  # another user's sessions do not count
    assert all(signed_in(c) for c in (first, second, third, elsewhere))

    fourth = sign_in(app, "auditor_fj")
    r = first.get("/findings/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert LIMIT in text(first.get(r.headers["Location"]))
    assert not signed_in(first)
    assert all(signed_in(c) for c in (second, third, fourth, elsewhere))

    mine = rows("auditor_fj")
    assert [(s.ended_reason, s.ended_at is not None) for s in mine] == [
        ("limit", True), (None, False), (None, False), (None, False)]
    assert mine[0].ip == "127.0.0.1" and mine[0].user_agent
    db.session.rollback()
    ended = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "auth.session_limit")).all()
    assert [(e.actor, e.row_ref, e.new["limit"]) for e in ended] == [("auditor_fj", "auditor_fj", 3)]
    admin = sign_in(app, "admin")
    assert "同时在线超过 3 个会话，最早的会话" in text(admin.get("/admin/log?action=auth."))
    uid = mine[0].user_id
    # the live ones, on the user's page
    assert text(admin.get(f"/admin/users/{uid}")).count("127.0.0.1 · ") == 3


def test_sign_out_ends_the_row_and_abandoned_sessions_do_not_count(app):
    a = sign_in(app, "auditor_fj")
    r = a.post("/logout", data={"csrf_token": csrf_from(text(a.get("/dashboard/")))})
    assert r.status_code == 302
    assert [s.ended_reason for s in rows("auditor_fj")] == ["logout"]

    old = [sign_in(app, "auditor_fj") for _ in range(3)]
    # the three browsers were closed 40 minutes ago (past the 30-minute idle timeout)
    db.session.execute(update(UserSession).where(UserSession.ended_at.is_(None))
                       .values(last_seen_at=dt.datetime.now() - dt.timedelta(minutes=40)))
    db.session.commit()
    sign_in(app, "auditor_fj")
    assert [s.ended_reason for s in rows("auditor_fj")] == ["logout", "timeout", "timeout", "timeout", None]
    db.session.rollback()
    assert db.session.scalar(select(ChangeLog.id).where(ChangeLog.action == "auth.session_limit")) is None
    assert not signed_in(old[0])


def test_the_limit_is_a_setting(app):
    app.config["MAX_SESSIONS_PER_USER"] = 1
    a = sign_in(app, "auditor_fj")
    b = sign_in(app, "auditor_fj")
    r = a.get("/dashboard/")
    assert r.status_code == 302
    assert "同时在线的会话超过 1 个" in text(a.get(r.headers["Location"]))
    assert signed_in(b)

    app.config["MAX_SESSIONS_PER_USER"] = 0  # no limit
    many = [sign_in(app, "auditor_fj") for _ in range(5)]
    assert all(signed_in(c) for c in [b, *many])


def test_a_session_without_its_row_is_signed_out(app):
    """A cookie from before the sessions were rows (or whose row was deleted) is no session."""
    a = sign_in(app, "auditor_fj")
    with a.session_transaction() as sess:
        sess.pop("sid")
    r = a.get("/dashboard/")
    assert r.status_code == 302 and "您的登录已失效，请重新登录" in text(a.get(r.headers["Location"]))
    assert not signed_in(a)


def test_a_session_kept_across_a_password_change_stays_counted(app):
    """The own password change keeps this session (with the new session_version): its row follows."""
    a = sign_in(app, "auditor_fj")
    token = csrf_from(text(a.get("/password")))
    r = a.post("/password", data={"current": PASSWORD, "password": "Lantern-river-73",
                                  "confirm": "Lantern-river-73", "csrf_token": token})
    assert r.status_code == 302 and signed_in(a)
    version = db.session.scalar(select(User.session_version).where(User.username == "auditor_fj"))
    assert [(s.session_version, s.ended_at) for s in rows("auditor_fj")] == [(version, None)]
