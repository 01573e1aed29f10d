"""Fixtures of the tests of signing in and of the users' administration."""
from __future__ import annotations

import pytest

from audit import create_app
from models import db


@pytest.fixture
def worker(app):
    """A second web worker: another application on the same database (as gunicorn runs them)."""
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": app.config["SECRET_KEY"], "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                        "INSTANCE_PATH": app.instance_path, "TESTING": True})
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def quick_dummy(monkeypatch):
    """An unknown user name checks a cheap dummy hash here (the real one is scrypt: 0.3 s each)."""
    from werkzeug.security import generate_password_hash

    cheap = generate_password_hash("x", method="pbkdf2:sha256:1000")
    monkeypatch.setattr("audit.auth.services.dummy_hash", lambda: cheap)
