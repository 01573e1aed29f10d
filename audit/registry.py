"""The features of the application, and the one place that wires them in: each feature's blueprints
(its ``views`` modules attach their routes to the blueprint of its package), its start-up checks and
its ``audit`` commands. ``audit.app`` calls ``init_app`` and ``audit.cli`` calls ``register_commands``;
neither names a feature.

A new feature adds its lines here. Nothing imports this module but those two: it sits above every
feature, so a feature never imports it back (tests/test_architecture.py)."""
from __future__ import annotations

import click
from flask import Blueprint, Flask


def blueprints() -> list[Blueprint]:
    """Every blueprint, in the order they are registered (the order of their URL rules)."""
    from reports.views import bp as reports_bp

    from .admin.views import bp as admin_bp
    from .attendance.views import bp as attendance_bp
    from .auth.views import bp as auth_bp
    from .browse.views import bp as browse_bp
    from .dashboard.views import bp as dashboard_bp
    from .devices import admin_views as _devices_admin  # noqa: F401 - /admin/devices, on the admin blueprint
    from .devices.api import api_bp
    from .findings import export_views as _findings_export  # noqa: F401 - on the findings blueprint
    from .findings.views import bp as findings_bp
    from .main.views import bp as main_bp
    from .precheck.views import bp as precheck_bp
    from .rectification.views import bp as rectification_bp
    from .replay.views import bp as replay_bp
    from .uploads.views import bp as uploads_bp

    return [main_bp, auth_bp, dashboard_bp, findings_bp, browse_bp, uploads_bp, attendance_bp, admin_bp,
            rectification_bp, reports_bp, replay_bp, precheck_bp, api_bp]


def init_app(app: Flask, *, web: bool = True) -> None:
    """The features' part of the application factory (after ``audit.web.init_web``). ``web``:
    with the pages and the API (every blueprint, and what they need); an ``audit`` command that
    serves no page, makes no report and links to none goes without (``WITHOUT_WEB``)."""
    if web:
        _init_web(app)
    from .database import AFTER_UPGRADE
    from .uploads.recovery import recover, recover_at_start

    # jobs and audit runs left "running" by a process that was killed: failed, with the reason
    app.extensions[AFTER_UPGRADE] = [recover]  # once a database not yet migrated is (audit.database)
    if app.config.get("RECOVER_DEAD_JOBS_AT_START", True):
        recover_at_start(app)


# Every feature's ``audit`` commands: the module whose ``register(cli)`` adds them. A command's module
# is imported when that command is asked for (``audit --help`` imports them all), not on every command:
# ``audit run`` need not load the importer, the scheduler or the report builders.
COMMANDS: dict[str, str] = {
    "import": "audit.ledger.cli", "templates": "audit.ledger.cli",
    "demo": "audit.demo.cli", "demo-users": "audit.demo.cli",
    "serve": "audit.serve",
    "run": "audit.engine.cli", "findings": "audit.engine.cli", "rules": "audit.engine.cli",
    "params": "audit.engine.cli",
    "users": "audit.auth.cli",
    "report": "reports.cli",
    "verify-log": "audit.logchain.cli",
    "scheduler": "audit.scheduler.cli",
    "keys": "audit.keys.cli",
    "precheck": "audit.precheck.cli", "precheck-warn": "audit.precheck.cli",
    "devices": "audit.devices.cli",
}


def _init_web(app: Flask) -> None:
    from reports.render import warn_missing_fonts

    from .auth.services import load
    from .devices.api import api_bp, error_page
    from .findings.queries import unit_name
    from .web import csrf, login_manager

    login_manager.user_loader(load)
    for bp in blueprints():
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # a bearer token, not a cookie: nothing for a forged form to ride on
    app.extensions["api_error_page"] = error_page  # every error under /api/ in JSON (audit.web._error_page)
    app.jinja_env.globals.update(unit_name=unit_name)
    warn_missing_fonts(app)  # the PDF reports need a CJK font and HarfBuzz's subsetter


# ``audit`` commands whose application has no pages (``init_app(web=False)``): they read and write the
# database and print, and start faster without loading every feature's views (0.13 s a command)
WITHOUT_WEB = frozenset({"import", "run"})


def register_commands(cli: click.Group, name: str) -> None:
    """Add the commands of the module that holds command ``name`` (``COMMANDS``) to ``cli``."""
    from importlib import import_module

    import_module(COMMANDS[name]).register(cli)
