"""The declared jobs of ``audit scheduler`` (one list, like redash's ``tasks/schedule.py``) and the
wrapper that runs them.

Every run is for a *period* — the day, hour or month it is for — and is recorded in ``job_runs``
before it starts: the unique (job_id, period) makes a second attempt for the same period a no-op,
whichever process makes it. A failed run may be retried (its row is taken over). A run left
``running`` by a process that died (its pid is gone on this host, or it started longer ago than
``JOB_STALE_HOURS``) is marked failed, so the next attempt runs."""
from __future__ import annotations

import datetime as dt
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from sqlalchemy import and_, delete, func, insert, or_, select, union, update
from sqlalchemy.exc import IntegrityError

from audit.auditlog import record
from models import ChangeLog, ImportBatch, JobRun, Notice, Position, Workshop, db

COMPARISON_TABLES = ("deaths", "social_insurance", "pensions", "businesses", "officials", "migrant_work")
# Seconds a job sleeps after its run is recorded, before it starts: for tests that kill a run
# half-way. Never set in production.
TEST_DELAY_ENV = "AUDIT_SCHEDULER_TEST_DELAY"


def _setting(name: str, default: int) -> int:
    value = current_app.config.get(name) or os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _first_of_last_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


# -- the jobs -----------------------------------------------------------------------------------------


def nightly_audit(now: dt.datetime) -> str:
    from audit.engine.runner import run_audit

    result = run_audit(db.engine, as_of=now.date(), actor="job:nightly_audit")
    return (f"第 {result.run_id} 次审计运行（基准日 {now.date()}）：共 {result.total} 条，新增 {result.new}，"
            f"重新出现 {result.reopened}，数据已消除 {result.resolved}")


def overdue_notices(now: dt.datetime) -> str:
    """Notices past their deadline and still waiting for the unit: an audit-log entry per notice
    per day."""
    from audit.rectification.queries import overdue_clause

    today = now.date()
    day_start = dt.datetime.combine(today, dt.time())
    noted = (select(ChangeLog.row_id).where(ChangeLog.action == "notice.overdue",
                                            ChangeLog.table_name == "notices", ChangeLog.at >= day_start,
                                            ChangeLog.row_id.is_not(None)))
    total = db.session.scalar(select(func.count()).select_from(Notice).where(overdue_clause(today))) or 0
    rows = db.session.execute(select(Notice.id, Notice.number, Notice.unit_name, Notice.deadline)
                              .where(overdue_clause(today), Notice.id.not_in(noted))
                              .order_by(Notice.id)).all()
    for n in rows:
        record("notice.overdue", table="notices", row_id=n.id, ref=n.number, who="job:overdue_notices",
               new={"unit": n.unit_name, "deadline": n.deadline.isoformat(),
                    "days": (today - n.deadline).days})
    db.session.commit()
    return f"逾期未整改的通知书 {total} 份，本次新记录 {len(rows)} 份"


def districts() -> list[str]:
    both = union(select(Position.district.label("d")).where(Position.district.is_not(None)),
                 select(Workshop.district.label("d")).where(Workshop.district.is_not(None))).subquery()
    return [d for (d,) in db.session.execute(select(both.c.d).order_by(both.c.d))]


def monthly_report(now: dt.datetime) -> str:
    """Last month's 审计报告 of every district, archived. Each district is committed as it is
    made; a retry after a failure makes only the districts still missing."""
    from models import ReportFile
    from reports.archive import generate

    month = _first_of_last_month(now.date())
    by = "job:monthly_report"
    made, done = [], set()
    for report in db.session.scalars(select(ReportFile).where(ReportFile.kind == "summary",
                                                              ReportFile.created_by == by)):
        if str((report.params or {}).get("first", ""))[:7] == month.isoformat()[:7]:
            done.add(report.district)
    for d in districts():
        if d in done:
            continue
        generate("summary", by=by, district=d, first=month, last=month)
        db.session.commit()
        made.append(d)
    return f"{month:%Y年%m月}审计报告：新生成 {len(made)} 份" + (f"（{'、'.join(made)}）" if made else "")


def stale_comparison(now: dt.datetime) -> str:
    """The age of each comparison table's newest import (the last batch that added or changed its
    rows); a warning in the audit log for each older than ``STALE_COMPARISON_DAYS`` (or never
    imported)."""
    from audit.engine.runner import TABLE_NAMES

    limit = _setting("STALE_COMPARISON_DAYS", 45)
    counts = ImportBatch.counts
    cols = [func.max(ImportBatch.finished_at).filter(or_(counts[t]["added"].as_integer() > 0,
                                                        counts[t]["changed"].as_integer() > 0)).label(t)
            for t in COMPARISON_TABLES]
    latest = db.session.execute(select(*cols)).one()._mapping
    stale = []
    for t in COMPARISON_TABLES:
        last = latest[t]
        if isinstance(last, str):  # SQLite without a type on an aggregate
            last = dt.datetime.fromisoformat(last)
        days = (now - last).days if last else None
        if last is None or days > limit:
            stale.append(f"{TABLE_NAMES[t]}（{'从未导入' if last is None else f'{days} 天未更新'}）")
            record("comparison.stale", table=t, ref=TABLE_NAMES[t], who="job:stale_comparison",
                   new={"last_import": last.isoformat(timespec="seconds") if last else None, "days": days,
                        "limit_days": limit})
            current_app.logger.warning("比对数据 %s 已过期：%s", t,
                                       "从未导入" if last is None else f"{days} 天")
    db.session.commit()
    if not stale:
        return f"比对数据均在 {limit} 天内更新过"
    return f"超过 {limit} 天未更新的比对数据：{'、'.join(stale)}"


def log_check(now: dt.datetime) -> str:
    """Verify the audit log's chain (HMAC under the log key) against every anchor in
    ``LOG_ANCHOR_DIR`` (default ``<instance>/../log-anchors``, outside the instance folder), then,
    when all holds, note today's head there as ``anchor-YYYY-MM-DD.json`` (audit/logchain/). A
    break or an anchor that no longer matches fails the run (kept in ``job_runs`` and the audit log)
    and writes no anchor. Point the folder at storage the database's administrators cannot
    rewrite, and the check holds against them too."""
    from audit.logchain import chain_key, check, write_anchor

    key = chain_key()
    with db.engine.connect() as conn:
        report = check(conn, key=key)
    if not report.ok:
        raise RuntimeError("；".join(line for line, bad in report.lines() if bad))
    head = report.verdict.last
    if not head:
        return f"日志为空；锚点 {report.anchors} 个"
    path = write_anchor(head["seq"], head["hash"], now.date(), key, report.folder, now)
    return (f"日志链完整：共 {report.verdict.count} 条；锚点目录中的 {report.anchors} 个锚点均与日志一致；"
            f"已写下锚点 {path}（第 {head['seq']} 条）")


def housekeeping(now: dt.datetime) -> str:
    """Web jobs and audit runs left unfinished by a process that is gone (killed, the server
    restarted), marked failed with the reason (``audit.uploads.recovery.recover``); and what nothing
    else removes: finished web jobs older than ``JOB_RETENTION_DAYS`` (30), failed sign-ins older
    than a day, the rate limit's record of device calls older than a day (a device's own calls
    forget its older ones, but a device that stops calling, or is revoked, left its rows for
    ever), and evidence or report files with no row (a request that wrote the file and then
    failed to commit). Files younger than an hour are left alone: their request may still be
    committing. Never the audit log."""
    from audit.devices.services import KEEP_CALLS
    from audit.rectification.services import evidence_root
    from audit.uploads.recovery import recover
    from models import DeviceCall, EvidenceFile, Job, ReportFile, SignInFailure
    from reports.archive import reports_dir

    dead_jobs, dead_runs = recover(now)

    days = _setting("JOB_RETENTION_DAYS", 30)
    jobs_gone = db.session.execute(delete(Job).where(
        Job.status.in_(("done", "failed")), Job.finished_at < now - dt.timedelta(days=days))).rowcount
    db.session.execute(delete(SignInFailure).where(SignInFailure.at < now - dt.timedelta(days=1)))
    calls_gone = db.session.execute(delete(DeviceCall).where(DeviceCall.at < now - KEEP_CALLS)).rowcount
    db.session.commit()
    young = (now - dt.timedelta(hours=1)).timestamp()
    orphans = 0
    for root, known in ((evidence_root(), set(db.session.scalars(select(EvidenceFile.stored)))),
                        (reports_dir(), set(db.session.scalars(select(ReportFile.path))))):
        if not root.is_dir():
            continue
        for f in root.rglob("*"):
            if f.is_file() and f.stat().st_mtime < young and f.relative_to(root).as_posix() not in known:
                f.unlink()
                orphans += 1
    return (f"已清理：{days} 天前结束的网页任务 {jobs_gone} 条，一天前的设备调用记录 {calls_gone} 条，"
            f"无记录的附件与报告文件 {orphans} 个；"
            f"进程已停止而标为失败的网页任务 {len(dead_jobs)} 条、审计运行 {len(dead_runs)} 次")


def payday_warnings(now: dt.datetime) -> str:
    """发放前预警: from the month's ``PAYDAY_WARNING_DAY``-th (default 20), the persons whose pay this
    month would be held or rejected on the data so far, per unit (audit/precheck/warnings.py);
    remade every day to the month's end, each unit whose list changed notified in the audit log.
    Before that day it does nothing and says so."""
    from audit.precheck import warnings

    done = warnings.run(db.engine, now.date(), actor="job:payday_warnings",
                        day=warnings.warning_day(current_app.config))
    return warnings.summary_text(done)


@dataclass(frozen=True)
class JobSpec:
    id: str
    title: str  # Chinese, for people
    schedule: str  # the trigger, for people
    trigger: dict  # CronTrigger's fields
    func: Callable[[dt.datetime], str]
    period: Callable[[dt.datetime], str]  # the key of the run a given moment belongs to


def _day(now: dt.datetime) -> str:
    return now.date().isoformat()


JOBS: list[JobSpec] = [
    JobSpec("nightly_audit", "每日审计（运行全部审计规则）", "每天 01:30", {"hour": 1, "minute": 30},
            nightly_audit, _day),
    JobSpec("overdue_notices", "逾期整改通知书检查", "每小时整点", {"minute": 0},
            overdue_notices, lambda now: now.strftime("%Y-%m-%dT%H")),
    JobSpec("monthly_report", "月度审计报告（各区县上月）", "每月 5 日 06:00",
            {"day": 5, "hour": 6, "minute": 0}, monthly_report,
            lambda now: _first_of_last_month(now.date()).strftime("%Y-%m")),
    JobSpec("stale_comparison", "比对数据时效检查", "每天 07:00", {"hour": 7, "minute": 0},
            stale_comparison, _day),
    JobSpec("log_check", "审计日志完整性校验（密钥哈希链与锚点）", "每天 03:00", {"hour": 3, "minute": 0},
            log_check, _day),
    JobSpec("payday_warnings", "发放前预警（本月将暂缓或不予发放的人员）", "每天 06:30（每月 20 日起，可设）",
            {"hour": 6, "minute": 30}, payday_warnings, _day),
    JobSpec("housekeeping", "清理过期任务记录与无主文件", "每天 04:00", {"hour": 4, "minute": 0},
            housekeeping, _day),
]
BY_ID = {j.id: j for j in JOBS}


def trigger(spec: JobSpec) -> CronTrigger:
    return CronTrigger(**spec.trigger)


def missed(spec: JobSpec, now: dt.datetime, grace: dt.timedelta) -> dt.datetime | None:
    """The job's latest fire time within ``grace`` before ``now`` (naive, local), if any: a
    scheduler (re)started just after a fire time it was not running for catches up on it (the
    record of runs makes that a no-op when the run was made)."""
    t = trigger(spec)
    end = now.astimezone(t.timezone)
    fire = t.get_next_fire_time(None, (now - grace).astimezone(t.timezone))
    last = None
    while fire is not None and fire <= end:
        last = fire
        fire = t.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
    return last.astimezone().replace(tzinfo=None) if last else None


# -- the wrapper --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # succeeded / failed / skipped
    message: str
    run_id: int | None = None


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(run: JobRun, now: dt.datetime | None = None) -> bool:
    """A run marked running whose process is gone (same host, pid not alive) or that started longer
    ago than ``JOB_STALE_HOURS`` (default 6)."""
    if run.status != "running":
        return False
    now = now or dt.datetime.now()
    if run.started_at < now - dt.timedelta(hours=_setting("JOB_STALE_HOURS", 6)):
        return True
    return run.host == socket.gethostname() and not _pid_alive(run.pid)


def _take_over(row: JobRun, host: str, pid: int, started: dt.datetime) -> bool:
    """Compare-and-swap the row from what was read to a new run of ours; False when another
    process got there first."""
    res = db.session.execute(
        update(JobRun).where(JobRun.id == row.id, JobRun.status == row.status,
                             JobRun.started_at == row.started_at)
        .values(status="running", started_at=started, finished_at=None, error=None, summary=None, host=host,
                pid=pid)
        .execution_options(synchronize_session=False))
    return res.rowcount == 1


def _claim(spec: JobSpec, period: str) -> tuple[int | None, str]:
    """Record the run as running; (run id, "") when it is ours to run, (None, why not) otherwise."""
    host, pid, started = socket.gethostname(), os.getpid(), dt.datetime.now()
    try:
        run_id = db.session.execute(insert(JobRun).values(
            job_id=spec.id, period=period, started_at=started, status="running", host=host, pid=pid)
            .returning(JobRun.id)).scalar_one()
        db.session.commit()
        return run_id, ""
    except IntegrityError:
        db.session.rollback()
    row = db.session.scalar(select(JobRun).where(JobRun.job_id == spec.id, JobRun.period == period))
    if row is None:  # deleted in between: very unlikely; let the next trigger try again
        return None, "本期运行记录刚被删除，未运行"
    if row.status == "succeeded":
        db.session.rollback()
        return None, f"本期（{period}）已运行成功，不再重复运行"
    if row.status == "running" and not is_stale(row):
        db.session.rollback()
        return None, f"本期（{period}）正在由 {row.host} 上的进程 {row.pid} 运行，未重复运行"
    if row.status == "running":  # its process died: the run counts as failed, kept in the audit log
        error = f"运行中断：{row.host} 上的进程 {row.pid} 已不存在（或运行超时），未完成"
        res = db.session.execute(update(JobRun).where(JobRun.id == row.id, JobRun.status == "running",
                                                      JobRun.started_at == row.started_at)
                                 .values(status="failed", finished_at=dt.datetime.now(), error=error)
                                 .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            db.session.rollback()
            return None, f"本期（{period}）已由其他进程接手"
        record("job.failed", table="job_runs", row_id=row.id, ref=f"{spec.id} {period}", who=f"job:{spec.id}",
               new={"error": error})
        db.session.commit()
        db.session.refresh(row)
    if _take_over(row, host, pid, started):
        db.session.commit()
        return row.id, ""
    db.session.rollback()
    return None, f"本期（{period}）已由其他进程接手"


def run_job(job_id: str, now: dt.datetime | None = None) -> Outcome:
    """Run a declared job for the period ``now`` falls in, through the record of runs (inside an
    app context). Never raises for the job's own failure: it is recorded."""
    spec = BY_ID[job_id]
    now = now or dt.datetime.now()
    period = spec.period(now)
    run_id, why = _claim(spec, period)
    if run_id is None:
        return Outcome("skipped", why)
    try:
        delay = float(os.environ.get(TEST_DELAY_ENV) or 0)
        if delay:
            time.sleep(delay)
        summary = spec.func(now)
    except Exception as exc:
        db.session.rollback()
        current_app.logger.exception("定时任务 %s（%s）失败", spec.id, period)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.execute(update(JobRun).where(JobRun.id == run_id).values(
            status="failed", finished_at=dt.datetime.now(),
            error=error + "\n\n" + traceback.format_exc()[-4000:]))
        record("job.failed", table="job_runs", row_id=run_id, ref=f"{spec.id} {period}", who=f"job:{spec.id}",
               new={"error": error})
        db.session.commit()
        return Outcome("failed", f"{spec.title}（{period}）失败：{error}", run_id)
    db.session.execute(update(JobRun).where(JobRun.id == run_id).values(
        status="succeeded", finished_at=dt.datetime.now(), summary=summary))
    db.session.commit()
    return Outcome("succeeded", f"{spec.title}（{period}）完成：{summary}", run_id)


# -- for the admin page -------------------------------------------------------------------------------


def recent_runs(limit: int = 100) -> list[dict]:
    """The latest runs, newest first; a run whose process died shows as interrupted (failed)."""
    now = dt.datetime.now()
    rows = db.session.scalars(select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc())
                              .limit(limit)).all()
    out = []
    for r in rows:
        stale = is_stale(r, now)
        spec = BY_ID.get(r.job_id)
        out.append({"job_id": r.job_id, "title": spec.title if spec else r.job_id, "period": r.period,
                    "started_at": r.started_at, "finished_at": r.finished_at,
                    "status": "failed" if stale else r.status, "interrupted": stale,
                    "error": ("运行中断：进程已不存在（下次运行时重试）" if stale
                              else (r.error or "").split("\n\n")[0]),
                    "summary": r.summary, "where": f"{r.host or '?'} / {r.pid or '?'}"})
    return out


def last_runs() -> dict[str, JobRun]:
    """Each job's latest run."""
    latest = select(JobRun.job_id, func.max(JobRun.started_at).label("at")).group_by(JobRun.job_id).subquery()
    rows = db.session.scalars(select(JobRun).join(latest, and_(JobRun.job_id == latest.c.job_id,
                                                                JobRun.started_at == latest.c.at))).all()
    return {r.job_id: r for r in rows}
