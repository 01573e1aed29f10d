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
                  help="审计基准日 YYYY-MM-DD（缺省为今天）。判断“是否已发放”等一律以此日为准，便于复现。"
                       "不能早于最近一次审计运行的基准日（会改写当前审计发现的状态）："
                       "查看较早日期请用 --replay。")
    @click.option("--rule", "rules", multiple=True, help="只运行这些规则（可重复）。")
    @click.option("--replay", is_flag=True,
                  help="回放：按基准日当天的数据和当日有效的参数重新计算并显示审计发现，不改动当前的审计发现及其状态"
                       "（记入日志）。")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "xlsx"]), default=None,
                  help="（回放）导出回放的审计发现：jsonl 含完整身份证号（供授权的系统对接使用），"
                       "csv/xlsx 号码脱敏。")
    @click.option("--output", type=click.Path(dir_okay=False), default=None,
                  help="（回放）导出到此文件（缺省为标准输出，汇总改印到标准错误；xlsx 必须指定）。")
    @with_appcontext
    def run_command(as_of, rules, replay, fmt, output) -> None:
        """运行全部审计规则，保存发现的问题，并按类别打印汇总；加 --replay 则只回放，不保存。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .runner import EarlierAsOfError, run_audit

        if (fmt or output) and not replay:
            raise click.BadParameter("--format/--output 只用于回放（--replay）；"
                                     "导出当前的审计发现请用 audit findings", param_hint="--format")
        if replay and output and not fmt:
            fmt = next((f for f in ("jsonl", "csv", "xlsx") if output.lower().endswith("." + f)), None)
            if fmt is None:
                raise click.BadParameter("请用 --format 指定导出格式（jsonl、csv 或 xlsx）",
                                         param_hint="--format")
        if fmt == "xlsx" and not output:
            raise click.BadParameter("xlsx 格式需要用 --output 指定文件", param_hint="--output")
        ensure_schema()
        day = as_of.date() if as_of else dt.date.today()
        if replay:
            _replay(day, set(rules) or None, fmt, output)
            return
        try:
            result = run_audit(db.engine, as_of=day, actor=actor_name(), only=set(rules) or None)
        except EarlierAsOfError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"审计完成（第 {result.run_id} 次运行，基准日 {day}，用时 {result.seconds:.1f} 秒）："
                   f"共 {result.total} 条，"
                   f"新增 {result.new}，重新出现 {result.reopened}，数据已消除 {result.resolved}")
        _summary(result)

    def _summary(result, err: bool = False) -> None:
        """The findings and money per category (each payment counted once), then the rules not run."""
        from .rule import VIOLATIONS, yuan
        from .runner import category_summary

        def echo(text: str) -> None:
            click.echo(text, err=err)

        echo(_pad("类别", 40) + _pad("条数", 8, True) + _pad("涉及金额(元)", 18, True))
        for code, zh, n, fen in category_summary(result):
            mark = "" if code in VIOLATIONS else "（提示，不计入违规）"
            echo(_pad(f"{zh}{mark}", 40) + _pad(str(n), 8, True)
                 + _pad(yuan(fen if fen else None) or "—", 18, True))
        v_n = sum(n for code, _, n, _ in category_summary(result) if code in VIOLATIONS)
        v_fen = sum(fen for code, _, _, fen in category_summary(result) if code in VIOLATIONS)
        echo(_pad("违规合计", 40) + _pad(str(v_n), 8, True) + _pad(yuan(v_fen) or "—", 18, True))
        echo("（金额按每笔发放只计一次：同一笔发放被多条规则发现的，计入金额最大的那一类。）")
        from .coverage import not_fully_run, partial_note, warnings

        for code, s in not_fully_run(result.rules):  # 未运行 / 未完整运行, never "no findings"
            note = f"（{partial_note(s)}）" if s["status"] == "partial" else ""
            click.echo(f"{code} {s['reason']}{note}", err=err or not sys.stdout.isatty())
        for line in warnings(getattr(result, "coverage", None)):
            click.echo(f"数据时效提示：{line}", err=err or not sys.stdout.isatty())

    def _replay(day: dt.date, only: set[str] | None, fmt: str | None, output: str | None) -> None:
        """``audit run --replay``: the rules as of ``day``, stored as a replay, summed up and exported."""
        from flask import current_app

        from audit.actor import actor_name
        from audit.replay.services import export, keep_days, replay

        actor = actor_name()
        result = replay(db.engine, as_of=day, actor=actor, only=only, keep_days=keep_days(current_app.config))
        err = bool(fmt) and not output  # the export has standard output: the summary goes to standard error
        click.echo(f"回放完成（回放 #{result.replay_id}，基准日 {day}，用时 {result.seconds:.1f} 秒）："
                   f"共 {result.total} 条。"
                   "按当日的数据与参数计算，未改动当前的审计发现及其状态。", err=err)
        _summary(result, err=err)
        if fmt:
            with db.engine.begin() as conn:
                n = export(conn, result.replay_id, fmt, pii=current_app.extensions["pii"], actor=actor,
                           output=output, stream=sys.stdout)
            if output:
                click.echo(f"已导出回放的 {n} 条审计发现到 {output}", err=True)

    @cli.command("findings")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "xlsx"]), default="jsonl",
                  show_default=True)
    @click.option("--output", type=click.Path(dir_okay=False), default=None,
                  help="输出文件（缺省为标准输出；xlsx 必须指定）。")
    @click.option("--category", default=None, help="只导出这一类别（如 phantom_salary）。")
    @click.option("--district", default=None, help="只导出这一区县的审计发现（如 奉节县）。")
    @click.option("--period", default=None,
                  help="只导出这一报告期的审计发现：YYYY-MM 或 YYYY-MM:YYYY-MM"
                       "（与审计报告的口径相同：没有所属月份的问题计入每个报告期）。")
    @with_appcontext
    def findings_command(fmt: str, output: str | None, category: str | None, district: str | None,
                         period: str | None) -> None:
        """导出当前的审计发现。JSON Lines 含完整身份证号（供授权的系统对接使用）；CSV/XLSX
        供人阅读，号码脱敏。导出行为记入日志。"""
        from flask import current_app

        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .export import export
        from .rule import CATEGORIES

        if category and category not in CATEGORIES:
            raise click.BadParameter(f"未知类别 {category}；可选：{'、'.join(CATEGORIES)}",
                                     param_hint="--category")
        if fmt == "xlsx" and not output:
            raise click.BadParameter("xlsx 格式需要用 --output 指定文件", param_hint="--output")
        months = None
        if period:
            from audit.engine.report_periods import months_between
            from audit.rectification.queries import parse_period

            span = parse_period(period)
            if span is None:
                raise click.BadParameter("报告期应为 YYYY-MM 或 YYYY-MM:YYYY-MM（最多 120 个月）",
                                         param_hint="--period")
            months = months_between(*span)
        ensure_schema()
        with db.engine.begin() as conn:
            n = export(conn, fmt, pii=current_app.extensions["pii"], actor=actor_name(), output=output,
                       stream=sys.stdout, category=category, district=district, months=months)
        if output:
            click.echo(f"已导出 {n} 条审计发现到 {output}", err=True)

    @cli.command("rules")
    @with_appcontext
    def rules_command() -> None:
        """列出全部审计规则：编号、类别、标题、严重程度、依据、所需数据和参数（缺省值）。"""
        from .rule import CATEGORIES, SEVERITIES, all_rules

        for r in all_rules():
            scope = "，仅公益性岗位" if r.public_posts_only else ""
            click.echo(f"{r.code}  {r.title}  [{CATEGORIES[r.category]}，{SEVERITIES[r.severity]}{scope}]")
            click.echo(f"      依据：{r.basis}")
            click.echo(f"      数据：{'、'.join(r.requires)}")
            if r.needs_columns or r.uses_columns:
                from .coverage import column_header

                cols = "、".join(f"{column_header(t, c)}（{t}.{c}）"
                                for t, c in (*r.needs_columns, *r.uses_columns))
                click.echo(f"      需要的列：{cols}（整表都没有时规则未完整运行）")
            for p in r.params:
                since = f"，自 {p.effective_from} 起" if p.effective_from else ""
                click.echo(f"      参数 {p.name} = {p.default_text()}：{p.description}"
                           f"（依据：{p.reference}{since}）")

    @cli.group("params")
    def params_group() -> None:
        """规则参数：按区县、乡镇街道和生效日期覆盖缺省值。"""

    @params_group.command("list")
    @with_appcontext
    def params_list() -> None:
        """列出已设置的参数覆盖值。"""
        from audit.database import ensure_schema

        from .params import overrides

        ensure_schema()
        with db.engine.connect() as conn:
            rows = overrides(conn)
        if not rows:
            click.echo("没有覆盖值：全部规则使用缺省参数（见 audit rules）。")
        for o in rows:
            where = f"{o.district or '全部地区'}{' ' + o.township if o.township else ''}"
            click.echo(f"{o.rule}.{o.name} = {o.value!r}  {where}  自 {o.effective_from}  （{o.created_by}）")

    @params_group.command("set")
    @click.argument("rule")
    @click.argument("name")
    @click.argument("value")
    @click.option("--from", "effective_from", type=click.DateTime(["%Y-%m-%d"]), required=True,
                  help="生效日期")
    @click.option("--district", default=None, help="只对该区县生效")
    @click.option("--township", default=None, help="只对该乡镇街道生效（须同时给出区县）")
    @click.option("--note", default=None, help="说明（如文件依据）")
    @with_appcontext
    def params_set(rule, name, value, effective_from, district, township, note) -> None:
        """设置规则 RULE 的参数 NAME 为 VALUE（JSON：数字、true/false、["脱贫人口", …]）。"""
        import json

        from audit.actor import actor_name
        from audit.database import ensure_schema

        from .params import ParameterError, set_override

        ensure_schema()
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise click.BadParameter(f"值应为 JSON（如 2、0.25、true、[\"脱贫人口\"]），"
                                     f"收到 {value}") from None
        try:
            with db.engine.begin() as conn:
                set_override(conn, rule=rule, name=name, value=parsed, effective_from=effective_from.date(),
                             district=district, township=township, actor=actor_name(), note=note)
        except ParameterError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"已设置 {rule}.{name} = {parsed!r}"
                   f"（{district or '全部地区'}{' ' + township if township else ''}，"
                   f"自 {effective_from.date()} 起）")
