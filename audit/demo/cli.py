"""``audit demo`` and ``audit demo-users``."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from models import Person, Role, db


def register(cli: click.Group) -> None:
    @cli.command("demo")
    @click.option("--persons", default=2000, show_default=True, help="演示县的人数。")
    @click.option("--months", default=12, show_default=True, help="考勤与工资的月数（截至上个月）。")
    @click.option("--if-empty", is_flag=True, help="数据库中已有人员时什么也不做。")
    @with_appcontext
    def demo_command(persons: int, months: int, if_empty: bool) -> None:
        """生成一个合成的演示县（人员、岗位、车间、逐日考勤、工资、比对数据）并导入。全部为虚构数据。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema
        from audit.ledger.cli import summary
        from audit.ledger.importer import import_bundle
        from audit.ledger.limits import limits_from_config

        from .generator import generate_bundle
        from .plant import MIN_MONTHS, plant_cases

        ensure_schema()
        if if_empty and db.session.scalar(select(func.count()).select_from(Person)):
            click.echo("数据库中已有数据，未重新生成演示县。")
            return
        year, month = dt.date.today().year, dt.date.today().month - months  # up to last month
        while month < 1:
            year, month = year - 1, month + 12
        start = dt.date(year, month, 1)
        folder = Path(current_app.instance_path) / "demo-bundle"
        shutil.rmtree(folder, ignore_errors=True)
        click.echo(f"正在生成演示县：{persons} 人，{start:%Y-%m} 起 {months} 个月……", err=True)
        generate_bundle(folder, persons=persons, start=start, months=months, seed=2026)
        if months >= MIN_MONTHS:  # one planted case of every rule, and look-alikes that must not fire
            planted = plant_cases(folder, start=start, months=months, seed=2026)
            click.echo(f"已植入 {len(planted)} 条预期问题（每条规则至少一例）及不应报出的相似情形，清单见 "
                       f"{folder / 'expected.json'}。", err=True)
        else:
            click.echo(f"月数少于 {MIN_MONTHS}，未植入审计案例。", err=True)
        result = import_bundle(folder, engine=db.engine, pii=current_app.extensions["pii"],
                               actor=actor_name(), progress=sys.stderr.isatty(), limits=limits_from_config())
        if not result.ok:  # the generator writes valid bundles; this would be a bug
            for e in result.errors[:20]:
                click.echo(str(e), err=True)
            sys.exit(1)
        click.echo(summary(result))

    @cli.command("demo-users")
    @with_appcontext
    def demo_users_command() -> None:
        """为演示县创建四种角色的演示账户（已存在则不变），并打印登录地址与账户。密码随机生成，保存在实例目录的
        demo-accounts.txt（仅本机可读）。"""
        import secrets

        from audit.auth.services import create_user
        from audit.database import ensure_schema
        from models import Position, User, Workshop
        from models import Post as PostModel

        ensure_schema()
        path = Path(current_app.instance_path) / "demo-accounts.txt"
        saved = dict(line.split("\t")[:2] for line in path.read_text().splitlines() if "\t" in line) \
            if path.exists() else {}
        district = db.session.scalar(select(Position.district).order_by(Position.id).limit(1)) or "奉节县"
        unit = Position.unit_key  # an employing unit is its district, township and name (P1)
        employer = db.session.scalar(select(unit).where(Position.employer.like("%村民委员会"))
                                     .group_by(unit).order_by(func.count().desc(), unit)
                                     .limit(1)) or db.session.scalar(select(unit).limit(1))
        workshop = db.session.scalar(select(PostModel.code).join(Workshop, Workshop.id == PostModel.id)
                                     .order_by(PostModel.id).limit(1))
        units = [u for u in (f"employer:{employer}" if employer else None,
                             f"workshop:{workshop}" if workshop else None) if u]
        accounts = [("admin", Role.ADMIN, [], [], "系统管理员"),
                    ("auditor", Role.AUDITOR, [district], [], "县审计员"),
                    ("inspector", Role.INSPECTOR, [district], [], "市督查组"),
                    ("operator", Role.OPERATOR, [], units, "村（车间）经办人")]
        lines = []
        for username, role, regions, unit_scopes, name in accounts:
            if role == Role.OPERATOR and not unit_scopes:
                continue
            exists = db.session.scalar(select(User.id).where(User.username == username))
            if not exists:
                saved[username] = secrets.token_urlsafe(9)
                create_user(username, role, saved[username], regions=regions, units=unit_scopes,
                            display_name=name, by="demo")
            lines.append(f"{username}\t{saved.get(username, '（已存在，密码未改）')}\t{name}\t"
                         f"{'，'.join([*regions, *unit_scopes]) or '全部地区'}")
        db.session.commit()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        click.echo("演示账户（用户名 / 密码 / 角色 / 范围）：")
        for line in lines:
            click.echo("  " + "  ".join(line.split("\t")))
