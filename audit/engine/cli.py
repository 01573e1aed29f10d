"""``audit run`` and ``audit findings``."""
from __future__ import annotations

import datetime as dt
import sys
import unicodedata

import click
from flask.cli import with_appcontext

from models import db


def _pad(text: str, width: int, right: bool = False) -> str:
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(width - shown, 0)
    return fill + text if right else text + fill


def register(cli: click.Group) -> None:
    @cli.command("run")
    @click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="审计基准日 YYYY-MM-DD（缺省为今天）。判断“是否已发放”等一律以此日为准，便于复现。")
    @click.option("--rule", "rules", multiple=True, help="只运行这些规则（可重复）。")
    @with_appcontext
    def run_command(as_of, rules) -> None:
        """运行全部审计规则，保存发现的问题，并按类别打印汇总。"""
        from audit.cli import actor_name
        from audit.database import ensure_schema

        from .rule import VIOLATIONS, yuan
        from .runner import category_summary, run_audit

        ensure_schema()
        day = as_of.date() if as_of else dt.date.today()
        result = run_audit(db.engine, as_of=day, actor=actor_name(), only=set(rules) or None)
        click.echo(f"审计完成（第 {result.run_id} 次运行，基准日 {day}，用时 {result.seconds:.1f} 秒）：共 {result.total} 条，"
                   f"新增 {result.new}，重新出现 {result.reopened}，数据已消除 {result.resolved}")
        click.echo(_pad("类别", 40) + _pad("条数", 8, True) + _pad("涉及金额(元)", 18, True))
        for code, zh, n, fen in category_summary(result):
            mark = "" if code in VIOLATIONS else "（提示，不计入违规）"
            click.echo(_pad(f"{zh}{mark}", 40) + _pad(str(n), 8, True) + _pad(yuan(fen) if fen else "—", 18, True))
        not_run = {c: s["reason"] for c, s in result.rules.items() if s["status"] == "not_run"}
        for code, reason in not_run.items():
            click.echo(f"{code} {reason}", err=not sys.stdout.isatty())

    @cli.command("findings")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "xlsx"]), default="jsonl", show_default=True)
    @click.option("--output", type=click.Path(dir_okay=False), default=None, help="输出文件（缺省为标准输出；xlsx 必须指定）。")
    @click.option("--category", default=None, help="只导出这一类别（如 phantom_salary）。")
    @with_appcontext
    def findings_command(fmt: str, output: str | None, category: str | None) -> None:
        """导出当前的审计发现。JSON Lines 含完整身份证号（供授权的系统对接使用）；CSV/XLSX 供人阅读，号码脱敏。导出行为记入日志。"""
        from flask import current_app

        from audit.cli import actor_name
        from audit.database import ensure_schema

        from .export import export
        from .rule import CATEGORIES

        if category and category not in CATEGORIES:
            raise click.BadParameter(f"未知类别 {category}；可选：{'、'.join(CATEGORIES)}", param_hint="--category")
        if fmt == "xlsx" and not output:
            raise click.BadParameter("xlsx 格式需要用 --output 指定文件", param_hint="--output")
        ensure_schema()
        with db.engine.begin() as conn:
            n = export(conn, fmt, pii=current_app.extensions["pii"], actor=actor_name(), output=output,
                       stream=sys.stdout, category=category)
        if output:
            click.echo(f"已导出 {n} 条审计发现到 {output}", err=True)
