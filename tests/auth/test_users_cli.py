"""``audit users``: create users with a role and scopes (the password from standard input), list
them, reset a password, change scopes, unlock; every refusal in Chinese with a non-zero exit."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit.access import Scope
from audit.auth.services import scope_text
from models import ChangeLog, User, db

import web_helpers as wh

SECRET = "secret-pass-1"


pytestmark = pytest.mark.usefixtures("requests_apart")


def user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


def test_a_user_created_on_the_command_line_signs_in_on_the_web(runner, client):
    result = runner.invoke("users", "create", "li_fj", "--role", "auditor", "--region", "奉节县",
                           "--name", "李审计", input=f"{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "已创建用户 li_fj（审计人员）" in result.output

    u = user("li_fj")
    assert (u.role, u.display_name, [scope_text(s) for s in u.scopes]) == ("auditor", "李审计", ["奉节县"])
    assert SECRET not in u.password_hash  # stored as a hash
    entry = db.session.scalar(select(ChangeLog).where(ChangeLog.action == "user.create"))
    assert entry.row_ref == "li_fj" and entry.actor.startswith("cli")

    signed_in = wh.login(client, "li_fj", SECRET)
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/dashboard/")
    assert wh.login(client.application.test_client(), "li_fj", "wrong-password").status_code == 401


@pytest.mark.parametrize("args, stdin, message", [
    (["--role", "chief", "--region", "奉节县"], SECRET, "未知角色 chief"),
    (["--region", "奉节县"], SECRET, "请用 --role 指定角色"),
    (["--role", "auditor"], SECRET, "至少需要一个范围"),
    (["--role", "inspector", "--region", "奉节县"], "short", "密码至少 12 位"),
    (["--role", "auditor", "--region", "奉节县"], "", "密码至少 12 位"),
    (["--role", "operator", "--region", "奉节县"], SECRET, "经办人的范围是单位"),
    (["--role", "auditor", "--unit", "workshop:CJ-A1"], SECRET, "只有经办人按单位划定范围"),
    (["--role", "operator", "--unit", "factory:CJ-A1"], SECRET, "应写作 workshop:车间编号"),
    (["--role", "auditor", "--region", "奉节县//白帝村"], SECRET, "缺少乡镇"),
])
def test_a_refused_user_gives_a_chinese_error_and_a_non_zero_exit(runner, args, stdin, message):
    result = runner.invoke("users", "create", "wang", *args, input=f"{stdin}\n")
    assert result.exit_code != 0
    assert message in result.output
    assert "错误：" in result.output and "Error" not in result.output
    assert user("wang") is None


def test_a_user_name_is_taken_only_once(runner):
    assert runner.invoke("users", "create", "zhao", "--role", "admin", input=f"{SECRET}\n").exit_code == 0
    again = runner.invoke("users", "create", "zhao", "--role", "admin", input=f"{SECRET}\n")
    assert again.exit_code != 0 and "用户名 zhao 已存在" in again.output


def test_an_operator_is_scoped_to_its_unit(runner, client):
    result = runner.invoke("users", "create", "cj_a1", "--role", "operator", "--unit", "workshop:CJ-A1",
                           "--unit", "employer:白帝村村民委员会", input=f"{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "经办人" in result.output

    scope = Scope.of(user("cj_a1"))
    # no ledger is loaded: the bare name is kept, and counts once exactly one unit bears it (P1)
    assert (scope.workshop_codes, scope.employers, scope.regions) == (["CJ-A1"], [], ())
    assert wh.login(client, "cj_a1", SECRET).status_code == 302


def test_the_list_shows_every_user_with_role_and_scopes(runner):
    for args in (["admin_city", "--role", "admin"],
                 ["li_fj", "--role", "auditor", "--region", "奉节县", "--region", "巫山县/巫峡镇"],
                 ["cj_a1", "--role", "operator", "--unit", "workshop:CJ-A1"]):
        assert runner.invoke("users", "create", *args, input=f"{SECRET}\n").exit_code == 0

    listed = runner.invoke("users", "list")
    assert listed.exit_code == 0, listed.output
    lines = {line.split("\t")[0]: line.split("\t")[1:] for line in listed.output.splitlines()}
    assert lines == {
        "admin_city": ["管理员", "全部"],
        "cj_a1": ["经办人", "workshop:CJ-A1"],
        "li_fj": ["审计人员", "奉节县，巫山县/巫峡镇"],
    }


def test_passwd_scopes_and_unlock(runner, client):
    assert runner.invoke("users", "create", "li_fj", "--role", "auditor", "--region", "奉节县",
                         input=f"{SECRET}\n").exit_code == 0

    short = runner.invoke("users", "passwd", "li_fj", input="abc\n")
    assert short.exit_code != 0 and "密码至少 12 位" in short.output
    assert runner.invoke("users", "passwd", "li_fj", input="new-secret-2\n").exit_code == 0
    assert wh.login(client, "li_fj", SECRET).status_code == 401
    assert wh.login(client.application.test_client(), "li_fj", "new-secret-2").status_code == 302

    moved = runner.invoke("users", "scopes", "li_fj", "--region", "巫山县")
    assert moved.exit_code == 0 and "巫山县" in moved.output
    assert [scope_text(s) for s in user("li_fj").scopes] == ["巫山县"]
    none = runner.invoke("users", "scopes", "li_fj")
    assert none.exit_code != 0 and "至少需要一个范围" in none.output

    u = user("li_fj")
    u.locked_until = dt.datetime.now() + dt.timedelta(minutes=10)
    db.session.commit()
    assert "锁定至" in runner.invoke("users", "list").output
    assert runner.invoke("users", "unlock", "li_fj").exit_code == 0
    assert user("li_fj").locked_until is None
    assert wh.login(client.application.test_client(), "li_fj", "new-secret-2").status_code == 302

    missing = runner.invoke("users", "unlock", "nobody")
    assert missing.exit_code != 0 and "没有用户 nobody" in missing.output
