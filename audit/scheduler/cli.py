"""``audit scheduler``: the one process that runs the scheduled jobs (APScheduler's
``BlockingScheduler``), after taking the scheduler lock — a second ``audit scheduler`` waits for
the lock instead of running the jobs twice. ``--once JOB_ID`` runs one job now (through the same
record of runs, so not twice for a period) and exits; it does not need the lock."""
from __future__ import annotations

import datetime as dt
import signal
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from models import db

from .jobs import JOBS, missed, run_job, trigger
from .lock import SchedulerLock

# coalesce: runs missed while the process was busy or down become one; max_instances: a job never
# overlaps itself; misfire_grace_time: a run up to an hour late still runs.
GRACE = dt.timedelta(hours=1)
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": int(GRACE.total_seconds())}


def _say(text: str, err: bool = False) -> None:
    click.echo(f"[{dt.datetime.now():%Y-%m-%d %H:%M:%S}] {text}", err=err)


def _runner(app, job_id: str, at: dt.datetime | None = None):
    def run() -> None:
        with app.app_context():
            try:
                outcome = run_job(job_id, at)
                _say(outcome.message, err=outcome.status == "failed")
            finally:
                db.session.remove()
    return run


def register(cli: click.Group) -> None:
    @cli.command("scheduler")
    @click.option("--once", "once", metavar="JOB_ID", type=click.Choice([j.id for j in JOBS]), default=None,
                  help="立即运行这一个任务（同样按期记录，本期已成功运行的不再重复）后退出。")
    @with_appcontext
    def scheduler_command(once: str | None) -> None:
        """定时任务调度器：每日审计、逾期整改通知书检查、月度审计报告、比对数据时效检查。同一时间只运行一个调度器。"""
        from audit.database import ensure_schema

        ensure_schema()
        app = current_app._get_current_object()
        if once:
            outcome = run_job(once)
            _say(outcome.message, err=outcome.status == "failed")
            db.session.remove()
            if outcome.status == "failed":
                sys.exit(1)
            return

        from apscheduler.schedulers.blocking import BlockingScheduler

        lock = SchedulerLock(db.engine, app.instance_path)
        where = "数据库咨询锁" if lock.kind == "postgresql" else str(lock.path)
        lock.acquire(on_wait=lambda: _say(f"另一个调度器正在运行（持有{where}），本进程等待其退出后再接手……"))
        db.session.remove()
        try:
            scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS)
            for spec in JOBS:
                scheduler.add_job(_runner(app, spec.id), trigger(spec), id=spec.id, name=spec.title,
                                  replace_existing=True)
                due = missed(spec, dt.datetime.now(), GRACE)
                if due:  # a restart just after a fire time: that run is made now (once per period)
                    scheduler.add_job(_runner(app, spec.id, due), "date", id=f"{spec.id}:catch-up",
                                      name=f"{spec.title}（补运行）")
            _say("调度器已启动，任务：" + "；".join(f"{s.title}（{s.schedule}）" for s in JOBS))
            sys.stdout.flush()
            # SIGTERM (systemd, docker stop) stops like Ctrl-C: running jobs finish, the lock is released
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                scheduler.start()
            except (KeyboardInterrupt, SystemExit):
                _say("正在停止调度器（等待正在运行的任务结束）……")
                if scheduler.running:
                    scheduler.shutdown(wait=True)
        finally:
            lock.release()
            _say("调度器已停止。")
