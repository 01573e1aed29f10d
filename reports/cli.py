"""``audit report notice|summary|ledger``: build a PDF report, archive it (``reports.archive``)
and copy it to ``--output``; prints the file, its pages and its SHA-256. Every refusal is a Chinese
message and a non-zero exit code."""
from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import desc, or_, select

from models import Notice, db

from . import KINDS

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ReportCliError(click.ClickException):
    """A refusal, shown as 「错误：…」 (click's own prefix is English)."""

    def show(self, file=None) -> None:
        click.echo(f"错误：{self.format_message()}", err=True)


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """``2025-01`` or ``2025-01:2025-06`` -> (first, last) as the firsts of the months."""
    a, _, b = (text or "").strip().partition(":")
    b = b or a
    ma, mb = _MONTH.match(a), _MONTH.match(b)
    if not (ma and mb):
        raise ReportCliError(f"报告期“{text}”格式不对，"
                             "应为 YYYY-MM 或 YYYY-MM:YYYY-MM（如 2025-01:2025-06）。")
    first, last = dt.date(int(ma[1]), int(ma[2]), 1), dt.date(int(mb[1]), int(mb[2]), 1)
    if last < first:
        raise ReportCliError(f"报告期“{text}”的结束月份早于开始月份。")
    return first, last


def latest_notice(unit: str) -> Notice:
    """The latest notice of a unit named by its workshop code, its key (``区县/乡镇/单位名称``), the
    name the notice is addressed to, or its bare name when only one unit of that name has notices
    (two units of one name in two townships are asked apart, never merged: P1)."""
    unit = unit.strip().replace("／", "/")
    named = or_(Notice.unit == unit, Notice.unit_name == unit,
                Notice.unit.endswith(f"/{unit}", autoescape=True))
    units = sorted(set(db.session.scalars(select(Notice.unit).where(named))))
    if len(units) > 1:
        raise ReportCliError(f"有 {len(units)} 个单位都叫“{unit}”，请写明是哪一个：" + "、".join(units))
    notice = db.session.scalar(select(Notice).where(Notice.unit.in_(units))
                               .order_by(desc(Notice.issued_at), desc(Notice.id)).limit(1))
    if notice is None:
        raise ReportCliError(f"单位“{unit}”没有整改通知书"
                             "（请填写车间编号或用工单位名称，并先下发整改通知书）。")
    return notice


def _generate(kind: str, output: str, **kw) -> None:
    from audit.actor import actor_name
    from audit.database import ensure_schema

    from .archive import generate, path_of
    from .render import ReportError

    folder = Path(output).resolve().parent
    if not folder.is_dir():
        raise ReportCliError(f"输出目录 {folder} 不存在。")
    ensure_schema()
    try:
        report = generate(kind, by=actor_name(), **kw)
        db.session.commit()
    except ReportError as exc:
        db.session.rollback()
        raise ReportCliError(str(exc)) from None
    try:
        shutil.copyfile(path_of(report), output)
    except OSError as exc:
        raise ReportCliError(f"无法写入 {output}：{exc.strerror or exc}"
                             f"（报告已归档为第 {report.id} 号）。") from None
    click.echo(f"已生成{KINDS[kind]}：{report.title}")
    click.echo(f"文件：{output}（{report.pages} 页，{report.size:,} 字节；归档第 {report.id} 号）")
    click.echo(f"SHA-256：{report.sha256}")


def register(cli: click.Group) -> None:
    @cli.group("report")
    def report_group() -> None:
        """生成 PDF 报告（整改通知书、审计报告、整改台账），同时归档并打印 SHA-256。"""

    @report_group.command("notice")
    @click.option("--unit", required=True, help="车间编号或用工单位名称：生成该单位最近一份整改通知书。")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="输出的 PDF 文件。")
    @with_appcontext
    def notice_command(unit: str, output: str) -> None:
        """整改通知书：某单位最近一份通知书的 PDF。"""
        from audit.database import ensure_schema

        ensure_schema()
        notice = latest_notice(unit)
        _generate("notice", output, notice_id=notice.id)

    @report_group.command("summary")
    @click.option("--district", default=None, help="区县，如 奉节县（缺省为全部地区）。")
    @click.option("--period", required=True, help="报告期 YYYY-MM 或 YYYY-MM:YYYY-MM。")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="输出的 PDF 文件。")
    @with_appcontext
    def summary_command(district: str | None, period: str, output: str) -> None:
        """审计报告：某地区某期间的问题统计、趋势图、问题较多的单位和问题清单。"""
        first, last = parse_period(period)
        _generate("summary", output, district=(district or "").strip() or None, first=first, last=last)

    @report_group.command("ledger")
    @click.option("--district", default=None, help="区县（缺省为全部地区）。")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="输出的 PDF 文件。")
    @with_appcontext
    def ledger_command(district: str | None, output: str) -> None:
        """整改台账：全部整改通知书及其问题的整改状态（含逾期标记）。"""
        _generate("ledger", output, district=(district or "").strip() or None)
