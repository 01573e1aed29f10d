"""P10: after kill -9 a web job or an audit run is not left "running" for ever. A job whose process
is gone (this host, its pid not alive) is marked failed with a Chinese reason at the application's
start-up and by the scheduler's housekeeping job; its uploaded file is kept and the upload can be
tried again from its page; an audit run left running by a dead process is failed the same way."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from audit import create_app
from audit.database import HOST
from models import AuditRun, Job, Person, User, db

from helpers import base_tables, write_bundle
from web_helpers import login, post, token, upload_zip, wait_upload, zip_folder

PASSWORD = "correct-horse-42"


@pytest.fixture
def auditor(app, quick_hashes) -> int:
    from audit.auth.services import create_user

    user = create_user("p10_auditor", "auditor", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    return user.id


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def restart(app):
    """The application started again on the same database (as after kill -9 and a restart)."""
    return create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "AUDIT_PII_KEY")}
                      | {"INSTANCE_PATH": app.instance_path, "TESTING": True})








def persons() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Person))


def killed(job_id: int, minutes_ago: int = 5, **values) -> None:
    """The job as a process killed with -9 left it: running, its pid gone."""
    db.session.rollback()
    ago = dt.datetime.now() - dt.timedelta(minutes=minutes_ago)
    db.session.execute(Job.__table__.update().where(Job.id == job_id).values(
        status="running", finished_at=None, started_at=ago, created_at=ago, heartbeat_at=ago, progress=40,
        message="正在逐行检查台账…", host=HOST, pid=dead_pid(), result=None, **values))
    db.session.commit()


def test_a_check_killed_half_way_is_failed_at_start_up_and_can_be_checked_again(app, client, auditor, people,
                                                                                 tmp_path):
    login(client, "p10_auditor", PASSWORD)
    first = upload_zip(client, zip_folder(write_bundle(tmp_path / "bundle", base_tables(people))))
    assert wait_upload(client, first)["status"] == "done"
    killed(first)  # as if the server had been killed during the check
    assert persons() == 0

    restart(app)
    db.session.rollback()
    job = db.session.get(Job, first)
    assert job.status == "failed" and "任务已中断" in job.message and "进程已停止" in job.message
    html = client.get(f"/uploads/{first}").get_data(as_text=True)
    assert "检查未能完成：任务已中断" in html and "重新检查" in html

    resp = client.post(f"/uploads/{first}/retry", data={"csrf_token": token(client, f"/uploads/{first}")})
    assert resp.status_code == 303
    again = int(re.search(r"/uploads/(\d+)$", resp.headers["Location"]).group(1))
    assert again != first and wait_upload(client, again)["status"] == "done"
    post(client, f"/uploads/{again}/commit")
    db.session.rollback()
    commit = db.session.scalar(select(Job.id).where(Job.kind == "upload.commit"))
    assert wait_upload(client, commit)["status"] == "done"
    assert persons() == len(base_tables(people)["persons"])


def test_a_load_killed_half_way_is_failed_by_housekeeping_and_can_be_loaded_again(app, client, runner,
                                                                                  auditor, people, tmp_path):
    from audit.uploads.services import stored_of

    login(client, "p10_auditor", PASSWORD)
    check = upload_zip(client, zip_folder(write_bundle(tmp_path / "bundle", base_tables(people))))
    assert wait_upload(client, check)["status"] == "done"
    # the load was asked for, and its process killed before it committed: nothing was written
    job = db.session.get(Job, check)
    load = Job(kind="upload.commit", status="running", owner_id=auditor, created_at=dt.datetime.now(),
               progress=0, params={**job.params, "check_job": check})
    db.session.add(load)
    db.session.commit()
    load_id = load.id
    killed(load_id)
    db.session.execute(Job.__table__.update().where(Job.id == check).values(
        result={**job.result, "commit_job": load_id}))
    db.session.commit()
    (stored_of(job).folder / "commit.lock").write_text(str(load_id))

    out = runner.invoke("scheduler", "--once", "housekeeping")
    assert out.exit_code == 0, out.output
    db.session.rollback()
    assert db.session.get(Job, load_id).status == "failed"
    html = client.get(f"/uploads/{check}").get_data(as_text=True)
    assert "导入未能完成" in html and "任务已中断" in html and "重新导入" in html

    post(client, f"/uploads/{check}/commit")
    db.session.rollback()
    again = db.session.scalar(select(Job.id).where(Job.kind == "upload.commit", Job.id != load_id))
    assert again is not None and wait_upload(client, again)["status"] == "done"
    assert persons() == len(base_tables(people)["persons"])
    assert "导入完成（批次 #" in client.get(f"/uploads/{check}").get_data(as_text=True)
    # and only once
    post(client, f"/uploads/{check}/commit")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "upload.commit")) == 2


def test_an_audit_run_left_running_by_a_dead_process_is_failed_and_a_new_one_may_start(app, client, auditor):
    now = dt.datetime.now()
    pid = dead_pid()
    runs = AuditRun.__table__
    with db.engine.begin() as conn:
        dead = conn.execute(runs.insert().values(started_at=now - dt.timedelta(minutes=5), as_of=now.date(),
                                                 actor="p10_auditor", status="running", rules={}, summary={},
                                                 host=HOST, pid=pid).returning(runs.c.id)).scalar_one()
        # a run of another machine, started a minute ago: it may well be alive, so it is left alone
        other = conn.execute(runs.insert().values(started_at=now - dt.timedelta(minutes=1), as_of=now.date(),
                                                  actor="job:nightly_audit", status="running", rules={},
                                                  summary={}, host="another-host", pid=pid)
                             .returning(runs.c.id)).scalar_one()
    audit_job = Job(kind="audit.run", status="running", owner_id=auditor, created_at=now, started_at=now,
                    progress=5, message="正在运行全部审计规则…", params={"actor": "p10_auditor"}, host=HOST,
                    pid=pid, heartbeat_at=now)
    db.session.add(audit_job)
    db.session.commit()

    restart(app)
    db.session.rollback()
    run = db.session.get(AuditRun, dead)
    assert run.status == "failed" and "进程已停止" in run.summary["error"]
    assert db.session.get(AuditRun, other).status == "running"
    assert db.session.get(Job, audit_job.id).status == "failed"

    login(client, "p10_auditor", PASSWORD)
    resp = post(client, "/uploads/run-audit")
    assert resp.status_code == 303
    started = int(re.search(r"/uploads/(\d+)$", resp.headers["Location"]).group(1))
    assert started != audit_job.id and wait_upload(client, started)["status"] == "done"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User))  # the database is still usable
