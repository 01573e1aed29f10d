"""An ``audit`` command ends quickly (it skips the garbage collector's pass over every object at
exit) but not carelessly: its database connections are closed first, so that SQLite folds its
write-ahead log into the database file and removes it. Left open, a district's import would leave
a log as large as its attendance beside the database, for the next command to read through."""
from __future__ import annotations

import os
from pathlib import Path

from helpers import TEST_PII_KEY, base_tables, run_cli, write_bundle


def test_an_import_leaves_no_write_ahead_log_beside_the_database(tmp_path, people):
    database = tmp_path / "county.sqlite"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}", AUDIT_PII_KEY=TEST_PII_KEY,
               SECRET_KEY="test-secret", AUDIT_INSTANCE_PATH=str(tmp_path / "instance"))
    bundle = write_bundle(tmp_path / "b", base_tables(people))
    code, errors, _, _ = run_cli(["import", str(bundle)], env, tmp_path)
    assert code == 0, errors
    assert database.stat().st_size > 0
    assert not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()
    code, errors, _, _ = run_cli(["run", "--as-of", "2025-12-31"], env, tmp_path)
    assert code == 0, errors
    assert not Path(f"{database}-wal").exists()
