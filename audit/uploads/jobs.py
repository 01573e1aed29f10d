"""A tiny runner of background jobs over the ``jobs`` table (``models.Job``), for any part of the
web application that starts something long (a large upload's check or load, an audit run).

    job_id = jobs.start("upload.check", user.id, {"source": "x.zip"}, fn, background=True)

``fn(job_id, report)`` does the work inside an application context of its own (in a thread when
``background``, else right away) and returns a JSON-able result, stored in ``jobs.result``;
``report(progress_percent, message)`` records how far it got. The job is ``queued``, then
``running``, then ``done`` or ``failed`` (the error message in ``message``).

Each state change is a short transaction of its own. On SQLite only one connection writes at a
time, and an import holds the write lock from its first row to its commit: its progress is kept
in this process while it runs (``view`` reads it from there) and never written to the database
then (``report(..., store=False)``); any other report tries once without waiting and is dropped
if the database is busy. A report never fails its job. The final state is retried until the
lock is free.

A job records the process that runs it (host and pid) and a heartbeat, written every
``HEARTBEAT_SECONDS`` while it runs. A job left ``queued`` or ``running`` by a process that is
gone — on this host its pid is not alive; on another host (or with no pid) no heartbeat for
``JOB_HEARTBEAT_LIMIT_MINUTES`` (default 15) — is marked failed, with the reason, by ``sweep``: at
the application's start-up and by the scheduler's housekeeping job (``view`` shows it failed at
once, writing nothing). Its uploaded file is kept, so that its owner can try again, for
``UPLOAD_KEEP_FAILED_HOURS`` (24); ``recovery.recover`` then sweeps the uploads no job needs any more
(``storage.sweep_uploads``, P6).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from audit.database import HOST, process_alive
from models import Job, db

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
HEARTBEAT_LIMIT = dt.timedelta(minutes=15)  # JOB_HEARTBEAT_LIMIT_MINUTES
# a job of this very process is being registered for a moment after its row is written
_OWN_GRACE = dt.timedelta(minutes=1)
DEAD_REASON = "任务已中断：处理它的进程已停止（服务器重启或进程被终止），任务未完成，数据库未做任何更改。"
FINISHED = ("done", "failed")
STATUS_NAMES = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}

Report = Callable[[int, str], None]

# Jobs running in this process: (database, id) -> (progress, message) as last reported.
_live: dict[tuple[str, int], tuple[int, str | None]] = {}
_threads: dict[tuple[str, int], threading.Thread] = {}
_lock = threading.Lock()


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
    now = dt.datetime.now()
    with db.engine.begin() as conn:
        job_id = conn.execute(insert(jobs).values(
            kind=kind, status="queued", owner_id=owner_id, created_at=now, progress=0,
            message="排队等待处理…", params=params, host=HOST, pid=os.getpid(), heartbeat_at=now)
            .returning(jobs.c.id)).scalar_one()
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
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(app, job_id, stop), name=f"job-{job_id}-heartbeat",
                            daemon=True)
    with app.app_context():
        try:
            _write(job_id, status="running", started_at=dt.datetime.now(), message="正在处理…")
            beat.start()
            result = fn(job_id, lambda progress, message, store=True: report(job_id, progress, message,
                                                                             store=store))
        except Exception as exc:  # noqa: BLE001 - any failure is the job's failure, told to its owner
            log.exception("job %s failed", job_id)
            db.session.rollback()
            _write(job_id, status="failed", finished_at=dt.datetime.now(), message=failure_text(exc))
        else:
            _write(job_id, status="done", finished_at=dt.datetime.now(), progress=100,
                   message="已完成", result=result)
        finally:
            stop.set()
            db.session.remove()
            with _lock:
                _live.pop(_key(job_id), None)
                _threads.pop(_key(job_id), None)


def is_database_error(exc: BaseException) -> bool:
    """An error of the database (SQLAlchemy's, or the driver's own raised from an event hook)."""
    return isinstance(exc, (SQLAlchemyError, sqlite3.Error)) or type(exc).__module__.startswith("psycopg")


def failure_text(exc: Exception) -> str:
    """The error, for the job's owner: always Chinese. Its text (English, perhaps with data) goes
    to the server's log only, with the job's number."""
    if is_database_error(exc):
        if "locked" in str(exc) or "busy" in str(exc):
            return "数据库正忙（另一项导入或审计正在写入），任务未完成，数据库未做任何更改。请稍后重试。"
        return ("数据库出错，任务未完成，数据库未做任何更改。详情已记入服务器日志，"
                "请把本页的任务编号告知管理员。")
    return "处理失败：系统内部错误，详情已记入服务器日志。请把本页的任务编号告知管理员。"


def report(job_id: int, progress: int, message: str | None, *, store: bool = True) -> None:
    """Record a job's progress (per cent) and what it is doing. Kept in this process at once; written
    to the database too when ``store`` (in a short transaction of its own that never waits: if the
    database is busy the in-process copy carries the news until a later report gets through). An
    import's progress is reported with ``store=False`` on SQLite: the import holds the write lock."""
    progress = max(0, min(100, int(progress)))
    with _lock:
        _live[_key(job_id)] = (progress, message)
    if store:
        _try_write(job_id, progress=progress, message=message, heartbeat_at=dt.datetime.now())


def _try_write(job_id: int, **values) -> bool:
    """Change the job's row now or not at all (a busy SQLite database is not waited for)."""
    try:
        with db.engine.connect() as conn:
            # BEGIN IMMEDIATE: the lock is asked for at the start, where a busy database answers
            # with an error SQLAlchemy reports, instead of at the first write
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with _busy_timeout(conn, 0), conn.begin():
                conn.execute(update(Job.__table__).where(Job.__table__.c.id == job_id).values(**values))
        return True
    except Exception as exc:  # noqa: BLE001 - progress is news, never a reason for the job to fail
        if not is_database_error(exc):
            log.exception("job %s: cannot record its progress", job_id)
        return False


def _heartbeat(app, job_id: int, stop: threading.Event) -> None:
    """While the job runs: say so every ``HEARTBEAT_SECONDS`` (skipped while the database is busy)."""
    with app.app_context():
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                _try_write(job_id, heartbeat_at=dt.datetime.now())
        finally:
            db.session.remove()


class _busy_timeout:
    """SQLite: wait at most ``ms`` for a lock on this connection, then put the old timeout back."""

    def __init__(self, conn, ms: int):
        self.raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        self.ms = ms
        self.old: int | None = None

    def __enter__(self):
        if self.raw is not None and not self.raw.in_transaction:
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
        except DBAPIError as exc:
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


def _setting_limit() -> dt.timedelta:
    try:
        minutes = int(current_app.config.get("JOB_HEARTBEAT_LIMIT_MINUTES") or 0)
    except (TypeError, ValueError):
        minutes = 0
    return dt.timedelta(minutes=minutes) if minutes > 0 else HEARTBEAT_LIMIT


def _runner(job) -> tuple[str | None, int | None]:
    if job.pid:
        return job.host, job.pid
    runner = (job.params or {}).get("runner") or {}  # jobs started before the host and pid columns
    try:
        return runner.get("host"), int(runner["pid"]) if runner.get("pid") else None
    except (TypeError, ValueError):
        return runner.get("host"), None


def is_alive(job, now: dt.datetime | None = None) -> bool:
    """Is the job's process still at it? This process: if it runs the job. Another process of this
    host: if its pid is alive. Another host (or no pid): if its heartbeat is recent."""
    with _lock:
        if _key(job.id) in _live:
            return True
    now = now or dt.datetime.now()
    host, pid = _runner(job)
    if host == HOST and pid == os.getpid():
        # this process does not run it (any more): a restart that happened to get the same pid,
        # unless the job is being started this very moment
        return (job.created_at or now) > now - _OWN_GRACE
    alive = process_alive(host, pid)
    if alive is not None:
        return alive
    last = job.heartbeat_at or job.started_at or job.created_at
    return last is not None and now - last < _setting_limit()


def view(job: Job, now: dt.datetime | None = None) -> JobView:
    """The job as a user should see it now (a job whose process is gone: failed, with the reason)."""
    if job.status in FINISHED:
        return JobView(job.id, job.kind, job.status, job.progress, job.message)
    with _lock:
        live = _live.get(_key(job.id))
    if live is not None:
        # this process runs it: its last report is the freshest news
        return JobView(job.id, job.kind, job.status, live[0], live[1] or job.message)
    if not is_alive(job, now):
        return JobView(job.id, job.kind, "failed", job.progress, DEAD_REASON)
    return JobView(job.id, job.kind, job.status, job.progress, job.message)


def sweep(now: dt.datetime | None = None) -> list[int]:
    """Mark failed, with the reason, every unfinished job whose process is gone; the ids marked.
    Each is changed only if still unfinished (another process may sweep at the same time)."""
    now = now or dt.datetime.now()
    jobs = Job.__table__
    marked = []
    with db.engine.connect() as conn:  # not the session: its caller's objects are left alone
        unfinished = conn.execute(select(jobs).where(jobs.c.status.in_(("queued", "running")))
                                  .order_by(jobs.c.id)).all()
    for job in unfinished:
        if is_alive(job, now):
            continue
        with db.engine.begin() as conn:
            done = conn.execute(update(jobs)
                                .where(jobs.c.id == job.id, jobs.c.status.in_(("queued", "running")))
                                .values(status="failed", finished_at=now, message=DEAD_REASON)).rowcount
        if done:
            log.warning("job %s (%s) was left %s by a process that is gone: marked failed", job.id, job.kind,
                        job.status)
            marked.append(job.id)
    return marked


def wait(job_id: int, timeout: float = 60) -> None:
    """Wait for a background job of this process to end (tests, shutdown)."""
    with _lock:
        t = _threads.get(_key(job_id))
    if t is not None:
        t.join(timeout)
