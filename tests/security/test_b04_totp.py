"""B4 (issue 13): a TOTP second factor. A user enrols at /account/totp (a QR code made on the
server, the secret as text, a first code to confirm, ten recovery codes shown once); from then on
every sign-in asks for a code after the password, whatever the settings. ``TOTP_ENFORCE`` makes
the roles of ``TOTP_REQUIRED_ROLES`` (admin, auditor) enrol before doing anything else. Wrong codes
count like wrong passwords; a code works once; an admin (or ``audit users totp-reset``) resets a
lost phone. The codes are computed here with pyotp, as a phone's app would."""
from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from audit.auth import totp
from audit.auth.services import create_user
from models import ChangeLog, db

from web_helpers import PASSWORD, RequestClient, csrf_from, user

WRONG = "验证码不正确，或账户暂不可用。"
SIGN_IN_FAILED = "用户名或密码错误，或账户暂不可用。"


class Clock:
    """The time the TOTP checks see (a phone's app and the server agree on it)."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def later(self, seconds: float = 30) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(totp, "time", c)
    return c


@pytest.fixture(autouse=True)
def accounts(app, quick_hashes):
    app.test_client_class = RequestClient
    create_user("admin", "admin", PASSWORD, by="test")
    create_user("auditor_fj", "auditor", PASSWORD, regions=["奉节县"], by="test")
    create_user("inspector_fj", "inspector", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()


def text(r) -> str:
    return r.get_data(as_text=True)


def password_step(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(text(page))})


def code_step(client, code: str):
    page = client.get("/login/totp")
    assert page.status_code == 200, page.status_code
    return client.post("/login/totp", data={"code": code, "csrf_token": csrf_from(text(page))})


def sign_in(client, username: str, code: str | None = None):
    r = password_step(client, username)
    if code is None:
        return r
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/totp"), r.headers.get("Location")
    return code_step(client, code)


def signed_in(client) -> bool:
    return client.get("/dashboard/").status_code == 200


def enrol(client, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol the signed-in user as a person would: read the secret off the page, type the code."""
    page = client.get("/account/totp")
    assert page.status_code == 200
    html = text(page)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    app_ = pyotp.TOTP(secret)
    r = client.post("/account/totp", data={"code": app_.at(clock.now), "csrf_token": csrf_from(html)})
    assert r.status_code == 200 and "两步验证已启用" in text(r)
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", text(r))
    return app_, codes


def actions(name: str) -> list[ChangeLog]:
    db.session.rollback()
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.action == name).order_by(ChangeLog.id)))


def test_enrolment_shows_a_qr_code_made_here_and_keeps_the_secret_encrypted(app, client, clock):
    sign_in(client, "auditor_fj")
    html = text(client.get("/account/totp"))
    assert "<svg" in html and 'class="totp-qr"' in html and "<img" not in html  # inline, made on the server
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert len(secret) == 32
    assert secret in text(client.get("/account/totp")).replace(" ", "")  # a reload shows the same secret
    wrong = client.post("/account/totp", data={"code": "000000", "csrf_token": csrf_from(html)})
    assert wrong.status_code == 400 and "验证码不正确" in text(wrong)
    assert not user("auditor_fj").totp_enrolled

    app_ = pyotp.TOTP(secret)
    r = client.post("/account/totp", data={"code": app_.at(clock.now), "csrf_token": csrf_from(html)})
    assert r.status_code == 200 and "只显示这一次" in text(r)
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", text(r))
    assert len(set(codes)) == 10
    u = user("auditor_fj")
    assert u.totp_enrolled and secret not in u.totp_secret_enc
    assert app.extensions["pii"].decrypt(u.totp_secret_enc) == secret
    assert [e.actor for e in actions("user.totp_enrol")] == ["auditor_fj"]
    assert signed_in(client)  # the session that enrolled stays
    assert "剩余恢复码" in text(client.get("/account/totp"))  # and the page now tells the state


def test_an_enrolled_user_must_enter_a_right_code_and_each_code_works_once(app, clock):
    me = app.test_client()
    sign_in(me, "auditor_fj")
    app_, _ = enrol(me, clock)
    enrolled_with = app_.at(clock.now)

    other = app.test_client()
    r = password_step(other, "auditor_fj")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/totp")
    assert not signed_in(other)  # the password alone signs no one in
    page = text(other.get("/login/totp"))
    assert "两步验证" in page and 'autocomplete="one-time-code"' in page

    wrong = code_step(other, "123456" if app_.at(clock.now) != "123456" else "654321")
    assert wrong.status_code == 401 and WRONG in text(wrong) and not signed_in(other)
    replay = code_step(other, enrolled_with)  # the code that confirmed the enrolment, seen over a shoulder
    assert replay.status_code == 401 and WRONG in text(replay) and not signed_in(other)

    clock.later(30)
    fresh = app_.at(clock.now)
    r = code_step(other, fresh)
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    assert signed_in(other)

    third = app.test_client()
    assert sign_in(third, "auditor_fj", fresh).status_code == 401  # used already
    clock.later(30)
    assert sign_in(third, "auditor_fj", app_.at(clock.now)).status_code == 302 and signed_in(third)

    failed = actions("auth.totp_failed")
    # two wrong, then a sign-in (the count cleared), then the used code once more
    assert [(e.row_ref, e.new["failures"]) for e in failed] == [("auditor_fj", 1), ("auditor_fj", 2),
                                                               ("auditor_fj", 1)]
    logins = [e.new.get("second_factor") for e in actions("auth.login")]
    assert logins[-2:] == ["totp", "totp"]
    assert user("auditor_fj").failed_logins == 0  # a complete sign-in clears the count


def test_a_recovery_code_signs_in_once(app, clock):
    me = app.test_client()
    sign_in(me, "admin")
    _, codes = enrol(me, clock)

    phone_lost = app.test_client()
    r = sign_in(phone_lost, "admin", codes[3].upper().replace("-", " "))  # as typed off paper
    assert r.status_code == 302 and signed_in(phone_lost)
    used = actions("auth.recovery_code_used")
    assert [(e.actor, e.new["left"]) for e in used] == [("admin", 9)]

    again = app.test_client()
    r = sign_in(again, "admin", codes[3])
    assert r.status_code == 401 and WRONG in text(r) and not signed_in(again)
    assert sign_in(again, "admin", codes[4]).status_code == 302 and signed_in(again)
    # the admin's log names how each sign-in was completed, in words
    log = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(again.get("/admin/log?action=auth.login"))))
    assert "第二步验证" in log and "恢复码" in log and "recovery" not in log


def test_wrong_codes_lock_the_account_like_wrong_passwords(app, clock):
    me = app.test_client()
    sign_in(me, "auditor_fj")
    app_, _ = enrol(me, clock)
    attacker = app.test_client()
    for _ in range(3):
        assert sign_in(attacker, "auditor_fj", "000000").status_code == 401
    # the right password again does not clear the count (it would give endless tries at the code)
    for _ in range(2):
        assert sign_in(attacker, "auditor_fj", "000000").status_code == 401
    u = user("auditor_fj")
    assert u.locked_until is not None
    assert actions("auth.totp_failed")[-1].new == {**actions("auth.totp_failed")[-1].new, "locked": True}

    clock.later(30)
    owner = app.test_client()
    r = password_step(owner, "auditor_fj")  # locked: the password step refuses with the one message
    assert r.status_code == 401 and SIGN_IN_FAILED in text(r)
    assert not signed_in(owner)


def test_wrong_codes_count_against_the_address(app, clock):
    app.config["SIGNIN_IP_LIMIT"] = 3
    me = app.test_client()
    sign_in(me, "auditor_fj")
    enrol(me, clock)
    attacker = app.test_client()
    assert password_step(attacker, "auditor_fj").status_code == 302
    for _ in range(3):
        assert code_step(attacker, "000000").status_code == 401
    r = code_step(attacker, "000000")
    assert r.status_code == 429 and "登录失败次数过多" in text(r) and "Retry-After" in r.headers


def test_the_code_must_come_within_five_minutes(app, clock):
    me = app.test_client()
    sign_in(me, "auditor_fj")
    app_, _ = enrol(me, clock)
    other = app.test_client()
    password_step(other, "auditor_fj")
    token = csrf_from(text(other.get("/login/totp")))
    with other.session_transaction() as sess:
        sess["totp_pending"] = {**sess["totp_pending"], "at": sess["totp_pending"]["at"] - 301}
    clock.later(30)
    r = other.post("/login/totp", data={"code": app_.at(clock.now), "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert "输入验证码超时（5 分钟）" in text(other.get("/login"))
    assert not signed_in(other)


def test_enforced_roles_enrol_before_anything_else(app, clock):
    app.config["TOTP_ENFORCE"] = True
    auditor = app.test_client()
    r = sign_in(auditor, "auditor_fj")
    assert r.status_code == 302 and r.headers["Location"] == "/account/totp"
    for path in ("/dashboard/", "/findings/", "/admin/users"):
        r = auditor.get(path)
        assert r.status_code == 302 and r.headers["Location"] == "/account/totp", path
    page = text(auditor.get("/account/totp"))
    assert "您的角色（审计人员）须启用两步验证" in page
    assert auditor.get("/password").status_code == 200  # changing the password is allowed meanwhile
    enrol(auditor, clock)
    assert signed_in(auditor)

    inspector = app.test_client()  # not a required role: signs in with the password
    assert sign_in(inspector, "inspector_fj").headers["Location"] == "/dashboard/" and signed_in(inspector)

    app.config["TOTP_REQUIRED_ROLES"] = "admin,auditor,inspector"
    assert inspector.get("/dashboard/").headers["Location"] == "/account/totp"
    app.config["TOTP_ENFORCE"] = False
    assert signed_in(inspector)


def test_an_enrolled_user_is_asked_for_the_code_whatever_the_settings(app, clock):
    app.config["TOTP_ENFORCE"] = True
    me = app.test_client()
    sign_in(me, "inspector_fj")
    enrol(me, clock)  # enrolled of their own will
    for enforce, roles in ((True, "admin,auditor"), (False, "")):
        app.config.update(TOTP_ENFORCE=enforce, TOTP_REQUIRED_ROLES=roles)
        c = app.test_client()
        r = password_step(c, "inspector_fj")
        assert r.headers["Location"].endswith("/login/totp") and not signed_in(c)


def test_disabling_needs_the_password_and_a_code(app, clock):
    me = app.test_client()
    sign_in(me, "auditor_fj")
    app_, _ = enrol(me, clock)
    clock.later(30)
    page = text(me.get("/account/totp"))
    token = csrf_from(page)
    r = me.post("/account/totp/disable", data={"password": "not-my-password", "code": app_.at(clock.now),
                                                "csrf_token": token})
    assert r.status_code == 400 and "当前密码不正确" in text(r)
    r = me.post("/account/totp/disable", data={"password": PASSWORD, "code": "000000", "csrf_token": token})
    assert r.status_code == 400 and "验证码不正确" in text(r)
    assert user("auditor_fj").totp_enrolled and user("auditor_fj").failed_logins == 2
    r = me.post("/account/totp/disable", data={"password": PASSWORD, "code": app_.at(clock.now),
                                                "csrf_token": token})
    assert r.status_code == 302
    assert not user("auditor_fj").totp_enrolled and user("auditor_fj").totp_secret_enc is None
    assert [e.actor for e in actions("user.totp_disable")] == ["auditor_fj"]
    c = app.test_client()
    assert sign_in(c, "auditor_fj").headers["Location"] == "/dashboard/" and signed_in(c)


def test_an_admin_resets_a_lost_phone_and_it_is_logged(app, clock, runner):
    auditor = app.test_client()
    sign_in(auditor, "auditor_fj")
    enrol(auditor, clock)
    admin = app.test_client()
    sign_in(admin, "admin")
    uid = user("auditor_fj").id
    page = text(admin.get(f"/admin/users/{uid}"))
    assert "两步验证" in page and "已启用" in page and "重置两步验证" in page
    r = admin.post(f"/admin/users/{uid}/totp-reset", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    assert "已重置 auditor_fj 的两步验证" in text(admin.get(r.headers["Location"]))
    assert not signed_in(auditor)  # every session of theirs ended
    assert [(e.actor, e.row_ref) for e in actions("user.totp_reset")] == [("admin", "auditor_fj")]
    assert "重置用户 auditor_fj 的两步验证" in text(admin.get("/admin/log?action=user."))
    assert admin.post(f"/admin/users/{uid}/totp-reset").status_code == 400  # no CSRF token

    app.config["TOTP_ENFORCE"] = True  # enforced: the next sign-in enrols again
    r = sign_in(auditor, "auditor_fj")
    assert r.headers["Location"] == "/account/totp"
    clock.later(30)
    enrol(auditor, clock)

    db.session.rollback()  # the command runs in this test's context: no snapshot of before the enrolment
    done = runner.invoke("users", "totp-reset", "auditor_fj")
    assert done.exit_code == 0 and "已重置 auditor_fj 的两步验证" in done.output
    assert not user("auditor_fj").totp_enrolled
    again = runner.invoke("users", "totp-reset", "auditor_fj")
    assert again.exit_code != 0 and "尚未启用两步验证" in again.output
    assert [e.actor.startswith("cli:") for e in actions("user.totp_reset")] == [False, True]


def test_a_key_rotation_keeps_the_secrets(app, clock):
    from audit.keys.services import rotate
    from audit.pii import PiiCodec

    me = app.test_client()
    sign_in(me, "auditor_fj")
    app_, _ = enrol(me, clock)
    new = PiiCodec("a-new-personal-data-key-0123456789-abcdefghijklmn")
    result = rotate(db.engine, app.extensions["pii"], new, actor="test")
    assert result.rows["users"] == 1
    app.extensions["pii"] = new
    assert new.decrypt(user("auditor_fj").totp_secret_enc) == app_.secret
    clock.later(30)
    c = app.test_client()
    assert sign_in(c, "auditor_fj", app_.at(clock.now)).status_code == 302 and signed_in(c)
