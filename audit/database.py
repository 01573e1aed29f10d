"""Schema management (the database is created or migrated on first use), and which process runs
a job (host and pid)."""
from __future__ import annotations

import logging
import os
import socket

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade

from models import MIGRATIONS_DIR, db

# the key in ``app.extensions`` of what runs after ``ensure_schema`` migrated the database
AFTER_UPGRADE = "audit_after_upgrade"  # a key of app.extensions (not a log action)


def schema_is_current() -> bool:
    heads = set(ScriptDirectory(MIGRATIONS_DIR).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads


def ensure_schema() -> None:
    """Bring the database to the newest migration (inside an app context)."""
    if not schema_is_current():
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
