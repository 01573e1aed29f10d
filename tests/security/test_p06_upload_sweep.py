"""P6: an uploaded bundle (ID numbers in clear) does not outlive its need after a crash. At start-up
(and in the daily housekeeping) the newest job naming an upload decides: a finished one's bundle is
deleted, a folder no job names is deleted, a passed check waiting for its load is kept, and one whose
process died is kept for 重新检查 / 重新导入 for UPLOAD_KEEP_FAILED_HOURS (24), then deleted — its page
then says why the file is gone."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit import create_app
from audit.database import HOST
from models import Job, db

from helpers import base_tables, write_bundle
from web_helpers import login, token, upload_zip, wait_upload, zip_folder

PASSWORD = "correct-horse-42"
CLEAR_ID = "500236198005063310"


@pytest.fixture
def auditor(app, quick_hashes) -> int:
    from audit.auth.services import create_user

    user = create_user("p06_auditor", "auditor", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    return user.id


def restart(app):
    """The application started again on the same database and instance folder."""
    return create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "AUDIT_PII_KEY")}
                      | {"INSTANCE_PATH": app.instance_path, "TESTING": True})


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover(app, *, minutes_old: float = 60) -> Path:
    """An upload folder as a request leaves it: the bundle (a clear ID number in it) and nothing else."""
    home = Path(app.instance_path) / "uploads" / secrets.token_hex(16)
    home.mkdir(parents=True)
    (home / "bundle.csv").write_text(f"姓名,身份证号码\n张三,{CLEAR_ID}\n", encoding="utf-8")
    (home / "errors-1.csv").write_text("table,row\n", encoding="utf-8")
    then = time.time() - minutes_old * 60
    os.utime(home, (then, then))
    return home


def job_on(home: Path, owner: int, *, kind: str = "upload.check", status: str, message: str = "",
           finished_hours_ago: float = 0.1, result: dict | None = None, pid: int | None = None) -> int:
    now = dt.datetime.now()
    finished = now - dt.timedelta(hours=finished_hours_ago) if status in ("done", "failed") else None
    job = Job(kind=kind, status=status, owner_id=owner, created_at=now - dt.timedelta(hours=30), progress=100,
              message=message, params={"token": home.name, "bundle": "bundle.csv", "files": ["bundle.csv"]},
              result=result, finished_at=finished, host=HOST, pid=pid or dead_pid(),
              heartbeat_at=now - dt.timedelta(hours=30))
    db.session.add(job)
    db.session.commit()
    return job.id


def test_a_leftover_with_no_job_is_deleted_at_start_up_unless_it_is_being_stored(app, auditor):
    old = leftover(app, minutes_old=60)
    young = leftover(app, minutes_old=0)  # a request in another worker, between storing and its check
    restart(app)
    assert not old.exists()
    assert (young / "bundle.csv").exists()


def test_a_finished_jobs_bundle_is_deleted_at_start_up(app, auditor):
    from audit.uploads.jobs import DEAD_REASON

    loaded = leftover(app)
    job_on(loaded, auditor, kind="upload.commit", status="done", result={"ok": True})
    refused = leftover(app)
    job_on(refused, auditor, status="done", result={"ok": False, "errors": 3})
    broke = leftover(app)
    job_on(broke, auditor, status="failed", message="处理失败：系统内部错误")
    died_long_ago = leftover(app)
    job_on(died_long_ago, auditor, status="failed", message=DEAD_REASON, finished_hours_ago=25)
    restart(app)
    for home in (loaded, refused, broke, died_long_ago):
        assert not (home / "bundle.csv").exists(), home
        assert (home / "errors-1.csv").exists()  # the job's masked errors stay for its page


def test_a_passed_check_and_a_fresh_dead_job_keep_their_bundle(app, auditor):
    from audit.uploads.jobs import DEAD_REASON

    waiting = leftover(app)
    job_on(waiting, auditor, status="done", result={"ok": True, "errors": 0})
    died = leftover(app)
    job_on(died, auditor, status="failed", message=DEAD_REASON, finished_hours_ago=23)
    killed = leftover(app)  # still "running" in the database: its process is gone
    job_on(killed, auditor, status="running", message="正在逐行检查台账…")
    restart(app)
    for home in (waiting, died, killed):
        assert (home / "bundle.csv").exists(), home


def test_the_keep_time_is_a_setting(app, auditor):
    from audit.uploads.jobs import DEAD_REASON

    died = leftover(app)
    job_on(died, auditor, status="failed", message=DEAD_REASON, finished_hours_ago=3)
    create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "AUDIT_PII_KEY")}
               | {"INSTANCE_PATH": app.instance_path, "TESTING": True, "UPLOAD_KEEP_FAILED_HOURS": 2})
    assert not (died / "bundle.csv").exists()


def test_a_killed_check_can_be_retried_then_its_file_goes_and_the_page_says_why(app, client, runner, auditor,
                                                                                people, tmp_path):
    login(client, "p06_auditor", PASSWORD)
    first = upload_zip(client, zip_folder(write_bundle(tmp_path / "bundle", base_tables(people))))
    assert wait_upload(client, first)["status"] == "done"
    from audit.uploads.services import stored_of

    job = db.session.get(Job, first)
    bundle = stored_of(job).path
    assert bundle.exists()  # a passed check waits for its load
    long_ago = dt.datetime.now() - dt.timedelta(hours=30)
    db.session.execute(Job.__table__.update().where(Job.id == first).values(
        status="running", finished_at=None, created_at=long_ago, started_at=long_ago, heartbeat_at=long_ago,
        host=HOST, pid=dead_pid(), result=None))
    db.session.commit()

    restart(app)  # found dead now: kept for 重新检查
    assert bundle.exists()
    assert "重新检查" in client.get(f"/uploads/{first}").get_data(as_text=True)

    # a day later the housekeeping deletes it
    db.session.rollback()
    db.session.execute(Job.__table__.update().where(Job.id == first).values(
        finished_at=dt.datetime.now() - dt.timedelta(hours=25)))
    db.session.commit()
    out = runner.invoke("scheduler", "--once", "housekeeping")
    assert out.exit_code == 0, out.output
    assert not bundle.exists()
    page = client.get(f"/uploads/{first}").get_data(as_text=True)
    assert "上传的文件已删除" in page and "只保留 24 小时" in page and "请重新上传" in page
    assert f'action="/uploads/{first}/retry"' not in page
    resp = client.post(f"/uploads/{first}/retry", data={"csrf_token": token(client, f"/uploads/{first}")},
                       follow_redirects=True)
    assert "上传的文件已删除" in resp.get_data(as_text=True)
