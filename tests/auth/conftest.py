"""Fixtures of the tests of signing in and of the users' administration."""
from __future__ import annotations

import pytest

from audit import create_app
from models import db

import web_helpers as wh
from web_helpers import RequestClient


@pytest.fixture
def requests_apart(app):
    """Each request of the test client in a context of its own (web_helpers.RequestClient); with
    cheap password hashes (tests/conftest.py), the set-up of every test of signing in and of the
    users' administration (their ``pytestmark``)."""
    app.test_client_class = RequestClient


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
def accounts(app):
    """The users of ``web_helpers.USERS`` without the ledger data (for what does not need it)."""
    wh.create_users(app)


@pytest.fixture
def quick_dummy(monkeypatch):
    """An unknown user name checks a cheap dummy hash here (the real one is scrypt: 0.3 s each)."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr("audit.auth.services._DUMMY_HASH",
                        generate_password_hash("x", method="pbkdf2:sha256:1000"))
