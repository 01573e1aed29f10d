"""``audit users create|list|passwd|scopes|unlock|totp-reset``: every message in Chinese, a non-zero
exit code on any refusal. A password is read from standard input and held to the same policy as on
the web (``audit.auth.policy``: length, common passwords, the user name, the last five)."""
from __future__ import annotations

import datetime as dt
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import ROLES, User, db

ROLE_HELP = "角色：" + "、".join(f"{k}（{v}）" for k, v in ROLES.items())


class UsersError(click.ClickException):
    """A refusal, shown as 「错误：…」 (click's own prefix is English)."""

    def show(self, file=None) -> None:
        click.echo(f"错误：{self.format_message()}", err=True)


def _read_password(prompt: bool) -> str:
    if sys.stdin.isatty() and prompt:
        return click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UsersError(f"没有用户 {username}")
    return user


def register(cli: click.Group) -> None:
    @cli.group("users")
    def users() -> None:
        """用户与范围管理（密码从标准输入读取）。"""

    @users.command("create")
    @click.argument("username")
    @click.option("--role", default=None, help="admin / auditor / operator / inspector")
    @click.option("--region", "regions", multiple=True,
                  help="地区范围：区县、区县/乡镇 或 区县/乡镇/村（可重复）")
    @click.option("--unit", "units", multiple=True,
                  help="单位范围（经办人）：workshop:车间编号 或 employer:用工单位名称（可重复）")
    @click.option("--name", "display_name", default=None, help="显示姓名")
    @with_appcontext
    def create(username, role, regions, units, display_name) -> None:
        """新建用户 USERNAME；密码从标准输入读取（终端上会提示输入两次）。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import UserError, create_user

        if not role:
            raise UsersError(f"请用 --role 指定{ROLE_HELP}")
        ensure_schema()
        password = _read_password(prompt=True)
        try:
            user = create_user(username, role, password, regions=list(regions), units=list(units),
                               display_name=display_name, by=actor_name())
        except UserError as exc:
            db.session.rollback()
            raise UsersError(str(exc)) from None
        db.session.commit()
        click.echo(f"已创建用户 {user.username}（{ROLES[role]}）")

    @users.command("list")
    @with_appcontext
    def list_users() -> None:
        """列出全部用户、角色与范围。"""
        from audit.database import ensure_schema

        from .services import scope_text

        ensure_schema()
        now = dt.datetime.now()
        for u in db.session.scalars(select(User).options(selectinload(User.scopes)).order_by(User.username)):
            scopes = "，".join(scope_text(s) for s in u.scopes) or "全部"
            state = "" if u.active else "（已停用）"
            if u.locked_until and u.locked_until > now:
                state += f"（锁定至 {u.locked_until:%Y-%m-%d %H:%M}）"
            if u.totp_enrolled:
                state += "（两步验证）"
            click.echo(f"{u.username}\t{ROLES.get(u.role, u.role)}{state}\t{scopes}")

    @users.command("passwd")
    @click.argument("username")
    @with_appcontext
    def passwd(username) -> None:
        """重设 USERNAME 的密码（从标准输入读取），其现有会话全部失效。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import UserError, set_password

        ensure_schema()
        user = _user(username)
        try:
            set_password(user, _read_password(prompt=True), by=actor_name())
        except UserError as exc:
            db.session.rollback()
            raise UsersError(str(exc)) from None
        db.session.commit()
        click.echo(f"已重设 {username} 的密码")

    @users.command("scopes")
    @click.argument("username")
    @click.option("--region", "regions", multiple=True,
                  help="地区范围：区县、区县/乡镇 或 区县/乡镇/村（可重复）")
    @click.option("--unit", "units", multiple=True,
                  help="单位范围（经办人）：workshop:车间编号 或 employer:用工单位名称（可重复）")
    @with_appcontext
    def scopes(username, regions, units) -> None:
        """以给出的范围替换 USERNAME 的全部范围，其现有会话全部失效。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import UserError, scope_text, set_scopes

        ensure_schema()
        user = _user(username)
        try:
            set_scopes(user, [*regions, *units], by=actor_name())
        except UserError as exc:
            db.session.rollback()
            raise UsersError(str(exc)) from None
        db.session.commit()
        click.echo(f"{username} 的范围：{'，'.join(scope_text(s) for s in user.scopes) or '全部'}")

    @users.command("unlock")
    @click.argument("username")
    @with_appcontext
    def unlock(username) -> None:
        """解除 USERNAME 因密码错误造成的锁定。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import unlock as unlock_user

        ensure_schema()
        unlock_user(_user(username), by=actor_name())
        db.session.commit()
        click.echo(f"已解除 {username} 的锁定")

    @users.command("totp-reset")
    @click.argument("username")
    @with_appcontext
    def totp_reset(username) -> None:
        """重置 USERNAME 的两步验证（手机丢失时）：密钥与恢复码作废，其现有会话全部失效。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .totp import enforced_roles, reset

        ensure_schema()
        user = _user(username)
        if not (user.totp_enrolled or user.totp_secret_enc):
            raise UsersError(f"{username} 尚未启用两步验证")
        reset(user, by=actor_name())
        db.session.commit()
        again = "，其下次登录后须重新设置" if user.role in enforced_roles() else ""
        click.echo(f"已重置 {username} 的两步验证{again}")
