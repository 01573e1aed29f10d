"""Ledger upload: storing an upload, the scope check, the dry run, the commit and the audit run
after it, each as a job (``jobs.py``) that writes the audit log.

Storing the upload and sweeping it are in ``storage.py``, the scope check in ``scope_check.py``.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from audit.access import Scope
from audit.auditlog import record
from audit.ledger.errors_csv import write_errors_csv
from audit.ledger.importer import ImportResult, RowError, import_bundle
from audit.ledger.limits import limits_from_config
from audit.ledger.schema import BY_NAME, TABLES
from audit.pii import mask_deep, mask_identifiers
from models import Job, db

from . import jobs
from .scope_check import PERSON_ELSEWHERE, scope_errors
from .storage import AUDIT, CHECK, COMMIT, Stored, UploadError, discard, gone, gone_text, stored_of

log = logging.getLogger(__name__)

ERRORS_PER_PAGE = 200
WARNINGS_KEPT = 200


# ---- progress of an import ----------------------------------------------------------------------

class _ImportProgress:
    """Turns the importer's (table label, rows read) into per cent of the whole bundle. The importer
    calls it inside its write transaction: on SQLite, which then lets no other connection write, the
    progress is kept in this process only (the job's page reads it from there)."""

    def __init__(self, report: Callable[..., None], sizes: dict[str, int], span: tuple[int, int]):
        self.report = report
        self.store = db.engine.dialect.name != "sqlite"
        self.span = span
        self.order = [t.name for t in TABLES if t.name in sizes]
        self.before = {}
        acc = 0
        for name in self.order:
            self.before[name] = acc
            acc += sizes[name]
        self.total = acc or 1
        self.by_label = {t.label: t.name for t in TABLES}
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, label: str, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        name = self.by_label.get(label, label)
        lo, hi = self.span
        done = min(self.before.get(name, 0) + rows, self.total)
        what = BY_NAME[name].zh if name in BY_NAME else label
        rate = done / max(now - self.started, 1e-3)  # rows of the bundle read per second, so far
        self.report(lo + (hi - lo) * done // self.total,
                    f"正在处理{what}：已读 {rows:,} 行（每秒 {rate:,.0f} 行）", store=self.store)


# ---- the jobs ----------------------------------------------------------------------------------

def _counts(result: ImportResult) -> dict[str, dict[str, int]]:
    return {name: vars(c) for name, c in result.counts.items()}


def _finish_result(job_id: int, stored: Stored, result: ImportResult,
                   extra: list[RowError]) -> dict[str, Any]:
    # ID and account numbers of the refused rows are masked: the errors file stays on the server.
    # A person the upload may not place is named by the scope check alone, in one text whether or
    # not the ID number is on file (see ``_links_elsewhere``): the importer's error on that cell goes.
    placed = {(e.table, e.row, e.column) for e in extra if e.reason == PERSON_ELSEWHERE}
    kept = [e for e in result.errors if (e.table, e.row, e.column) not in placed]
    errors = [dataclasses.replace(e, value=mask_identifiers(e.value), reason=mask_identifiers(e.reason))
              for e in sorted([*kept, *extra], key=_error_order)]
    result.errors = errors
    if errors:
        write_errors_csv(result, stored.folder / f"errors-{job_id}.csv")
    counts = _counts(result)
    if extra:  # a replaces row may reach outside the scope: what it would delete there is not even counted
        for c in counts.values():
            c["deleted"] = 0
    return {"ok": not errors, "source": result.source, "counts": counts, "errors": len(errors),
            "scope_errors": len(extra), "warnings": result.warnings[:WARNINGS_KEPT],
            "warnings_total": len(result.warnings), "batch_id": result.batch_id,
            "changes": _changes(result) if not errors else {},
            "deleted": {table: mask_deep(d) for table, d in result.deleted.items()} if not errors else {}}


def _changes(result: ImportResult) -> dict[str, dict]:
    """The changed rows of each table, field by field (the importer's first ``CHANGES_SHOWN`` of
    each, already readable and masked); anything shaped like an ID or account number is masked once
    more, as in every stored job result."""
    return {table: mask_deep(c) for table, c in result.changes.items() if c["rows"]}


_ORDER = {t.name: i for i, t in enumerate(TABLES)}


def _error_order(e: RowError):
    return (_ORDER.get(e.table, -1), e.row)


def _who(params: dict) -> dict[str, Any]:
    return {"ip": params.get("ip")} if params.get("ip") else {}


@dataclass(frozen=True)
class Actor:
    """Who asked, as plain values: a job must not touch ``current_user`` (in a thread there is none,
    and in a fresh application context it would be loaded again, holding a read open)."""

    id: int
    name: str
    ip: str | None = None

    @classmethod
    def of(cls, user, ip: str | None = None) -> Actor:
        return cls(int(user.id), str(user.username), ip)


def start_check(user: Actor, scope: Scope, stored: Stored) -> int:
    """Start the dry run of an upload (in the request if small, else in the background)."""
    params = {"token": stored.token, "bundle": stored.bundle, "files": stored.files, "bytes": stored.size,
              "actor": user.name, "regions": [list(r) for r in scope.regions], "ip": user.ip}
    background = stored.size >= int(current_app.config["UPLOAD_BACKGROUND_BYTES"])

    def check(job_id: int, report) -> dict[str, Any]:
        try:
            report(1, "正在核对管辖范围…")
            pii, limits = current_app.extensions["pii"], limits_from_config()
            extra, sizes = scope_errors(stored.path, scope, pii=pii, limits=limits, report=report,
                                        span=(1, 30))
            report(30, "正在逐行检查台账…")
            result = import_bundle(stored.path, engine=db.engine, pii=pii, actor=user.name, dry_run=True,
                                   limits=limits, on_progress=_ImportProgress(report, sizes, (30, 99)))
            out = _finish_result(job_id, stored, result, extra)
        except BaseException:
            discard(stored)
            raise
        if not out["ok"]:
            discard(stored)  # refused: it will never be loaded, so its personal data goes now
        record(CHECK, table="jobs", row_id=job_id, ref=stored.bundle[:200], who=user.name,
               new={**_who(params), "files": stored.files[:50], "bytes": stored.size, "errors": out["errors"],
                    "scope_errors": out["scope_errors"], "ok": out["ok"]})
        db.session.commit()
        return out

    return jobs.start(CHECK, user.id, params, check, background)


def commit_state(job: Job) -> str:
    """'' (not asked), 'asked' (being started) — from the lock file the commit creates."""
    try:
        return "asked" if (stored_of(job).folder / "commit.lock").exists() else ""
    except UploadError:
        return ""


def start_commit(user: Actor, scope: Scope, check: Job) -> int:
    """Load a checked upload for real. Refused unless the check passed, and refused the second time
    (the lock file is created exclusively)."""
    result = check.result or {}
    if check.status != "done" or not result.get("ok"):
        raise UploadError("此次上传未通过检查，不能导入。")
    stored = stored_of(check)
    twice = UploadError("此次上传已经确认导入过（或正在导入），不能重复导入。")
    # a load that died with its process may be retried (``_release_dead_commit``)
    if (result.get("commit_job") or (stored.folder / "commit.lock").exists()) \
            and not _release_dead_commit(check, stored):
        raise twice
    if not stored.path.exists():
        raise UploadError("此次上传的文件已不存在（上传的文件只保留 7 天），请重新上传。")
    try:
        fd = os.open(stored.folder / "commit.lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise twice from None
    os.close(fd)
    params = {**(check.params or {}), "check_job": check.id, "actor": user.name, "ip": user.ip}
    background = stored.size >= int(current_app.config["UPLOAD_BACKGROUND_BYTES"])
    check_id, check_result = check.id, dict(result)

    def commit(job_id: int, report) -> dict[str, Any]:
        (stored.folder / "commit.lock").write_text(str(job_id))
        jobs.set_result(check_id, {**check_result, "commit_job": job_id})
        try:
            report(1, "正在核对管辖范围…")
            pii, limits = current_app.extensions["pii"], limits_from_config()
            extra, sizes = scope_errors(stored.path, scope, pii=pii, limits=limits, report=report,
                                        span=(1, 20))
            report(20, "正在导入…")
            if extra:  # the database changed since the check: refuse before writing anything
                res = ImportResult(source=stored.path.name, dry_run=False)
            else:
                res = import_bundle(stored.path, engine=db.engine, pii=pii, actor=user.name, dry_run=False,
                                    limits=limits, on_progress=_ImportProgress(report, sizes, (20, 99)))
            out = _finish_result(job_id, stored, res, extra)
        finally:
            discard(stored)  # loaded (or refused): the upload is not needed any more
        out["check_job"] = check_id
        record(COMMIT, table="import_batches", row_id=out["batch_id"], ref=stored.bundle[:200], who=user.name,
               new={**_who(params), "check_job": check_id, "ok": out["ok"], "errors": out["errors"],
                    "added": sum(c["added"] for c in out["counts"].values()),
                    "changed": sum(c["changed"] for c in out["counts"].values())})
        db.session.commit()
        return out

    return jobs.start(COMMIT, user.id, params, commit, background)


def can_retry(job: Job) -> bool:
    """A job whose process died (failed, its uploaded file still there): may be run again."""
    v = jobs.view(job)
    if job.kind not in (CHECK, COMMIT) or v.status != "failed" or v.message != jobs.DEAD_REASON:
        return False
    try:
        return stored_of(job).path.exists()
    except UploadError:
        return False


def _release_dead_commit(check: Job, stored: Stored) -> bool:
    """The commit of this check died with its process (nothing was written: its transaction died
    too): its lock is taken away, once (a rename), so that the load may be asked for again."""
    lock = stored.folder / "commit.lock"
    commit = commit_job_of(check)
    if commit is None:  # it died before it said so in the check: the lock names it
        try:
            commit = db.session.get(Job, int(lock.read_text().strip() or 0))
        except (OSError, ValueError):
            commit = None
    if commit is None or commit.kind != COMMIT or not can_retry(commit):
        return False
    jobs.sweep()  # marked failed now, if only seen so
    try:
        os.rename(lock, stored.folder / f"commit.lock.dead-{commit.id}")
    except OSError:
        return False  # another request took it first (or there was none)
    return True


def retry_check(user: Actor, scope: Scope, check: Job) -> int:
    """Check again an upload whose check died with its process (the file was kept)."""
    if check.kind == CHECK and gone(check):
        raise UploadError(gone_text())
    if check.kind != CHECK or not can_retry(check):
        raise UploadError("此次上传不能重新检查，请重新上传。")
    jobs.sweep()  # marked failed now, if only seen so
    return start_check(user, scope, stored_of(check))


def running_audit() -> Job | None:
    """An audit run that is still going (started from the web), if any."""
    for job in db.session.scalars(select(Job).where(Job.kind == AUDIT, Job.status.in_(("queued", "running")))
                                  .order_by(Job.id.desc())):
        if not jobs.view(job).finished:
            return job
    return None


def start_audit(user: Actor, *, after: int | None = None) -> int:
    """Run every rule as of ``as_of_date()`` (today unless AUDIT_AS_OF is set), in the background."""
    if running_audit() is not None:
        raise UploadError("已有一次审计正在运行，请等它完成后再试。")
    params = {"actor": user.name, "after_job": after, "ip": user.ip}

    def audit(job_id: int, report) -> dict[str, Any]:
        from audit.engine.asof import as_of_date
        from audit.engine.runner import run_audit

        report(5, "正在运行全部审计规则…")
        r = run_audit(db.engine, as_of=as_of_date(), actor=user.name,
                      log={**_who(params), "after_job": after})
        not_run = sorted(code for code, x in r.rules.items() if x.get("status") == "not_run")
        out = {"run_id": r.run_id, "as_of": r.as_of.isoformat(), "total": r.total, "new": r.new,
               "reopened": r.reopened, "resolved": r.resolved, "by_category": dict(r.by_category),
               "not_run": not_run, "seconds": round(r.seconds, 1)}
        return out  # the run logged itself (audit.run), with the address of the request

    return jobs.start(AUDIT, user.id, params, audit, background=True)


# ---- reading -------------------------------------------------------------------------------------

def errors_file(job: Job) -> Path | None:
    try:
        path = stored_of(job).folder / f"errors-{job.id}.csv"
    except UploadError:
        return None
    return path if path.exists() else None


@dataclass(frozen=True)
class ShownError:
    table: str  # Chinese
    row: int
    column: str
    value: str
    reason: str
    origin: str = ""  # the file, or the workbook and its sheet


def table_zh(name: str) -> str:
    if name == "bundle":
        return "台账包"
    return BY_NAME[name].zh if name in BY_NAME else name


def errors_page(job: Job, page: int, per_page: int = ERRORS_PER_PAGE) -> list[ShownError]:
    """One page of a job's errors (from its errors file, whose cells are written formula-safe)."""
    from audit.engine.export import cell_text

    path = errors_file(job)
    if path is None:
        return []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        start = (max(page, 1) - 1) * per_page
        out = []
        for r in islice(rows, start, start + per_page):
            table, origin, row, column, value, reason = (cell_text(c) for c in (r + [""] * 6)[:6])
            out.append(ShownError(table_zh(table), int(row) if row.isdigit() else 0, column, value, reason,
                                  origin))
    return out


def commit_job_of(check: Job) -> Job | None:
    cid = (check.result or {}).get("commit_job")
    return db.session.get(Job, cid) if cid else None


def commit_jobs(checks: list[Job]) -> dict[int, Job]:
    """check job id -> its commit job, in one query."""
    ids = {j.id: (j.result or {}).get("commit_job") for j in checks}
    wanted = [i for i in ids.values() if i]
    found = {j.id: j for j in db.session.scalars(select(Job).where(Job.id.in_(wanted)))} if wanted else {}
    return {cid: found[i] for cid, i in ids.items() if i in found}


# ---- templates -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def template_files() -> dict[str, bytes]:
    """Every blank template (``write_templates``), by file name; made once per process."""
    from audit.ledger.templates import write_templates

    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in sorted(write_templates(Path(tmp)))}


@lru_cache(maxsize=1)
def templates_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in template_files().items():
            zf.writestr(f"台账模板/{name}", data)
    return buf.getvalue()
