"""``audit devices create | list | revoke``: the tokens of attendance devices."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from models import db


def register(cli: click.Group) -> None:
    @cli.group("devices")
    def devices() -> None:
        """考勤设备令牌：新建、列出、吊销（设备用令牌调用 POST /api/v1/attendance 上传考勤）。"""

    @devices.command("create")
    @click.argument("name")
    @click.option("--unit", "unit", required=True, metavar="UNIT",
                  help="设备所属单位：就业帮扶车间写车间编号（如 CJ500236-001）；"
                       "用工单位写 区县/乡镇/单位名称"
                       "（如 奉节县/白帝镇/白帝村村民委员会，无乡镇的写 奉节县//单位名称）。也可写 "
                       "workshop:车间编号 或 employer:用工单位（只有一个单位叫这个名称时可只写名称）。")
    @with_appcontext
    def create_command(name: str, unit: str) -> None:
        """新建设备 NAME 的令牌并显示一次（只保存其散列，之后无法再次查看，请立即配置到设备上）。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import DeviceError, create_token, unit_label

        ensure_schema()
        try:
            tok, secret = create_token(name, unit, by=actor_name())
        except DeviceError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"已新建设备「{tok.name}」，所属单位：{unit_label(tok.unit_kind, tok.unit)}。")
        click.echo("令牌（只显示这一次，请立即配置到设备上）：")
        click.echo(secret)
        click.echo("调用方式：POST /api/v1/attendance，请求头 Authorization: Bearer <令牌>")

    @devices.command("list")
    @with_appcontext
    def list_command() -> None:
        """列出设备令牌：名称、所属单位、新建时间、最近使用、是否已吊销。"""
        from audit.database import ensure_schema

        from .services import tokens, unit_label

        ensure_schema()
        rows = tokens()
        if not rows:
            click.echo("还没有设备令牌。")
            return
        fmt = "%Y-%m-%d %H:%M"
        for t in rows:
            state = f"已吊销 {t.revoked_at:{fmt}}（{t.revoked_by}）" if t.revoked_at else "有效"
            last = f"{t.last_used_at:{fmt}}" if t.last_used_at else "从未使用"
            click.echo(f"{t.name}\t{unit_label(t.unit_kind, t.unit)}\t令牌 {t.token_prefix}…\t"
                       f"新建 {t.created_at:{fmt}}（{t.created_by}）\t最近使用 {last}\t{state}")

    @devices.command("revoke")
    @click.argument("name")
    @with_appcontext
    def revoke_command(name: str) -> None:
        """吊销设备 NAME 的令牌（立即生效，不可恢复；设备需要时请新建令牌）。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .services import DeviceError, by_name, revoke

        ensure_schema()
        tok = by_name(name)
        if tok is None:
            raise click.ClickException(f"没有名为「{name}」的设备")
        try:
            revoke(tok, by=actor_name())
        except DeviceError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"已吊销设备「{tok.name}」的令牌。")
