"""Schema management (the database is created or migrated on first use), and which process runs
a job (host and pid)."""
from __future__ import annotations

import logging
import os
import socket

from flask import Flask, current_app
from sqlalchemy import inspect, text

from models import MIGRATIONS_DIR, SCHEMA_HEAD, db

# the key in ``app.extensions`` of what runs after ``ensure_schema`` migrated the database
AFTER_UPGRADE = "audit_after_upgrade"  # a key of app.extensions (not a log action)


def schema_is_current() -> bool:
    """Whether the database is at the newest migration (``models.SCHEMA_HEAD``), asked without
    loading Alembic: every command asks, few migrate."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == {SCHEMA_HEAD}


def migrations(app: Flask) -> None:
    """Flask-Migrate for ``app`` (its ``audit db`` commands, ``flask_migrate.upgrade``): loaded by
    what migrates, not by every command (Alembic's import is a fifth of a command's start)."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)


def ensure_schema() -> None:
    """Bring the database to the newest migration (inside an app context)."""
    if not schema_is_current():
        from flask_migrate import upgrade

        migrations(current_app)
        upgrade(directory=MIGRATIONS_DIR)
        # what the start-up hook skipped on a database not yet migrated: the features' checks
        # (``AFTER_UPGRADE``, set by audit/registry.py: jobs left by a dead process)
        for check in current_app.extensions.get(AFTER_UPGRADE, ()):
            try:
                check()
            except Exception:  # noqa: BLE001 - the next start or the housekeeping job will
                logging.getLogger(__name__).warning("cannot check for jobs left by a dead process",
                                                    exc_info=True)


# ---- who runs what: a job or an audit run records the process that runs it ---------------------------

HOST = socket.gethostname()


def process_alive(host: str | None, pid: int | None) -> bool | None:
    """Is that process still running? True / False when it ran on this host, None when this host
    cannot tell (another host, or no pid recorded)."""
    if not pid or host != HOST:
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # a process of another user has that pid (or it cannot be asked): assume alive
    return True
