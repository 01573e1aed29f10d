"""Schema management: the database is created or migrated on first use."""
from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from models import MIGRATIONS_DIR, db


def schema_is_current() -> bool:
    heads = set(ScriptDirectory(MIGRATIONS_DIR).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads


def ensure_schema() -> None:
    """Bring the database to the newest migration (inside an app context)."""
    if not schema_is_current():
        upgrade(directory=MIGRATIONS_DIR)
