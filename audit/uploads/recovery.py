"""After a crash: the jobs and audit runs a dead process left unfinished, marked failed, then the
uploaded files no job needs any more, deleted (P6) — at the application's start-up and by the
scheduler's daily housekeeping. Apart from ``jobs.py`` (which runs jobs) and ``storage.py`` (which
keeps and sweeps the uploads), as it needs both."""
from __future__ import annotations

import datetime as dt
import logging
import os

from flask import current_app

from models import db

from .jobs import sweep
from .storage import sweep_uploads

log = logging.getLogger(__name__)


def recover(now: dt.datetime | None = None) -> tuple[list[int], list[int]]:
    """After a crash: the jobs and the audit runs left unfinished by a process that is gone, marked
    failed (ids of each); then the uploaded files that no job needs any more, deleted (P6)."""
    from audit.engine.runner import mark_dead_runs

    job_ids = sweep(now)
    sweep_uploads(now)
    try:
        hours = int(current_app.config.get("JOB_STALE_HOURS") or os.environ.get("JOB_STALE_HOURS") or 6)
    except ValueError:
        hours = 6
    run_ids = mark_dead_runs(db.engine, now=now, stale_after=dt.timedelta(hours=hours))
    return job_ids, run_ids


def recover_at_start(app) -> None:
    """The start-up hook: ``recover``, on a database already at the newest migration; never stops the
    application from starting (a busy database is swept by the next start or the housekeeping job)."""
    from audit.database import schema_is_current

    with app.app_context():
        try:
            if schema_is_current():
                recover()
        except Exception as exc:  # noqa: BLE001 - an unreachable database is the command's own error to report
            log.debug("start-up: cannot check for jobs left by a dead process: %s", exc.__class__.__name__)
