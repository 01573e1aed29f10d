"""The limit of sign-in failures per client address, held in the database so that every worker sees
it: twenty failures refuse even the right password until the window passes; behind a proxy the
address comes from X-Forwarded-For only when configured."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit import create_app
from models import ChangeLog, db

import web_helpers as wh
from auth_web import RATE_MESSAGE, REFUSED, failures, from_address, log, move_failures_back, signed_in, text
from web_helpers import RequestClient, user

pytestmark = pytest.mark.usefixtures("requests_apart", "quick_hashes")

# -- failures per client address ------------------------------------------------------------------------

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
                          "SECRET_KEY": app.config["SECRET_KEY"],
                          "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                          "INSTANCE_PATH": app.instance_path, "TESTING": True, "PROXY_FIX_X_FOR": 1})
    try:
        assert failed_from(proxied, "203.0.113.7") == "203.0.113.7"
    finally:
        with proxied.app_context():
            db.engine.dispose()
