"""``audit import`` and ``audit templates``."""
from __future__ import annotations

import logging
import sys
import unicodedata
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from models import ImportBatch, db

from .errors_csv import write_errors_csv
from .importer import ImportResult, import_bundle
from .limits import limits_from_config
from .schema import TABLES


def _not_psycopg_cleanup(record: logging.LogRecord) -> bool:
    """psycopg warns, in English, of the error it ignores while ending a COPY whose connection is
    gone; the failure itself is reported below, in Chinese."""
    return not str(record.msg).startswith("error ignored terminating")


def register(cli: click.Group) -> None:
    @cli.command("import")
    @click.argument("path", type=click.Path(exists=False))
    @click.option("--dry-run", is_flag=True, help="只检查并报告将新增、更新和拒绝的内容，不写入数据库。")
    @click.option("--errors-csv", type=click.Path(dir_okay=False),
                  help="把全部错误另存为 CSV（表、行、列、值、原因）。")
    @click.option("--actor", default=None, help="记入变更日志的操作人（缺省为当前系统用户）。")
    @click.option("--progress", is_flag=True,
                  help="在标准错误输出显示每张表的进度条（行数、每秒行数）；在终端中运行时总是显示。")
    @with_appcontext
    def import_command(path: str, dry_run: bool, errors_csv: str | None, actor: str | None,
                       progress: bool) -> None:
        """导入台账包 PATH（文件夹、.zip 或单个 .xlsx 工作簿）：全部成功才写入，否则不做任何更改。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema

        logging.getLogger("psycopg").addFilter(_not_psycopg_cleanup)
        database_error = (OperationalError, db.engine.dialect.loaded_dbapi.OperationalError)
        last_batch = None
        try:
            ensure_schema()
            last_batch = _last_batch_id()
            result = import_bundle(
                path, engine=db.engine, pii=current_app.extensions["pii"], actor=actor or actor_name(),
                dry_run=dry_run, progress=progress or sys.stderr.isatty(), limits=limits_from_config())
        except database_error as exc:  # the server went away, refused us, ran out of room…: not a traceback
            _database_failed(exc, last_batch, actor or actor_name(), database_error)
            return  # it was written after all
        for w in result.warnings:
            click.echo(f"提示：{w}", err=True)
        if errors_csv and result.errors:
            write_errors_csv(result, Path(errors_csv))
        if result.errors:
            click.echo(f"导入被拒绝：{result.source} 共有 {len(result.errors)} 处错误，"
                       "数据库未做任何更改。", err=True)
            for line in map(str, result.errors):
                click.echo(f"  {line}", err=True)
            sys.exit(1)
        click.echo(summary(result))

    @cli.command("templates")
    @click.argument("outdir", type=click.Path(file_okay=False))
    def templates_command(outdir: str) -> None:
        """生成各表的空白模板（CSV 与 XLSX，中文表头，含一行示例），以及一个包含全部工作表的工作簿。"""
        from .templates import write_templates

        written = write_templates(Path(outdir))
        click.echo(f"已生成 {len(written)} 个模板文件于 {outdir}")


def _last_batch_id() -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.coalesce(func.max(ImportBatch.id), 0)))


def _database_failed(exc: Exception, last_batch: int | None, actor: str,
                     database_error: tuple[type[Exception], ...]) -> None:
    """Report a database failure during ``audit import``; exit 1 unless the import was written.
    The import is one transaction, all or nothing; but a connection lost while committing (or just
    after, during ANALYZE) leaves the client not knowing which: a fresh connection tells, from the
    import batches."""
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    what, then = (("数据库连接中断", "请在数据库恢复后重新导入") if lost
                  else (f"数据库出错（{reason}）", "请排除问题后重新导入"))
    if last_batch is None:
        click.echo(f"无法连接数据库（{reason}），未导入任何内容。", err=True)
        sys.exit(1)
    db.engine.dispose()  # the pool's connections may be as dead as the one that failed
    try:
        with db.engine.connect() as conn:
            written = conn.scalar(select(func.min(ImportBatch.id)).where(
                ImportBatch.id > last_batch, ImportBatch.actor == actor))
    except database_error:
        click.echo(f"导入失败：{what}，且暂时无法重新连接数据库，不能确认导入是否已写入。导入在同一个事务中进行，"
                   f"除非中断恰好发生在提交的那一刻，数据库未做任何更改；{then}（已写入的行再次导入不会重复）。",
                   err=True)
        sys.exit(1)
    if written is not None:
        click.echo(f"提示：导入已写入数据库（批次 #{written}），只是随后{what}；无需重新导入。", err=True)
        return
    click.echo(f"导入失败：{what}，导入未完成，数据库未做任何更改。{then}。", err=True)
    sys.exit(1)


def _pad(text: str, width: int, right: bool = False) -> str:
    """Pad to a display width (CJK characters take two columns on a terminal)."""
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(width - shown, 0)
    return fill + text if right else text + fill


def summary(result: ImportResult) -> str:
    head = "试导入（未写入数据库）" if result.dry_run else f"导入完成（批次 #{result.batch_id}）"
    title = "将新增 将更新 不变" if result.dry_run else "新增 更新 未变"
    deleting = any(c.deleted for c in result.counts.values())
    if deleting:
        title += " 将删除" if result.dry_run else " 删除"
    lines = [f"{head}：{result.source}",
             _pad("表", 34) + "".join(_pad(h, 12, True) for h in ["行数", *title.split()])]
    for spec in TABLES:
        c = result.counts.get(spec.name)
        if c is not None:
            shown = (c.rows, c.added, c.changed, c.unchanged) + ((c.deleted,) if deleting else ())
            # numbers as wide as 17,287,565
            lines.append(_pad(spec.label, 34) + "".join(_pad(f"{n:,}", 12, True) for n in shown))
    for spec in TABLES:  # every deletion is listed, dry run or not (and logged, row by row)
        gone = result.deleted.get(spec.name)
        if not gone:
            continue
        lines.append(f"{spec.label}{'将删除' if result.dry_run else '已删除'}"
                     "（替换范围内、台账包中没有的记录）：")
        for row in gone["rows"]:
            lines.append(f"  {row['ref']}：" + "；".join(f"{f}：{x}" for f, x in row["fields"]))
        if gone["more"]:
            lines.append(f"  ……另有 {gone['more']:,} 行")
    if result.dry_run:  # what each changed row would change, as the web preview shows it
        for spec in TABLES:
            ch = result.changes.get(spec.name)
            if not ch or not ch["rows"]:
                continue
            lines.append(f"{spec.label}将更新：")
            for row in ch["rows"]:
                lines.append(f"  {row['ref']}："
                             + "；".join(f"{f}（{o} → {n}）" for f, o, n in row["fields"]))
            if ch["more"]:
                lines.append(f"  ……另有 {ch['more']:,} 行")
    return "\n".join(lines)
