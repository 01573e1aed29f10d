"""公益性岗位与就业帮扶车间审计系统 — the Flask application."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models import MIGRATIONS_DIR, db

from .config import from_environment
from .pii import PiiCodec

migrate = Migrate()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory. ``config`` overrides what the environment gives."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("AUDIT_INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True,
                template_folder="../templates", static_folder="../static")
    # P5: whatever the process writes (database, exports, reports, uploads, evidence) is its own
    # only (0600, folders 0700); the instance folder too, however it was made
    os.umask(0o077)
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    try:
        os.chmod(app.instance_path, 0o700)
    except OSError:  # a folder of another owner: it stays as it is
        pass
    overrides = dict(config or {})
    app.config.update(from_environment(app.instance_path, overrides))
    app.config.update(overrides)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    app.extensions["pii"] = PiiCodec(app.config["AUDIT_PII_KEY"])
    from .logchain import init_app as init_log_key  # P7: the audit log's chain key, never in the database

    init_log_key(app)

    from .web import init_web

    init_web(app)
    from reports.render import warn_missing_fonts  # the PDF reports need a CJK font and HarfBuzz's subsetter

    warn_missing_fonts(app)
    if app.config.get("RECOVER_DEAD_JOBS_AT_START", True):
        # jobs and audit runs left "running" by a process that was killed: failed, with the reason
        from .uploads.jobs import recover_at_start

        recover_at_start(app)
    return app


def _engine_options(url: str) -> dict[str, Any]:
    # hide_parameters: a failed statement's message (logged with its traceback, kept in job_runs)
    # shows the SQL but not the values bound to it, which may be a person's data
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    return {"pool_pre_ping": True, "hide_parameters": True}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: WAL (readers never block the importer), foreign keys enforced, temp tables in memory.

    The driver's own transaction handling is switched off (it would commit before DDL such as the
    importer's temporary tables); ``_sqlite_begin`` emits BEGIN instead, so that a transaction
    really is all or nothing."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-200000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """BEGIN, or BEGIN IMMEDIATE for writers that ask for it (``execution_options(sqlite_begin=...)``):
    the importer takes the write lock up front instead of failing half-way on a busy database."""
    if conn.dialect.name == "sqlite":
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
        conn.info["sqlite_writing"] = mode.upper() in ("IMMEDIATE", "EXCLUSIVE")


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_lock(conn, cursor, statement, parameters, context, executemany):
    """SQLite: a transaction that has only read so far takes the write lock before its first write.

    In WAL mode a reading transaction holds a snapshot; should another connection commit after it
    was taken, the reader's first write fails at once with "database is locked" (the busy timeout
    does not apply: the snapshot is stale). Several web workers signing users in, reviewing findings
    and logging all read first and then write, so here the transaction — which has written nothing
    yet — is restarted as BEGIN IMMEDIATE, which waits its turn for the lock (the busy timeout) and
    reads from a fresh snapshot. What was read before stays as read, as if the request had run a
    moment earlier."""
    if conn.dialect.name != "sqlite" or conn.info.get("sqlite_writing") or not conn.in_transaction():
        return
    if not statement.lstrip()[:8].upper().startswith(_WRITES):
        return
    raw = conn.connection.driver_connection
    if raw.in_transaction:
        raw.execute("ROLLBACK")
    raw.execute("BEGIN IMMEDIATE")
    conn.info["sqlite_writing"] = True
