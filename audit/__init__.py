"""公益性岗位与就业帮扶车间审计系统 — the Flask application (``audit.app``; gunicorn's
``'audit:create_app()'`` and ``from audit import create_app`` start here)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import sqlite  # noqa: F401 - SQLite's pragmas and transactions, for every engine the process makes

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory (``audit.app.create_app``). ``config`` overrides what the environment gives."""
    from .app import create_app as make

    return make(config)
