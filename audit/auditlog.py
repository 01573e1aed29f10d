"""The audit log of the web application: who did what, when. It is the append-only change log
(``change_log``): sign-ins and their failures, permission denials, views of unmasked personal
data, uploads, exports, finding transitions, user changes. Values written here are display-safe
(masked). The caller's transaction carries the entry, so a refused change leaves no entry claiming
it happened; ``record_now`` commits an entry on its own (a failed sign-in, a denial)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from models import db

from .logchain import append


def actor() -> str:
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user.username
    return "anonymous"


def _values(action: str, table: str, row_id: int | None, ref: str | None, old: dict | None,
            new: dict | None, who: str | None) -> dict[str, Any]:
    new = dict(new or {})
    if has_request_context():
        new.setdefault("ip", request.remote_addr)
        if request.user_agent.string:  # the browser, shown beside the address in /admin/log
            new.setdefault("ua", request.user_agent.string[:200])
    return {"at": dt.datetime.now(), "actor": who or actor(), "action": action, "table_name": table,
            "row_id": row_id, "row_ref": ref, "old": old, "new": new or None}


def record(action: str, *, table: str = "", row_id: int | None = None, ref: str | None = None,
           old: dict | None = None, new: dict | None = None, who: str | None = None) -> None:
    """Add an entry to the current session's transaction."""
    append(db.session.connection(), [_values(action, table, row_id, ref, old, new, who)])


def record_now(action: str, **kw) -> None:
    """Write an entry in a transaction of its own (kept even if the request then fails)."""
    with db.engine.begin() as conn:
        append(conn, [_values(action, kw.get("table", ""), kw.get("row_id"), kw.get("ref"), kw.get("old"),
                              kw.get("new"), kw.get("who"))])
