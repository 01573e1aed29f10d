"""``audit precheck FILE``: a draft payroll judged before it is paid (shared/docs/precheck.md)."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

EXIT_HELD = 3  # some rows held or rejected
EXIT_BAD_INPUT = 1


def register(cli: click.Group) -> None:
    @cli.command("precheck")
    @click.argument("path", type=click.Path(dir_okay=False))
    @click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="校验日（YYYY-MM-DD）：按此日发放判断，缺省为今天。")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "xlsx"]), default="jsonl", show_default=True,
                  help="jsonl：每行一个 JSON 对象（完整证件号，供程序读取）；"
                       "xlsx：供人阅读（证件号、账号脱敏，校验结果着色）。")
    @click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
                  help="输出文件；jsonl 缺省写到标准输出，"
                       "xlsx 缺省为 FILE 同目录下的「文件名_发放前校验.xlsx」。")
    @with_appcontext
    def precheck_command(path: str, as_of: dt.datetime | None, fmt: str, output: str | None) -> None:
        """发放前校验：按审计规则逐行判断工资发放表 FILE（CSV 或 XLSX，工资发放表的列，不含发放日期）
        是否可发放。退出码：0 全部可发放；3 有暂缓或不予发放的行；1 文件有错误。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema
        from audit.ledger.limits import limits_from_config
        from models import db

        from . import export
        from .reader import DraftError, read_draft
        from .services import check, save

        ensure_schema()
        day = as_of.date() if as_of else dt.date.today()
        try:
            draft = read_draft(path, limits_from_config())
        except DraftError as exc:
            click.echo(f"校验未进行：{exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        result = check(db.engine, draft, as_of=day, pii=current_app.extensions["pii"])
        for w in result.warnings:
            click.echo(f"提示：{w}", err=True)
        if result.errors:
            click.echo(f"校验未进行：{draft.name} 共有 {len(result.errors)} 处错误，请改正后重新校验。",
                       err=True)
            for e in result.errors:
                click.echo(f"  {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        pid = save(db.engine, result, actor=actor_name())
        if fmt == "jsonl":
            if output:
                with open(output, "w", encoding="utf-8", newline="\n") as fh:
                    export.write_jsonl(result, fh)
            else:
                export.write_jsonl(result, sys.stdout)
        else:
            target = Path(output) if output else Path(path).with_name(f"{Path(path).stem}_发放前校验.xlsx")
            export.write_xlsx(result, target)
            output = str(target)
        s = result.summary
        click.echo(f"发放前校验第 {pid} 号：{s['rows']} 行，可发放 {s['pass']['rows']} 行，"
                   f"暂缓发放 {s['hold']['rows']} 行，"
                   f"不予发放 {s['reject']['rows']} 行"
                   f"（校验日 {day.isoformat()}，用时 {result.seconds:.1f} 秒）"
                   + (f"；结果已写入 {output}" if output else ""), err=True)
        sys.exit(0 if result.all_pass else EXIT_HELD)

    @cli.command("precheck-warn")
    @click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="预警日（YYYY-MM-DD），缺省为今天；"
                       "早于当月预警起始日（PAYDAY_WARNING_DAY，默认 20 日）则不生成。")
    @with_appcontext
    def precheck_warn_command(as_of: dt.datetime | None) -> None:
        """发放前预警：按当月预计发放名单（在岗安置、车间在册人员及上月已发放人员），用发放前校验的规则判断，
        列出各单位本月将暂缓或不予发放的人员，保存并通知（与定时任务 payday_warnings 相同）。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema
        from models import db

        from . import warnings

        ensure_schema()
        day = as_of.date() if as_of else dt.date.today()
        done = warnings.run(db.engine, day, actor=actor_name(), day=warnings.warning_day(current_app.config))
        click.echo(warnings.summary_text(done))
