"""B4 (issue 13): one password policy for every way a password is set — an admin creating a user
or resetting a password, the user changing their own (a page linked from the header), and
``audit users create|passwd``: at least 12 characters, no common password or common pattern, not the
user name, none of the user's last 5; an optional maximum age after which the user must change it."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import select

from models import ChangeLog, db

import web_helpers as wh
from web_helpers import user

SHORT = "密码至少 12 位"
COMMON = "密码过于常见"
NAME = "密码不能包含用户名"
REUSED = "新密码不能与最近 5 次使用过的密码相同"
# common passwords and Chinese patterns, each at least 12 characters (the length rule does not catch them)
WEAK = ["123456789012", "qwertyuiop12", "woaini1314520", "Password2024!", "P@ssw0rd12345", "abcabcabcabc",
        "1qaz2wsx3edc", "iloveyou1234", "5201314woaini", "aaaaaaaaaaaa", "111111111111"]


pytestmark = pytest.mark.usefixtures("requests_apart", "quick_hashes")


def text(r) -> str:
    return r.get_data(as_text=True)


def signed_in(client) -> bool:
    r = client.get("/dashboard/")
    return r.status_code == 200


@pytest.mark.parametrize("password, message", [("short-pass1", SHORT), *((w, COMMON) for w in WEAK),
                                               ("zhou_ming-2024", NAME), ("GNIM_UOHZ-secret", NAME)])
def test_the_cli_and_the_admin_page_refuse_a_weak_password_naming_the_rule(accounts, app, runner, password,
                                                                            message):
    created = runner.invoke("users", "create", "zhou_ming", "--role", "auditor", "--region", "奉节县",
                            input=f"{password}\n")
    assert created.exit_code != 0 and message in created.output and "错误：" in created.output
    assert user("zhou_ming") is None

    admin = app.test_client()
    wh.login(admin, "admin")
    r = wh.post(admin, "/admin/users/new", {"username": "zhou_ming", "role": "auditor", "scopes": "奉节县",
                                            "password": password, "confirm": password})
    assert r.status_code == 400 and message in text(r) and user("zhou_ming") is None
    uid = user("auditor_fj").id
    # the same password for an existing user: the name rule with the target's own name
    reset = password.replace("zhou_ming", "auditor_fj").replace("GNIM_UOHZ", "JF_ROTIDUA")
    r = wh.post(admin, f"/admin/users/{uid}/password", {"password": reset, "confirm": reset})
    assert r.status_code == 400 and message in text(r)
    assert wh.login(app.test_client(), "auditor_fj").status_code == 302  # the old password still holds


def test_a_good_password_is_taken_everywhere(accounts, app, runner):
    good = "Lantern-river-73"
    created = runner.invoke("users", "create", "zhou_ming", "--role", "auditor", "--region", "奉节县",
                            input=f"{good}\n")
    assert created.exit_code == 0, created.output
    assert wh.login(app.test_client(), "zhou_ming", good).status_code == 302


def test_the_user_changes_their_own_password_from_the_header(accounts, app):
    me, other = app.test_client(), app.test_client()
    wh.login(me, "auditor_fj")
    wh.login(other, "auditor_fj")  # the same user signed in elsewhere
    page = text(me.get("/dashboard/"))
    assert 'href="/password"' in page and "修改密码" in page

    form = text(me.get("/password"))
    assert "当前密码" in form and "新密码" in form
    wrong = wh.post(me, "/password", {"current": "not-my-password", "password": "Lantern-river-73",
                                      "confirm": "Lantern-river-73"}, )
    assert wrong.status_code == 400 and "当前密码不正确" in text(wrong)
    common = wh.post(me, "/password", {"current": wh.PASSWORD, "password": "qwertyuiop12",
                                       "confirm": "qwertyuiop12"})
    assert common.status_code == 400 and COMMON in text(common)
    named = wh.post(me, "/password", {"current": wh.PASSWORD, "password": "auditor_fj-2026!",
                                      "confirm": "auditor_fj-2026!"})
    assert named.status_code == 400 and NAME in text(named)
    same = wh.post(me, "/password", {"current": wh.PASSWORD, "password": wh.PASSWORD, "confirm": wh.PASSWORD})
    assert same.status_code == 400 and REUSED in text(same)
    forged = me.post("/password", data={"current": wh.PASSWORD, "password": "Lantern-river-73",
                                        "confirm": "Lantern-river-73"})
    assert forged.status_code == 400 and "表单的安全校验未通过" in text(forged)
    assert signed_in(other)  # nothing changed so far

    r = wh.post(me, "/password", {"current": wh.PASSWORD, "password": "Lantern-river-73",
                                  "confirm": "Lantern-river-73"})
    assert r.status_code == 302
    assert "密码已修改" in text(me.get(r.headers["Location"]))
    assert signed_in(me)  # this session stays
    assert not signed_in(other)  # every other one ended
    assert wh.login(app.test_client(), "auditor_fj").status_code == 401
    assert wh.login(app.test_client(), "auditor_fj", "Lantern-river-73").status_code == 302
    db.session.rollback()
    entries = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "user.password_change")).all()
    assert [(e.actor, e.row_ref) for e in entries] == [("auditor_fj", "auditor_fj")]
    admin = app.test_client()
    wh.login(admin, "admin")
    assert "修改自己的密码" in text(admin.get("/admin/log?action=user."))


def test_none_of_the_last_five_passwords_comes_back(accounts, runner):
    passwords = [f"Lantern-river-{n}{n}" for n in range(1, 7)]
    for p in passwords[:5]:  # after the first (web_helpers.PASSWORD): five more
        assert runner.invoke("users", "passwd", "auditor_fj", input=f"{p}\n").exit_code == 0
    for p in passwords[:5]:  # the current one and the four before it
        again = runner.invoke("users", "passwd", "auditor_fj", input=f"{p}\n")
        assert again.exit_code != 0 and REUSED in again.output, p
    # the sixth back is allowed again
    assert runner.invoke("users", "passwd", "auditor_fj", input=f"{wh.PASSWORD}\n").exit_code == 0


def test_an_expired_password_must_be_changed_before_anything_else(accounts, app):
    app.config["PASSWORD_MAX_AGE_DAYS"] = 90
    u = user("auditor_fj")
    u.password_changed_at = dt.datetime.now() - dt.timedelta(days=91)
    db.session.commit()
    fresh = app.test_client()
    assert wh.login(fresh, "auditor_bd").headers["Location"] == "/dashboard/"  # a younger password

    me = app.test_client()
    r = wh.login(me, "auditor_fj")
    assert r.status_code == 302 and r.headers["Location"] == "/password"
    assert "您的密码已超过 90 天未修改" in text(me.get("/password"))
    for path in ("/dashboard/", "/findings/", "/reports/"):
        r = me.get(path)
        assert r.status_code == 302 and r.headers["Location"] == "/password", path
    r = me.post("/password", data={"current": wh.PASSWORD, "password": "Lantern-river-73",
                                   "confirm": "Lantern-river-73", "csrf_token": wh.token(me, "/password")})
    assert r.status_code == 302
    assert me.get("/dashboard/").status_code == 200

    app.config["PASSWORD_MAX_AGE_DAYS"] = 0  # off: however old the password
    u = user("auditor_bd")
    u.password_changed_at = dt.datetime.now() - dt.timedelta(days=3000)
    db.session.commit()
    assert wh.login(app.test_client(), "auditor_bd").headers["Location"] == "/dashboard/"


def test_demo_accounts_pass_the_policy(runner, app):
    from audit.auth.policy import problem

    for _ in range(500):  # how demo-users makes its passwords
        assert problem(secrets.token_urlsafe(9), "operator") is None
    made = runner.invoke("demo-users")
    assert made.exit_code == 0, made.output
    line = next(x for x in made.output.splitlines() if x.strip().startswith("admin "))
    password = line.split()[1]
    assert wh.login(app.test_client(), "admin", password).status_code == 302
