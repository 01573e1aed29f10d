"""P10 (issue 13): kill -9 of the web server while it loads an upload leaves nothing of it, and the
load can be retried. A real ``audit serve`` process on the default SQLite set-up (an instance folder
of its own, its own key files), a real bundle from the demo generator uploaded through the form, the
server killed with SIGKILL while the load's progress shows rows being read, then started again.
``tests/benchmarks/check_upload_crash.py`` does the same at 3,000 persons through ``bin/run``."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from upload_instance import (  # noqa: E402  (the benchmark's server, browser and checks)
    LEDGER_TABLES,
    Server,
    commit_job,
    counts,
    follow,
    integrity,
    job_row,
    make_bundle,
    missing_persons,
    text_of,
)

pytestmark = pytest.mark.slow

PERSONS = 2_400  # ≈ 420,000 attendance rows: the load reads them for a couple of seconds, time to kill it


def audit_cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def server(tmp_path):
    """A demo instance (a small county already loaded, the demo accounts) served by ``audit serve``
    in a process of its own; uploads of any size go to the background, as large ones do."""
    instance = tmp_path / "instance"
    serve = (f'exec "{sys.executable}" -c "from audit.cli import main; main()" '
             'serve --host "$HOST" --port "$PORT"')
    srv = Server(instance, tmp_path, argv=["sh", "-c", serve])  # exec: the pid is the server's
    srv.env["UPLOAD_BACKGROUND_BYTES"] = "1"
    for step in (("demo", "--persons", "60", "--months", "3"), ("demo-users",)):
        audit_cli(*step, env=srv.env)
    yield srv
    srv.stop()


def test_a_load_killed_with_sigkill_leaves_nothing_and_is_loaded_again_after_a_restart(server, tmp_path):
    db = server.instance / "audit.sqlite"
    bundle = make_bundle(tmp_path, PERSONS, 12, seed=11)
    before = counts(db)
    server.start()
    b = server.browser()
    check = b.upload("ledger.zip", bundle.zip_bytes)
    assert follow(b, check)[0]["status"] == "done"
    assert "检查通过" in b.get(f"/uploads/{check}")

    b.post_form(f"/uploads/{check}", f"/uploads/{check}/commit")
    load = commit_job(b, check)
    # reading attendance: persons, posts and placements are in the tables already, uncommitted
    state, _ = follow(b, load, until=lambda s: "考勤记录：已读" in s["message"])
    assert state["status"] == "running", state
    assert job_row(db, load)["pid"] == server.pid  # the job names the process that runs it
    server.kill9()
    assert counts(db) == before, state  # nothing of the load: not a person, not a batch, not a log entry
    assert integrity(db) == "ok"

    server.start()
    b = server.browser()
    row = job_row(db, load)
    assert row["status"] == "failed" and "任务已中断" in row["message"]
    page = text_of(b.get(f"/uploads/{check}"))
    assert "导入未能完成" in page and "任务已中断" in page and "重新导入" in page
    assert counts(db) == before

    b.post_form(f"/uploads/{check}", f"/uploads/{check}/commit")
    again = commit_job(b, check)  # the page shows the new load starting, never the old failure
    assert again != load
    assert follow(b, again)[0]["status"] == "done"
    assert "导入完成（批次 #" in b.get(f"/uploads/{check}")
    after = counts(db)
    assert after["persons"] - before["persons"] == PERSONS
    assert missing_persons(db, server.instance, bundle.folder) == 0
    for table in LEDGER_TABLES:
        assert after[table] - before[table] <= bundle.rows[table]
    assert after["attendance"] - before["attendance"] == bundle.rows["attendance"]
    assert after["import_batches"] == before["import_batches"] + 1


def test_the_page_shows_a_retried_load_starting_not_the_dead_one(server, tmp_path):
    """重新导入 after a load died: until the new load's thread names itself in the check, the page
    said 「导入未能完成」 with the 重新导入 button again (pressing it: "已经确认导入过")."""
    db = server.instance / "audit.sqlite"
    bundle = make_bundle(tmp_path, 30, 3, seed=12)
    server.start()
    b = server.browser()
    check = b.upload("ledger.zip", bundle.zip_bytes)
    assert follow(b, check)[0]["status"] == "done"
    token = re.search(r'"token": "([0-9a-f]{32})"', _params(db, check)).group(1)
    folder = server.instance / "uploads" / token
    server.stop()
    # as a load killed with its process left it, and 重新导入 pressed: the dead load's lock put aside,
    # a new lock taken, the new load's thread not started yet (the check still names the dead load)
    dead = _dead_commit(db, check)
    os.replace(folder / "commit.lock", folder / f"commit.lock.dead-{dead}")
    (folder / "commit.lock").touch()
    server.start()
    b = server.browser()
    page = b.get(f"/uploads/{check}")
    assert "正在开始导入" in page and "导入未能完成" not in page and "重新导入" not in page
    assert "导入中" in text_of(b.get("/uploads/"))


def _params(db: Path, job_id: int) -> str:
    import sqlite3

    con = sqlite3.connect(str(db))
    try:
        return con.execute("SELECT params FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    finally:
        con.close()


def _dead_commit(db: Path, check: int) -> int:
    """A load of the check whose process is gone (failed with the reason), named in the check's result,
    its lock naming it."""
    import datetime as dt
    import json
    import sqlite3

    from audit.database import HOST
    from audit.uploads.jobs import DEAD_REASON

    con = sqlite3.connect(str(db))
    try:
        owner, params, result = con.execute("SELECT owner_id, params, result FROM jobs WHERE id = ?",
                                            (check,)).fetchone()
        now = dt.datetime.now().isoformat(sep=" ")
        cur = con.execute(
            "INSERT INTO jobs (kind, status, owner_id, created_at, started_at, finished_at, progress, "
            "message, params, host, pid) VALUES ('upload.commit', 'failed', ?, ?, ?, ?, 40, ?, ?, ?, ?)",
            (owner, now, now, now, DEAD_REASON, json.dumps({**json.loads(params), "check_job": check}), HOST,
             1 << 22))
        dead = cur.lastrowid
        con.execute("UPDATE jobs SET result = ? WHERE id = ?",
                    (json.dumps({**json.loads(result), "commit_job": dead}), check))
        con.commit()
    finally:
        con.close()
    token = json.loads(params)["token"]
    (db.parent / "uploads" / token / "commit.lock").write_text(str(dead))
    return dead
