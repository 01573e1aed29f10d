"""The archive of generated reports: each PDF is written under ``<instance>/reports/<YYYY>/`` with a
name of its own (``<kind>-<timestamp>-<random>.pdf``, mode 0600), and a ``ReportFile`` row records
its title, what was asked, SHA-256, size and page count, and what it covers (a notice's unit, a
district) for listing by role. The generation is written to the audit log; the caller commits.

ID and account numbers appear in every report only masked (they are stored masked in findings;
nothing here decrypts)."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from pathlib import Path

from flask import current_app

from audit.auditlog import record
from audit.ratelimit import retry_after
from models import ReportFile, db

from . import KINDS
from .render import ReportError, render


def reports_dir() -> Path:
    return Path(current_app.instance_path) / "reports"


def path_of(report: ReportFile) -> Path:
    """Where the archived PDF of ``report`` lies (always inside the reports folder)."""
    root = reports_dir().resolve()
    path = (root / report.path).resolve()
    if not path.is_relative_to(root):
        raise ReportError("报告文件路径无效。")
    return path


RATE_WINDOW = dt.timedelta(minutes=1)


def rate_limited(by: str, now: dt.datetime | None = None) -> int | None:
    """P9: the seconds ``by`` must wait before generating another PDF, or None. A PDF costs up to
    REPORT_TIMEOUT_SECONDS of a CPU and REPORT_MEMORY_MB: one user may have at most
    ``PDF_PER_MINUTE`` (default 10; 0 turns it off) generated within a minute. They are counted
    in the database (the archive's own rows, ``report_files``: no table of its own is needed), so
    the limit holds across web workers; a worker renders one PDF at a time, so no more than the
    workers can be under way beyond it. The wait ends when the oldest of them leaves the minute.
    Only the first refusal of a user in a minute is logged (``report.rate_limited``), so that
    refusals cannot flood the audit log. Downloads of archived PDFs are not counted (no rendering),
    nor is the command line (``audit report``)."""
    limit = int(current_app.config.get("PDF_PER_MINUTE", 10) or 0)
    if limit <= 0:
        return None
    t = ReportFile.__table__
    return retry_after(t.c.created_at, t.c.created_by == by, limit=limit, window=RATE_WINDOW,
                       now=now or dt.datetime.now(), action="report.rate_limited", ref=by,
                       table="report_files", who=by,
                       new={"limit": limit, "window_seconds": int(RATE_WINDOW.total_seconds())})


def build(kind: str, *, notice_id: int | None = None, district: str | None = None,
          first: dt.date | None = None, last: dt.date | None = None):
    """The ``Built`` HTML of a report of ``kind``."""
    if kind == "notice":
        if notice_id is None:
            raise ReportError("生成整改通知书需要指定通知书。")
        from .notice import build_notice

        return build_notice(notice_id)
    if kind == "summary":
        if first is None or last is None:
            raise ReportError("生成审计报告需要指定报告期（起止月份）。")
        from .summary import build_summary

        return build_summary(district, first, last)
    if kind == "ledger":
        from .ledger import build_ledger

        return build_ledger(district)
    raise ReportError(f"未知的报告类型：{kind}（可选：{'、'.join(KINDS)}）")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (0600) through a temporary name: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def generate(kind: str, *, by: str, notice_id: int | None = None, district: str | None = None,
             first: dt.date | None = None, last: dt.date | None = None) -> ReportFile:
    """Build, render and archive a report; the new ``ReportFile`` (added and flushed, with its
    audit-log entry, in the current transaction: the caller commits). ``ReportError`` (Chinese)
    when the report cannot be made."""
    built = build(kind, notice_id=notice_id, district=district, first=first, last=last)
    rendered = render(built.html)
    if rendered.refused:  # the templates ask for nothing outside the app: this would be worth a look
        current_app.logger.warning("报告“%s”中有外部资源被拒绝加载：%s", built.title,
                                   "、".join(rendered.refused[:5]))
    now = dt.datetime.now()
    relative = f"{now:%Y}/{kind}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}.pdf"
    _write(reports_dir() / relative, rendered.pdf)
    digest = hashlib.sha256(rendered.pdf).hexdigest()
    meta = built.meta
    report = ReportFile(kind=kind, title=built.title[:255], params=meta.get("params", {}), path=relative,
                        sha256=digest, size=len(rendered.pdf), pages=rendered.pages,
                        notice_id=meta.get("notice_id"), unit=meta.get("unit"), district=meta.get("district"),
                        created_by=by, created_at=now)
    db.session.add(report)
    db.session.flush()
    record("report.generate", table="report_files", row_id=report.id, ref=built.title, who=by,
           new={"kind": kind, "params": report.params, "sha256": digest, "pages": rendered.pages,
                "size": len(rendered.pdf)})
    return report
