"""Sliding-window limits counted in the database (so they hold across web workers): sign-in
failures per client address (``auth.services``) and PDFs per user (``reports.archive``).

A limit of ``limit`` events per ``window`` refuses while the limit-th newest event is still in the
window, and lifts when it leaves. Only the first refusal of a subject in a window is logged, so
that refused attempts cannot flood the hash-chained audit log (each entry takes its lock)."""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql import ColumnElement

from models import ChangeLog, db

from .auditlog import record_now


def retry_after(at: ColumnElement, subject: ColumnElement[bool], *, limit: int, window: dt.timedelta,
                now: dt.datetime, action: str, ref: str, table: str, who: str | None = None,
                new: dict[str, Any] | None = None) -> int | None:
    """Seconds until the next event is allowed, or None when the subject is under its limit.
    ``at`` is the events' time column, ``subject`` picks the subject's events (read from their
    index); a refusal is logged as ``action`` (once per subject and window, by ``ref``)."""
    since = now - window
    log = ChangeLog.__table__
    with db.engine.connect() as conn:  # not the request's session: its snapshot stays as it was
        oldest = conn.scalar(select(at).where(subject, at > since).order_by(at.desc())
                             .offset(limit - 1).limit(1))
        if oldest is None:
            return None
        logged = conn.scalar(select(log.c.id).where(log.c.at > since, log.c.action == action,
                                                    log.c.row_ref == ref).limit(1))
    if logged is None:
        record_now(action, table=table, ref=ref, who=who, new=new)
    return max(1, math.ceil((oldest + window - now).total_seconds()))
