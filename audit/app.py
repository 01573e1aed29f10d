"""The application factory: configuration, the database, the keys, the web wiring and every
feature's blueprint (``audit.registry``)."""
from __future__ import annotations

import contextlib
import os
from typing import Any

from flask import Flask

from models import db

from .config import from_environment
from .pii import PiiCodec


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory. ``config`` overrides what the environment gives."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("AUDIT_INSTANCE_PATH") or None
    app = Flask("audit", instance_path=instance_path, instance_relative_config=True,
                template_folder="../templates", static_folder="../static")
    # P5: whatever the process writes (database, exports, reports, uploads, evidence) is its own
    # only (0600, folders 0700); the instance folder too, however it was made
    os.umask(0o077)
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    with contextlib.suppress(OSError):  # a folder of another owner: it stays as it is
        os.chmod(app.instance_path, 0o700)
    overrides = dict(config or {})
    app.config.update(from_environment(app.instance_path, overrides))
    app.config.update(overrides)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))

    db.init_app(app)
    app.extensions["pii"] = PiiCodec(app.config["AUDIT_PII_KEY"])
    from .logchain import init_app as init_log_key  # P7: the audit log's chain key, never in the database

    init_log_key(app)

    from . import registry
    from .web import init_web

    init_web(app)
    # every feature's blueprints, template globals and start-up checks (AUDIT_WEB False: no blueprint)
    registry.init_app(app, web=app.config.get("AUDIT_WEB", True))
    return app


def _engine_options(url: str) -> dict[str, Any]:
    # hide_parameters: a failed statement's message (logged with its traceback, kept in job_runs)
    # shows the SQL but not the values bound to it, which may be a person's data
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    return {"pool_pre_ping": True, "hide_parameters": True}
