"""An import killed half-way leaves nothing behind; no ID or account number is stored in clear."""
from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from audit.demo.generator import generate_bundle
from audit.ledger.importer import import_bundle
from helpers import base_tables, snapshot, write_bundle
from models import db

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


def test_an_import_killed_midway_leaves_no_partial_rows_and_a_retry_succeeds(
        app, cli_env, database_url, people, county, tmp_path):
    pii = app.extensions["pii"]
    assert import_bundle(write_bundle(tmp_path / "base", base_tables(people)), engine=db.engine, pii=pii).ok
    before = snapshot(db.engine)
    db.engine.dispose()

    proc = subprocess.Popen([sys.executable, "-c", "from audit.cli import main; main()", "import", str(county)],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    expected = sum(1 for _ in open(county / "attendance.csv", encoding="utf-8")) - 1
    assert retry.counts["attendance"].added == expected


def _identifiers(bundle: Path) -> set[str]:
    """Every ID number and bank account number written anywhere in a bundle's CSV files."""
    found = set()
    for f in bundle.glob("*.csv"):
        with open(f, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for key in ("id_number", "bank_account", "account_number"):
                    if row.get(key):
                        found.add(row[key])
    return found


def test_the_raw_database_holds_no_id_or_account_number(app, database_url, tmp_path):
    bundle = tmp_path / "county"
    generate_bundle(bundle, persons=200, months=3, seed=5)
    secrets = _identifiers(bundle)
    assert len(secrets) > 400  # IDs of persons, cadres, the dead…; bank accounts
    assert import_bundle(bundle, engine=db.engine, pii=app.extensions["pii"]).ok
    db.engine.dispose()

    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database)
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, -wal, -shm
    else:
        url = make_url(database_url)
        raw = subprocess.run(["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username,
                              url.database], check=True, capture_output=True).stdout
    assert len(raw) > 100_000
    leaked = sorted(s for s in secrets if s.encode() in raw)
    assert leaked == []
    # while the masked forms are there for display
    some_id = next(s for s in secrets if len(s) == 18)
    assert (some_id[:6] + "********" + some_id[-4:]).encode() in raw
