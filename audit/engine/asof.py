"""The as-of date of audits started from the web (after an upload, after attendance is entered):
the config key ``AUDIT_AS_OF`` (a date or ``YYYY-MM-DD``) if set, else the environment variable
``AUDIT_AS_OF``, else today. Setting it replays an audit on a fixed date (tests, demonstrations of
past data); ``audit run --as-of`` does the same on the command line."""
from __future__ import annotations

import datetime as dt
import os

from flask import current_app


def as_of_date() -> dt.date:
    value = current_app.config.get("AUDIT_AS_OF") or os.environ.get("AUDIT_AS_OF")
    if not value:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())
