"""Fixtures: an app on a fresh database per test, on every configured backend.

Backends come from ``AUDIT_TEST_DATABASES`` (comma separated: ``sqlite``, ``postgresql``). The
default is ``sqlite``, and ``sqlite,postgresql`` when ``CI=true``. When PostgreSQL is asked for
and cannot be reached, the run FAILS: it never skips. ``AUDIT_TEST_PG_URL`` names the server's
maintenance database (default: the machine's ``test`` database); each test session works in a
database of its own, ``audit_test_<pid>``, created next to it and dropped at the end.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from audit import create_app
from models import Base, db

from helpers import TEST_PII_KEY, People

# B4: the test users (and the commands run in subprocesses) sign in with a password alone unless a
# test turns TOTP_ENFORCE on (tests/security/test_b04_totp.py); an enrolled user is always asked.
os.environ.setdefault("TOTP_ENFORCE", "false")


def _backends() -> list[str]:
    default = "sqlite,postgresql" if os.environ.get("CI", "").lower() == "true" else "sqlite"
    return [b.strip() for b in os.environ.get("AUDIT_TEST_DATABASES", default).split(",") if b.strip()]


BACKENDS = _backends()
PG_ADMIN_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_report_header(config):
    return f"audit backends: {', '.join(BACKENDS)}"


def _migrate(url: str, instance: Path) -> None:
    from audit.database import ensure_schema

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "AUDIT_PII_KEY": TEST_PII_KEY,
                      "INSTANCE_PATH": str(instance)})
    with app.app_context():
        ensure_schema()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated, empty SQLite database, copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.sqlite"
    _migrate(f"sqlite:///{path}", folder)
    eng = create_engine(f"sqlite:///{path}")
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    """A migrated database of this test session's own on the PostgreSQL server (dropped at the end).
    Fails the run if the server is unreachable."""
    admin = make_url(PG_ADMIN_URL)
    name = f"audit_test_{os.getpid()}"
    try:
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server fails the run
        pytest.fail(f"PostgreSQL is required for this run but unreachable at {admin!r}: {exc}", pytrace=False)
    url = admin.set(database=name).render_as_string(hide_password=False)
    _migrate(url, tmp_path_factory.mktemp("pg"))
    yield url
    with eng.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    eng.dispose()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgresql`` run on that backend only: deselected (not skipped) for SQLite."""
    keep, drop = [], []
    for item in items:
        backend = item.callspec.params.get("database_url") if hasattr(item, "callspec") else None
        (drop if item.get_closest_marker("postgresql") and backend != "postgresql" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A fresh, migrated, empty database for this test."""
    if request.param == "sqlite":
        path = tmp_path / "audit.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    eng = create_engine(url)
    with eng.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    eng.dispose()
    return url


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret", "AUDIT_PII_KEY": TEST_PII_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True,
    })
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Invokes the ``audit`` command group against the test app."""
    from audit.cli import cli

    class Runner:
        def __init__(self):
            self._runner = app.test_cli_runner()

        def invoke(self, *args, **kw):
            return self._runner.invoke(cli, list(args), **kw)

    return Runner()


@pytest.fixture
def cli_env(app, database_url, tmp_path) -> dict[str, str]:
    """Environment for running ``audit`` in a subprocess against the test database."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "AUDIT_PII_KEY": TEST_PII_KEY, "SECRET_KEY": "test-secret",
                "AUDIT_INSTANCE_PATH": str(tmp_path / "instance")})
    return env


@pytest.fixture
def people() -> People:
    return People()


@pytest.fixture
def quick_hashes(monkeypatch):
    """Cheap password hashes for test users (scrypt takes a third of a second per hash, and every
    sign-in checks one); what the web tests test is the sign-in's logic, not the hash's cost."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr("audit.auth.services.generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))


@pytest.fixture
def requests_apart(app):
    """Each request of the test client in a context of its own (web_helpers.RequestClient): asked
    for by the tests of signing in and of the users' administration (their ``pytestmark``)."""
    from web_helpers import RequestClient

    app.test_client_class = RequestClient


@pytest.fixture
def accounts(app):
    """The users of ``web_helpers.USERS`` without the ledger data (for what does not need it)."""
    from web_helpers import create_users

    create_users(app)


@pytest.fixture
def web(app, tmp_path, people, quick_hashes):
    """Two districts with planted findings and a user of every role scoped to each
    (tests/web_helpers.py); the password of every user is ``web_helpers.PASSWORD``."""
    from web_helpers import create_users, load, two_districts

    t = load(two_districts(people), app, tmp_path / "bundle")
    create_users(app)
    return t


# The browser tests' fixtures: Debian's Chromium, headless, driven through the Python Playwright package
# (never its own browser download), against the app served on a local port (web_helpers.NEEDS_CHROMIUM).
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from web_helpers import CHROMIUM

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def live(app, web):
    """The app on a free local port, in a thread of its own (each request gets its own context)."""
    from web_helpers import served

    app.config["AUDIT_AS_OF"] = "2025-06-30"  # audits started from the web replay this date
    with served(app) as url:
        yield url


@pytest.fixture
def page_for(browser, live, request):
    from web_helpers import PASSWORD

    contexts = []

    def open_as(username: str, *, mobile: bool = False):
        viewport = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
        ctx = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        page.goto(live + "/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard/$"))
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()
