"""``audit scheduler``: the declared jobs run through a record of runs (one per job and period),
so two processes, a restart or an operator's ``--once`` never run a job twice for the same period;
a run killed half-way counts as failed and the next attempt runs; only one scheduler runs at a
time (a second one waits for the lock); admins see the jobs and their runs at /admin/jobs."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import delete, func, select

from audit.scheduler import jobs
from models import AuditRun, ChangeLog, ImportBatch, JobRun, db

import web_helpers as wh

AUDIT = [sys.executable, "-c", "from audit.cli import main; main()"]


def _count(model, *where) -> int:
    db.session.rollback()  # a fresh snapshot: other processes wrote
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _runs() -> list[JobRun]:
    db.session.rollback()
    return list(db.session.scalars(select(JobRun).order_by(JobRun.id)))


class Lines:
    """A subprocess's output, line by line, with a timeout."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen(AUDIT + args, env={**env, "PYTHONUNBUFFERED": "1"},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"没有等到 {text!r}；输出：{''.join(self.seen)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_two_processes_at_once_run_the_job_once(app, cli_env):
    procs = [subprocess.Popen(AUDIT + ["scheduler", "--once", "nightly_audit"], env=cli_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("完成" in o for o in outs) == 1, outs
    assert sum(("不再重复运行" in o) or ("未重复运行" in o) for o in outs) == 1, outs
    runs = _runs()
    assert ([(r.job_id, r.period, r.status) for r in runs]
            == [("nightly_audit", dt.date.today().isoformat(), "succeeded")])
    assert _count(AuditRun) == 1


def test_once_twice_for_the_same_period_runs_once(app, runner):
    first = runner.invoke("scheduler", "--once", "nightly_audit")
    assert first.exit_code == 0, first.output
    assert "每日审计" in first.output and "完成" in first.output
    second = runner.invoke("scheduler", "--once", "nightly_audit")
    assert second.exit_code == 0, second.output
    assert f"本期（{dt.date.today()}）已运行成功，不再重复运行" in second.output
    assert _count(AuditRun) == 1
    assert len(_runs()) == 1


def test_a_failed_run_is_retried(app, runner, monkeypatch):
    def boom(now):
        raise RuntimeError("比对库连接失败")

    spec = jobs.BY_ID["stale_comparison"]
    monkeypatch.setitem(jobs.BY_ID, "stale_comparison", dataclasses.replace(spec, func=boom))
    failed = runner.invoke("scheduler", "--once", "stale_comparison")
    assert failed.exit_code == 1
    assert "失败" in failed.output and "比对库连接失败" in failed.output
    assert [(r.status, "比对库连接失败" in r.error) for r in _runs()] == [("failed", True)]
    assert _count(ChangeLog, ChangeLog.action == "job.failed") == 1

    monkeypatch.setitem(jobs.BY_ID, "stale_comparison", spec)
    ok = runner.invoke("scheduler", "--once", "stale_comparison")
    assert ok.exit_code == 0, ok.output
    assert "完成" in ok.output
    assert [(r.status, r.error) for r in _runs()] == [("succeeded", None)]  # the failed row taken over


def test_a_killed_run_counts_as_failed_and_the_next_run_succeeds(app, cli_env, runner, client, quick_hashes):
    slow = Lines(["scheduler", "--once", "nightly_audit"], {**cli_env, jobs.TEST_DELAY_ENV: "60"})
    try:
        end = time.monotonic() + 20
        while not _runs() and time.monotonic() < end:
            time.sleep(0.1)
        assert [r.status for r in _runs()] == ["running"]
        os.kill(slow.proc.pid, signal.SIGKILL)
    finally:
        slow.stop()

    # the page shows the run as interrupted
    from audit.auth.services import create_user

    create_user("admin", "admin", wh.PASSWORD, by="test")
    db.session.commit()
    wh.login(client, "admin")
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "已中断" in page and "运行中断" in page

    again = runner.invoke("scheduler", "--once", "nightly_audit")
    assert again.exit_code == 0, again.output
    assert "完成" in again.output
    assert [r.status for r in _runs()] == ["succeeded"]
    assert _count(AuditRun) == 1  # the killed process never got as far as the audit
    entry = db.session.scalar(select(ChangeLog).where(ChangeLog.action == "job.failed"))
    assert entry is not None and "运行中断" in entry.new["error"]
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "已中断" not in page and "成功" in page


def test_a_second_scheduler_waits_for_the_lock(app, cli_env):
    hour = dt.datetime.now().strftime("%Y-%m-%dT%H")
    first = Lines(["scheduler"], cli_env)
    second = None
    try:
        first.wait_for("调度器已启动")
        second = Lines(["scheduler"], cli_env)
        second.wait_for("另一个调度器正在运行")
        time.sleep(0.5)
        assert not any("调度器已启动" in line for line in second.seen)
        first.proc.send_signal(signal.SIGKILL)  # however the first one ends, the lock is freed
        first.proc.wait(10)
        second.wait_for("调度器已启动")
        # started within the hour of the hourly check, each catches up on it: it runs once
        second.wait_for(f"（{hour}）")
    finally:
        first.stop()
        if second:
            second.stop()
    runs = [(r.job_id, r.period, r.status) for r in _runs()]
    assert [r for r in runs if r[0] == "overdue_notices"] == [("overdue_notices", hour, "succeeded")]
    # a daily job whose hour this is (log_check at 03:00, housekeeping at 04:00…) is caught up too: once
    assert len({r[:2] for r in runs}) == len(runs)


def test_the_lock_directly(app, tmp_path):
    from audit.scheduler.lock import SchedulerLock

    a, b = SchedulerLock(db.engine, app.instance_path), SchedulerLock(db.engine, app.instance_path)
    assert a.acquire(wait=False)
    # flock is per open file, an advisory lock per connection: a second one is refused in this process too
    assert not b.acquire(wait=False)
    a.release()
    assert b.acquire(wait=False)
    b.release()


def test_admin_page_lists_jobs_and_runs(app, runner, client, quick_hashes):
    from audit.auth.services import create_user

    create_user("admin", "admin", wh.PASSWORD, by="test")
    create_user("auditor", "auditor", wh.PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    assert runner.invoke("scheduler", "--once", "nightly_audit").exit_code == 0
    wh.login(client, "auditor")
    assert client.get("/admin/jobs").status_code == 403

    admin = app.test_client()
    wh.login(admin, "admin")
    res = admin.get("/admin/jobs")
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    for title in ("每日审计", "逾期整改通知书检查", "月度审计报告", "比对数据时效检查"):
        assert title in page
    assert "每天 01:30" in page and "每月 5 日 06:00" in page
    assert dt.date.today().isoformat() in page and "成功" in page and "第 1 次审计运行" in page
    assert "尚未运行" in page  # the jobs that never ran
    assert 'href="/admin/jobs"' in admin.get("/admin/users").get_data(as_text=True)


def test_stale_comparison_warns_for_old_imports(app, runner):
    now = dt.datetime.now()
    db.session.add_all([
        ImportBatch(started_at=now, finished_at=now - dt.timedelta(days=3), actor="t", source="a",
                    status="committed", counts={"deaths": {"added": 5, "changed": 0, "unchanged": 0},
                            "pensions": {"added": 0, "changed": 0, "unchanged": 9}}),
        ImportBatch(started_at=now, finished_at=now - dt.timedelta(days=100), actor="t", source="b",
                    status="committed", counts={"pensions": {"added": 0, "changed": 2, "unchanged": 7},
                            "social_insurance": {"added": 1, "changed": 0, "unchanged": 0}}),
    ])
    db.session.commit()
    out = runner.invoke("scheduler", "--once", "stale_comparison").output
    assert "养老金领取（100 天未更新）" in out and "社保缴费（100 天未更新）" in out
    assert "死亡人员" not in out  # imported 3 days ago
    assert "工商登记（从未导入）" in out
    stale = set(db.session.scalars(select(ChangeLog.table_name)
                                   .where(ChangeLog.action == "comparison.stale")))
    assert stale == {"pensions", "social_insurance", "businesses", "officials", "migrant_work"}


def test_overdue_notices_are_logged_once_a_day(app):
    from models import Notice

    today = dt.date.today()
    now = dt.datetime.combine(today, dt.time(10, 0))

    def notice(seq, status, deadline):
        return Notice(number=f"渝奉人社审〔{today.year}〕{seq}号", year=today.year, seq=seq,
                      unit="白帝村村民委员会",
                      unit_kind="employer", unit_name="白帝村村民委员会", district="奉节县",
                      issuer="奉节县人力资源和社会保障局",
                      status=status, deadline=deadline, amount_to_recover_fen=0, issued_by="auditor",
                      issued_at=now)

    db.session.add_all([notice(1, "issued", today - dt.timedelta(days=3)),
                        notice(2, "returned", today - dt.timedelta(days=1)),
                        notice(3, "answered", today - dt.timedelta(days=5)), notice(4, "issued", today)])
    db.session.commit()
    first = jobs.run_job("overdue_notices", now)
    assert first.status == "succeeded" and "逾期未整改的通知书 2 份，本次新记录 2 份" in first.message
    later = jobs.run_job("overdue_notices", now + dt.timedelta(hours=1))  # the next hour: same day
    assert later.status == "succeeded" and "本次新记录 0 份" in later.message
    again = jobs.run_job("overdue_notices", now)  # the same hour again: not run
    assert again.status == "skipped"
    entries = db.session.execute(select(ChangeLog.row_ref, ChangeLog.new)
                                 .where(ChangeLog.action == "notice.overdue")
                                 .order_by(ChangeLog.id)).all()
    assert [(ref, new["days"]) for ref, new in entries] == [(f"渝奉人社审〔{today.year}〕1号", 3),
                                                             (f"渝奉人社审〔{today.year}〕2号", 1)]


def test_a_restart_catches_up_on_a_run_due_within_the_grace_time():
    spec = jobs.BY_ID["nightly_audit"]
    hour = dt.timedelta(hours=1)
    assert jobs.missed(spec, dt.datetime(2026, 12, 2, 2, 10), hour) == dt.datetime(2026, 12, 2, 1, 30)
    assert jobs.missed(spec, dt.datetime(2026, 12, 2, 2, 40), hour) is None  # too late: the next night's run
    assert jobs.missed(spec, dt.datetime(2026, 12, 2, 1, 20), hour) is None
    monthly = jobs.BY_ID["monthly_report"]
    due = jobs.missed(monthly, dt.datetime(2026, 12, 5, 6, 30), hour)
    assert due == dt.datetime(2026, 12, 5, 6, 0) and monthly.period(due) == "2026-11"
    hourly = jobs.BY_ID["overdue_notices"]
    assert jobs.missed(hourly, dt.datetime(2026, 12, 5, 6, 59), hour) == dt.datetime(2026, 12, 5, 6, 0)


def test_the_daily_log_check_notes_the_head_and_finds_a_log_cut_back_later(app, runner):
    from audit.auditlog import record_now

    for i in range(3):
        record_now("test.entry", table="t", ref=str(i))
    day1 = dt.datetime(2026, 11, 30, 3, 0)
    first = jobs.run_job("log_check", day1)
    assert first.status == "succeeded", first.message
    # the day's anchor, outside the instance folder (P7): the head, when, where, which key
    anchor = Path(app.instance_path).parent / "log-anchors" / "anchor-2026-11-30.json"
    doc = json.loads(anchor.read_text(encoding="utf-8"))
    assert (doc["seq"], doc["time"]) == (3, "2026-11-30 03:00:00") and doc["host"] and doc["key"]
    assert str(anchor) in first.message

    with db.engine.begin() as conn:  # someone with the database's keys removes the newest entry
        conn.execute(delete(ChangeLog.__table__).where(ChangeLog.seq == 3))
    out = runner.invoke("verify-log")  # the chain alone would not show it; verify-log reads the anchors too
    assert out.exit_code == 1 and "日志链在第 3 条处断开（缺少条目）" in out.output
    second = jobs.run_job("log_check", day1 + dt.timedelta(days=1))
    assert second.status == "failed"
    run = [r for r in _runs() if r.job_id == "log_check" and r.status == "failed"][0]
    assert "日志被截断：此前记下的第 3 条已不存在" in run.error
    assert _count(ChangeLog, ChangeLog.action == "job.failed") == 1


def test_housekeeping_removes_old_jobs_and_files_without_a_row_and_nothing_else(app, runner):
    from models import DeviceCall, DeviceToken, Job, ReportFile, SignInFailure

    now = dt.datetime.now()
    # a device that called two days ago and then stopped (revoked): its calls are forgotten; one
    # that called an hour ago keeps its call (the rate limit counts it)
    for name, hours in (("车间甲-闸机", 48), ("车间乙-闸机", 1)):
        tok = DeviceToken(name=name, unit_kind="workshop", unit="WS-" + name,
                          token_hash=name.encode().hex()[:64], token_prefix="abcd", created_at=now,
                          created_by="test")
        db.session.add(tok)
        db.session.flush()
        db.session.add_all([DeviceCall(token_id=tok.id, at=now - dt.timedelta(hours=hours, minutes=m))
                            for m in range(3)])
    for days, status in ((40, "done"), (40, "running"), (2, "failed")):
        db.session.add(Job(kind="upload.check", status=status, created_at=now - dt.timedelta(days=days),
                           finished_at=now - dt.timedelta(days=days), params={}))
    db.session.add(SignInFailure(ip="192.0.2.9", at=now - dt.timedelta(days=2)))
    reports = Path(app.instance_path) / "reports" / "2026"
    evidence = Path(app.instance_path) / "evidence" / "7"
    for folder in (reports, evidence):
        folder.mkdir(parents=True)
    kept, orphan, young = reports / "summary-kept.pdf", evidence / "orphan.bin", evidence / "young.bin"
    for f in (kept, orphan, young):
        f.write_bytes(b"%PDF-1.4")
    two_hours_ago = time.time() - 7200
    for f in (kept, orphan):
        os.utime(f, (two_hours_ago, two_hours_ago))
    db.session.add(ReportFile(kind="summary", title="审计报告", params={}, path="2026/summary-kept.pdf",
                              sha256="0" * 64, size=8, created_by="test", created_at=now))
    db.session.commit()

    out = runner.invoke("scheduler", "--once", "housekeeping")
    assert out.exit_code == 0, out.output
    assert "网页任务 1 条" in out.output and "文件 1 个" in out.output
    assert "一天前的设备调用记录 3 条" in out.output
    db.session.rollback()
    # the job left running 40 days ago by a process nobody can find is failed now, with the reason
    # (and kept: it finished today)
    left = sorted(((now - j.created_at).days, j.status, j.message or "")
                  for j in db.session.scalars(select(Job)))
    assert [(days, status) for days, status, _ in left] == [(2, "failed"), (40, "failed")]
    assert "任务已中断" in left[1][2]
    assert "标为失败的网页任务 1 条" in out.output
    assert _count(SignInFailure) == 0
    callers = select(DeviceToken.name).join(DeviceCall, DeviceCall.token_id == DeviceToken.id)
    assert sorted(db.session.scalars(callers)) == ["车间乙-闸机"] * 3
    assert kept.exists() and young.exists() and not orphan.exists()
