"""An import killed half-way, or cut off from its database, leaves nothing behind, and a retry
succeeds. (That no ID or account number is stored in clear: tests/keys/test_pii_at_rest.py.)"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from audit.demo.generator import generate_bundle
from audit.ledger.importer import import_bundle
from models import Person, db

from helpers import TEST_PII_KEY, base_tables, count, snapshot, write_bundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    """A generated county big enough that its import takes seconds (≈ 250,000 attendance rows)."""
    path = tmp_path_factory.mktemp("county") / "bundle"
    generate_bundle(path, persons=1500, months=12, seed=11)
    return path


def _import_in_transaction(url: str) -> bool:
    """Is another connection holding an open write transaction on this database right now?"""
    if url.startswith("sqlite"):
        con = sqlite3.connect(make_url(url).database, timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:  # database is locked: the importer has the write lock
            return True
        finally:
            con.close()
    eng = create_engine(url)
    with eng.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")).scalar_one()
    eng.dispose()
    return n > 0


def _wait_for_orphans(url: str) -> None:
    """PostgreSQL: the killed client's backend rolls back by itself; wait for it (or end it)."""
    if url.startswith("sqlite"):
        return
    eng = create_engine(url)
    deadline = time.monotonic() + 20
    with eng.connect() as conn:
        while _import_in_transaction(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND pid <> pg_backend_pid()"))
    eng.dispose()


def _base_then_import(app, cli_env, people, county: Path, tmp_path):
    """The base bundle loaded, its snapshot, and ``audit import county`` started in a subprocess."""
    assert import_bundle(write_bundle(tmp_path / "base", base_tables(people)), engine=db.engine,
                         pii=app.extensions["pii"]).ok
    before = snapshot(db.engine)
    db.engine.dispose()
    proc = subprocess.Popen([sys.executable, "-c", "from audit.cli import main; main()", "import",
                             str(county)],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return before, proc


def test_an_import_killed_midway_leaves_no_partial_rows_and_a_retry_succeeds(
        app, cli_env, database_url, people, county, tmp_path):
    pii = app.extensions["pii"]
    before, proc = _base_then_import(app, cli_env, people, county, tmp_path)
    deadline = time.monotonic() + 60
    while not _import_in_transaction(database_url):
        assert proc.poll() is None, "the import ended before it could be caught in its transaction"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(1.0)  # well into writing rows
    assert proc.poll() is None, "the import finished before it was killed: make the bundle bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    _wait_for_orphans(database_url)

    assert snapshot(db.engine) == before  # not one row of the killed import

    retry = import_bundle(county, engine=db.engine, pii=pii)
    assert retry.ok, [str(e) for e in retry.errors[:5]]
    with open(county / "attendance.csv", encoding="utf-8") as fh:
        expected = sum(1 for _ in fh) - 1
    assert retry.counts["attendance"].added == expected


def _cut_off_the_import(url: str, is_running) -> None:
    """Once the import is well into its transaction, end its backend from another connection:
    the server drops the connection while the client lives on (a restart, a failover, a DBA)."""
    deadline = time.monotonic() + 60
    while not _import_in_transaction(url):
        assert is_running(), "the import ended before it could be caught in its transaction"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(1.0)  # well into writing rows
    assert is_running(), "the import finished before it was cut off: make the bundle bigger"
    eng = create_engine(url)
    with eng.connect() as conn:
        ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                                  )).scalars().all()
    eng.dispose()
    assert ended == [True]


@pytest.mark.postgresql  # SQLite is a file the importer opens itself: no server can drop it
def test_a_connection_dropped_by_the_server_midway_is_reported_in_chinese_and_a_retry_succeeds(
        app, cli_env, database_url, people, county, tmp_path):
    pii = app.extensions["pii"]
    before, proc = _base_then_import(app, cli_env, people, county, tmp_path)
    _cut_off_the_import(database_url, lambda: proc.poll() is None)
    out, err = proc.communicate(timeout=30)  # it ends by itself
    err = err.decode()
    assert proc.returncode == 1, err
    # the importer's own error ("导入被拒绝：… 1 处错误") names the lost connection
    assert "数据库连接中断，导入未完成，数据库未做任何更改。请在数据库恢复后重新导入。" in err
    assert "Traceback" not in err and "psycopg" not in err
    assert out.decode() == ""

    assert snapshot(db.engine) == before  # not one row of the interrupted import

    retry = import_bundle(county, engine=db.engine, pii=pii)
    assert retry.ok, [str(e) for e in retry.errors[:5]]
    with open(county / "attendance.csv", encoding="utf-8") as fh:
        expected = sum(1 for _ in fh) - 1
    assert retry.counts["attendance"].added == expected


@pytest.mark.postgresql
def test_import_bundle_cut_off_from_its_database_returns_a_chinese_error_and_changes_nothing(
        app, database_url, people, county, tmp_path):
    pii = app.extensions["pii"]
    assert import_bundle(write_bundle(tmp_path / "base", base_tables(people)), engine=db.engine, pii=pii).ok
    before = snapshot(db.engine)
    db.engine.dispose()

    engine, outcome = db.engine, {}

    def run() -> None:
        try:
            outcome["result"] = import_bundle(county, engine=engine, pii=pii)
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["raised"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    try:
        _cut_off_the_import(database_url, worker.is_alive)
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert snapshot(db.engine) == before  # raised or not, not one row of the interrupted import
    if "raised" in outcome:
        raise outcome["raised"]
    result = outcome["result"]
    assert not result.ok and not result.committed and result.batch_id is None
    assert [str(e) for e in result.errors] == [
        "数据库连接中断，导入未完成，数据库未做任何更改。请在数据库恢复后重新导入。"]


def test_a_connection_lost_just_after_the_commit_is_not_reported_as_nothing_changed(
        app, runner, people, tmp_path, monkeypatch):
    """Lost while committing, or in the ANALYZE after it, the import may well be in: the CLI asks
    the database on a fresh connection instead of guessing."""
    import audit.ledger.cli as ledger_cli

    def import_then_lose_the_connection(*args, **kw):
        import_bundle(*args, **kw)
        raise OperationalError("ANALYZE persons", {}, Exception("server closed the connection unexpectedly"),
                               connection_invalidated=True)

    monkeypatch.setattr(ledger_cli, "import_bundle", import_then_lose_the_connection)
    bundle = write_bundle(tmp_path / "base", base_tables(people))
    got = runner.invoke("import", str(bundle))
    assert got.exit_code == 0, got.output  # it loaded
    assert "提示：导入已写入数据库（批次 #1），只是随后数据库连接中断；无需重新导入。" in got.output
    assert "未做任何更改" not in got.output
    assert count(Person) == 3


def test_an_unreachable_database_is_reported_in_chinese(people, tmp_path):
    bundle = write_bundle(tmp_path / "base", base_tables(people))
    # nothing listens
    env = {**os.environ, "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
           "AUDIT_PII_KEY": TEST_PII_KEY, "SECRET_KEY": "test-secret",
           "AUDIT_INSTANCE_PATH": str(tmp_path / "instance")}
    got = subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", "import", str(bundle)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert got.returncode == 1, got.stderr
    assert "无法连接数据库（" in got.stderr and "），未导入任何内容。" in got.stderr
    assert "Traceback" not in got.stderr
