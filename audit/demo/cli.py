"""``audit demo`` and ``audit serve``."""
from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import click
from werkzeug.serving import run_simple
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from models import Person, db


def register(cli: click.Group) -> None:
    @cli.command("demo")
    @click.option("--persons", default=2000, show_default=True, help="演示县的人数。")
    @click.option("--months", default=12, show_default=True, help="考勤与工资的月数（截至上个月）。")
    @click.option("--if-empty", is_flag=True, help="数据库中已有人员时什么也不做。")
    @with_appcontext
    def demo_command(persons: int, months: int, if_empty: bool) -> None:
        """生成一个合成的演示县（人员、岗位、车间、逐日考勤、工资、比对数据）并导入。全部为虚构数据。"""
        from audit.cli import actor_name
        from audit.database import ensure_schema
        from audit.ledger.cli import limits_from_config, summary
        from audit.ledger.importer import import_bundle

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
        result = import_bundle(folder, engine=db.engine, pii=current_app.extensions["pii"], actor=actor_name(),
                               progress=sys.stderr.isatty(), limits=limits_from_config())
        if not result.ok:  # the generator writes valid bundles; this would be a bug
            for e in result.errors[:20]:
                click.echo(str(e), err=True)
            sys.exit(1)
        click.echo(summary(result))

    @cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True)
    @with_appcontext
    def serve_command(host: str, port: int) -> None:
        """运行网页服务。"""
        from audit.database import ensure_schema

        ensure_schema()
        click.echo(f"公益性岗位与就业帮扶车间审计系统已启动：请在浏览器中打开 http://{host}:{port}/ （Ctrl+C 退出）")
        # Flask ignores app.run() inside its own CLI, so the server is started directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
