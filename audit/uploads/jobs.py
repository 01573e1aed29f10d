"""A tiny runner of background jobs over the ``jobs`` table (``models.Job``), for any part of the
web application that starts something long (a large upload's check or load, an audit run).

    job_id = jobs.start("upload.check", user.id, {"source": "x.zip"}, fn, background=True)

``fn(job_id, report)`` does the work inside an application context of its own (in a thread when
``background``, else right away) and returns a JSON-able result, stored in ``jobs.result``;
``report(progress_percent, message)`` records how far it got. The job is ``queued``, then
``running``, then ``done`` or ``failed`` (the error message in ``message``).

Each state change is a short transaction of its own. On SQLite only one connection writes at a
time: while an import holds the write lock, ``report`` cannot reach the database and the job's
progress is kept in this process (``view`` reads it from there), and the final state is retried
until the lock is free. A job left ``queued`` or ``running`` by a process that died is shown as
failed once it is more than an hour old (``view``); nothing is written on reading.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError

from models import Job, db

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=1)
FINISHED = ("done", "failed")
STATUS_NAMES = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}

Report = Callable[[int, str], None]

# Jobs running in this process: (database, id) -> (progress, message) as last reported.
_live: dict[tuple[str, int], tuple[int, str | None]] = {}
_threads: dict[tuple[str, int], threading.Thread] = {}
_lock = threading.Lock()
_HOST = socket.gethostname()


@dataclass(frozen=True)
class JobView:
    """What a job looks like to a user now (a dead job's ``running`` shown as ``failed``)."""

    id: int
    kind: str
    status: str
    progress: int
    message: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, self.status)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "progress": self.progress, "message": self.message or ""}


def _key(job_id: int) -> tuple[str, int]:
    """Job ids are per database (a process may serve several apps, as the tests do)."""
    return (db.engine.url.render_as_string(hide_password=True), job_id)


def start(kind: str, owner_id: int | None, params: dict[str, Any], fn: Callable[[int, Report], Any],
          background: bool) -> int:
    """Create the job (queued) and run ``fn``: in a thread of its own if ``background``, else now
    (returning when it is over). The job's id."""
    app = current_app._get_current_object()
    jobs = Job.__table__
    params = {**params, "runner": {"host": _HOST, "pid": os.getpid()}}
    with db.engine.begin() as conn:
        job_id = conn.execute(insert(jobs).values(
            kind=kind, status="queued", owner_id=owner_id, created_at=dt.datetime.now(), progress=0,
            message="排队等待处理…", params=params).returning(jobs.c.id)).scalar_one()
    with _lock:
        _live[_key(job_id)] = (0, "排队等待处理…")
    if background:
        t = threading.Thread(target=_run, args=(app, job_id, fn), name=f"job-{job_id}", daemon=True)
        with _lock:
            _threads[_key(job_id)] = t
        t.start()
    else:
        _run(app, job_id, fn)
    return job_id


def _run(app, job_id: int, fn: Callable[[int, Report], Any]) -> None:
    with app.app_context():
        try:
            _write(job_id, status="running", started_at=dt.datetime.now(), message="正在处理…")
            result = fn(job_id, lambda progress, message: report(job_id, progress, message))
        except Exception as exc:  # noqa: BLE001 - any failure is the job's failure, told to its owner
            log.exception("job %s failed", job_id)
            db.session.rollback()
            _write(job_id, status="failed", finished_at=dt.datetime.now(), message=failure_text(exc))
        else:
            _write(job_id, status="done", finished_at=dt.datetime.now(), progress=100,
                   message="已完成", result=result)
        finally:
            db.session.remove()
            with _lock:
                _live.pop(_key(job_id), None)
                _threads.pop(_key(job_id), None)


def failure_text(exc: Exception) -> str:
    """The error, for the job's owner."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OperationalError) and "locked" in text:
        return "数据库正忙（另一项导入或审计正在写入），请稍后重试。"
    if isinstance(exc, OperationalError):
        return f"数据库错误：{text.splitlines()[0][:300]}"
    # anything else is a fault of the system: its text (English, perhaps with data) goes to the
    # server's log only, with the job's number
    return "处理失败：系统内部错误，详情已记入服务器日志。请把本页的任务编号告知管理员。"


def report(job_id: int, progress: int, message: str | None) -> None:
    """Record a job's progress (per cent) and what it is doing, in a short transaction of its own.
    Never waits long: if the database is locked (SQLite while an import writes), the in-process
    copy carries the news until the next report gets through."""
    progress = max(0, min(100, int(progress)))
    with _lock:
        _live[_key(job_id)] = (progress, message)
    try:
        with db.engine.connect() as conn:
            with _busy_timeout(conn, 50):
                with conn.begin():
                    conn.execute(update(Job.__table__).where(Job.__table__.c.id == job_id)
                                 .values(progress=progress, message=message))
    except OperationalError:
        pass


class _busy_timeout:
    """SQLite: wait at most ``ms`` for a lock on this connection, then put the old timeout back."""

    def __init__(self, conn, ms: int):
        self.raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        self.ms = ms
        self.old: int | None = None

    def __enter__(self):
        if self.raw is not None:
            self.old = self.raw.execute("PRAGMA busy_timeout").fetchone()[0]
            self.raw.execute(f"PRAGMA busy_timeout={int(self.ms)}")
        return self

    def __exit__(self, *exc):
        if self.raw is not None and self.old is not None:
            self.raw.execute(f"PRAGMA busy_timeout={int(self.old)}")


def _write(job_id: int, *, attempts: int = 120, **values) -> None:
    """Change a job's row; on a locked SQLite database try again (for up to about an hour)."""
    for attempt in range(attempts):
        try:
            with db.engine.begin() as conn:
                conn.execute(update(Job.__table__).where(Job.__table__.c.id == job_id).values(**values))
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                log.exception("job %s: cannot record %s", job_id, values.get("status"))
                return
            time.sleep(1)


def set_result(job_id: int, result: dict[str, Any]) -> None:
    """Replace a finished job's result (e.g. to link a check to its commit)."""
    _write(job_id, result=result)


# ---- reading ----------------------------------------------------------------------------------

def get(job_id: int) -> Job | None:
    return db.session.get(Job, job_id)


def owned(owner_id: int, *, kinds: tuple[str, ...] = (), limit: int = 20) -> list[Job]:
    q = select(Job).where(Job.owner_id == owner_id)
    if kinds:
        q = q.where(Job.kind.in_(kinds))
    return list(db.session.scalars(q.order_by(Job.id.desc()).limit(limit)))


def is_alive(job: Job) -> bool:
    """Is the job's process (as far as this machine can tell) still at it?"""
    with _lock:
        if _key(job.id) in _live:
            return True
    runner = (job.params or {}).get("runner") or {}
    if runner.get("host") == _HOST and runner.get("pid") and runner["pid"] != os.getpid():
        try:
            os.kill(int(runner["pid"]), 0)
        except (ProcessLookupError, PermissionError, ValueError, OverflowError):
            return False
        return True
    return False


def view(job: Job, now: dt.datetime | None = None) -> JobView:
    """The job as a user should see it now."""
    if job.status in FINISHED:
        return JobView(job.id, job.kind, job.status, job.progress, job.message)
    with _lock:
        live = _live.get(_key(job.id))
    if live is not None:
        # this process runs it: its last report is the freshest news
        return JobView(job.id, job.kind, job.status, live[0], live[1] or job.message)
    now = now or dt.datetime.now()
    since = job.started_at or job.created_at
    if since and now - since > STALE_AFTER and not is_alive(job):
        return JobView(job.id, job.kind, "failed", job.progress,
                       "任务已中断（处理它的进程已停止），请重新提交。")
    return JobView(job.id, job.kind, job.status, job.progress, job.message)


def wait(job_id: int, timeout: float = 60) -> None:
    """Wait for a background job of this process to end (tests, shutdown)."""
    with _lock:
        t = _threads.get(_key(job_id))
    if t is not None:
        t.join(timeout)
