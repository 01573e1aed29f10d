"""B3 (issue 13): a refused sign-in answers one message whatever the reason — unknown name, wrong
password, locked account, deactivated account — so the page tells nobody which accounts exist or
what state they are in; the reason is in the audit log only. Each refusal costs the same password
hash work, so the time taken tells nothing either. The per-address limit keeps its own message (it
names no account)."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import ChangeLog, User, db

from web_helpers import PASSWORD, login

MESSAGE = "用户名或密码错误，或账户暂不可用"


def alert(resp) -> str:
    """The error shown on the sign-in page."""
    m = re.search(r'role="alert">([^<]*)<', resp.get_data(as_text=True))
    return m.group(1).strip() if m else ""


def refusals() -> list[tuple[str, str]]:
    db.session.rollback()
    return [(e.row_ref, (e.new or {}).get("reason")
             or ("locked" if (e.new or {}).get("locked") else "password"))
            for e in db.session.scalars(select(ChangeLog).where(
                ChangeLog.action.in_(("auth.login_failed", "auth.login_refused"))).order_by(ChangeLog.id))]


def make_users(app) -> None:
    from audit.auth.services import create_user, set_active

    for name in ("locked_one", "inactive_one", "plain_one"):
        create_user(name, "auditor", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    set_active(db.session.scalar(select(User).where(User.username == "inactive_one")), False, by="test")
    db.session.commit()


def lock(app, name: str) -> None:
    for i in range(5):
        login(app.test_client(), name, f"wrong-{i}")


def test_every_refused_sign_in_says_the_same(app, quick_hashes):
    app.config["SIGNIN_IP_LIMIT"] = 0  # the per-address limit is not what this test is about
    make_users(app)
    lock(app, "locked_one")
    answers = {
        "unknown": login(app.test_client(), "nobody_here", PASSWORD),
        "wrong password": login(app.test_client(), "plain_one", "not-the-password"),
        "locked": login(app.test_client(), "locked_one", PASSWORD),  # the right password, locked
        "inactive": login(app.test_client(), "inactive_one", PASSWORD),  # the right password, deactivated
    }
    shown = {why: alert(r) for why, r in answers.items()}
    assert all(MESSAGE in text for text in shown.values()), shown
    assert len(set(shown.values())) == 1, shown  # not a character apart
    assert {r.status_code for r in answers.values()} == {401}
    for r in answers.values():
        page = r.get_data(as_text=True)
        assert "锁定" not in alert(r) and "停用" not in alert(r) and "再错" not in page
    # the log still tells them apart
    log = refusals()
    assert ("nobody_here", "unknown user") in log
    assert ("plain_one", "password") in log
    assert ("locked_one", "locked") in log
    assert ("inactive_one", "inactive") in log
    # and the right password still signs in
    assert login(app.test_client(), "plain_one", PASSWORD).status_code == 302


def test_the_address_limit_keeps_its_own_message(app, quick_hashes):
    app.config.update(SIGNIN_IP_LIMIT=3, SIGNIN_IP_WINDOW_MINUTES=15)
    make_users(app)
    for i in range(3):
        login(app.test_client(), "nobody_here", f"x{i}")
    r = login(app.test_client(), "plain_one", PASSWORD)
    assert r.status_code == 429 and "该地址登录失败次数过多" in alert(r)


def test_each_refusal_costs_the_same_hash_work(app, monkeypatch):
    """Real password hashes (no quick_hashes): an unknown name, a locked or a deactivated account
    each cost one password check of the same kind and cost as a wrong password for a known name, so
    the time taken does not tell them apart (timed: too noisy on a shared machine to assert)."""
    import audit.auth.services as services

    app.config["SIGNIN_IP_LIMIT"] = 0
    make_users(app)
    lock(app, "locked_one")
    checked: list[str] = []
    real = services.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])  # the method and its cost, e.g. scrypt:32768:8:1
        return real(pwhash, password)

    monkeypatch.setattr(services, "check_password_hash", counting)
    work = {}
    for why, name, password in (("wrong password", "plain_one", "not-the-password"),
                                ("unknown", "nobody_here", PASSWORD), ("locked", "locked_one", PASSWORD),
                                ("inactive", "inactive_one", PASSWORD)):
        checked.clear()
        assert login(app.test_client(), name, password).status_code == 401
        work[why] = list(checked)
    assert len(work["wrong password"]) == 1, work
    assert all(w == work["wrong password"] for w in work.values()), work
