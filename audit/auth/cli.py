"""``audit users create|list|passwd|scopes|unlock``."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from models import ROLES, User, db


def _read_password(prompt: bool) -> str:
    if sys.stdin.isatty() and prompt:
        return click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def register(cli: click.Group) -> None:
    @cli.group("users")
    def users() -> None:
        """用户与范围管理（密码从标准输入读取）。"""

    @users.command("create")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(list(ROLES)), help="admin / auditor / operator / inspector")
    @click.option("--region", "regions", multiple=True, help="地区范围：区县、区县/乡镇 或 区县/乡镇/村（可重复）")
    @click.option("--unit", "units", multiple=True,
                  help="单位范围（经办人）：workshop:车间编号 或 employer:用工单位名称（可重复）")
    @click.option("--name", "display_name", default=None, help="显示姓名")
    @with_appcontext
    def create(username, role, regions, units, display_name) -> None:
        """新建用户 USERNAME；密码从标准输入读取（终端上会提示输入两次）。"""
        from audit.cli import actor_name
        from audit.database import ensure_schema

        from .services import UserError, create_user

        ensure_schema()
        password = _read_password(prompt=True)
        try:
            user = create_user(username, role, password, regions=list(regions), units=list(units),
                               display_name=display_name, by=actor_name())
        except UserError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"已创建用户 {user.username}（{ROLES[role]}）")

    @users.command("list")
    @with_appcontext
    def list_users() -> None:
        """列出全部用户、角色与范围。"""
        from audit.database import ensure_schema

        from .services import scope_text

        ensure_schema()
        for u in db.session.scalars(select(User).order_by(User.username)):
            scopes = "，".join(scope_text(s) for s in u.scopes) or "全部"
            state = "" if u.active else "（已停用）"
            click.echo(f"{u.username}\t{ROLES[u.role]}{state}\t{scopes}")

    @users.command("passwd")
    @click.argument("username")
    @with_appcontext
    def passwd(username) -> None:
        """重设 USERNAME 的密码（从标准输入读取），其现有会话全部失效。"""
        from audit.cli import actor_name

        from .services import UserError, set_password

        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"没有用户 {username}")
        try:
            set_password(user, _read_password(prompt=True), by=actor_name())
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"已重设 {username} 的密码")
