"""审计回放 pages (the roles that may start an audit run: auditors): the form asking for a date,
the replay running in the background, its findings within the user's scope with the totals per
category, and their download as Excel."""
from __future__ import annotations

import datetime as dt
import tempfile
from functools import wraps
from pathlib import Path
from urllib.parse import quote

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from audit import paging
from audit.access import deny, scope
from audit.engine.rule import CATEGORIES, SEVERITIES
from audit.web import findings_reader
from models import FINDING_STATUSES, Job, db

from . import bp, queries, services

EARLIEST = dt.date(2000, 1, 1)


def runners_only(view):
    """Signed-in users who may start an audit run (auditors); everyone else gets 403, logged."""

    @wraps(view)
    @login_required
    def inner(*a, **kw):
        if not scope().can_import:
            deny()
        return view(*a, **kw)

    return inner


def _latest_day() -> dt.date:
    from audit.engine.asof import as_of_date

    return as_of_date()


@bp.get("/")
@runners_only
def index():
    from audit.engine.runner import latest_run

    latest = latest_run(db.session.connection())
    return render_template("replay/index.html", replays=queries.recent(current_user.username),
                           running=_running_job(), latest=latest, today=_latest_day(),
                           value=request.args.get("as_of", ""))


@bp.post("/")
@runners_only
def start():
    text = (request.form.get("as_of") or "").strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        flash("请按 YYYY-MM-DD 填写回放的审计基准日（如 2025-03-31）。", "error")
        return redirect(url_for(".index"), 303)
    if day > _latest_day():
        flash(f"回放的基准日不能晚于今天（{_latest_day()}）。", "error")
        return redirect(url_for(".index", as_of=text), 303)
    if day < EARLIEST:
        flash(f"回放的基准日不能早于 {EARLIEST}。", "error")
        return redirect(url_for(".index", as_of=text), 303)
    if _running_job() is not None:
        flash("您的上一次回放还在运行，请等它完成后再试。", "warning")
        return redirect(url_for(".index"), 303)
    job_id = _start(day)
    return redirect(url_for(".job", job_id=job_id), 303)


def _start(day: dt.date) -> int:
    from audit.uploads import jobs

    user_id, name, ip = int(current_user.id), str(current_user.username), request.remote_addr
    keep = services.keep_days(current_app.config)

    def work(job_id: int, report) -> dict:
        report(5, f"正在按基准日 {day} 运行全部审计规则（回放，不改动当前的审计发现）…")
        r = services.replay(db.engine, as_of=day, actor=name, log={"ip": ip, "job": job_id}, keep_days=keep)
        return {"replay_id": r.replay_id, "as_of": day.isoformat(), "total": r.total}

    return jobs.start(services.JOB_KIND, user_id, {"actor": name, "as_of": day.isoformat(), "ip": ip}, work,
                      background=True)


def _running_job() -> Job | None:
    """The signed-in user's replay that is still running, if any."""
    from audit.uploads import jobs

    for job in db.session.scalars(select(Job).where(Job.kind == services.JOB_KIND,
                                                    Job.owner_id == current_user.id,
                                                    Job.status.in_(("queued", "running")))):
        if not jobs.view(job).finished:
            return job
    return None


@bp.get("/jobs/<int:job_id>")
@runners_only
def job(job_id: int):
    """A replay being made: its progress until it is done, then the replay."""
    from audit.uploads import jobs

    job = jobs.get(job_id)
    if job is None or job.owner_id != current_user.id or job.kind != services.JOB_KIND:
        abort(404)
    view = jobs.view(job)
    if view.status == "done" and (job.result or {}).get("replay_id"):
        return redirect(url_for(".show", replay_id=job.result["replay_id"]), 303)
    return render_template("replay/job.html", job=job, view=view, as_of=(job.params or {}).get("as_of"))


@bp.get("/<int:replay_id>")
@runners_only
def show(replay_id: int):
    run = queries.get(replay_id)
    sc = scope()
    category = request.args.get("category", "")
    category = category if category in CATEGORIES else ""
    rows, total = queries.listing(run.id, sc, category, 1)
    page = paging.Page(total, paging.page_arg(), queries.PER_PAGE)
    if page.page > 1:
        rows, total = queries.listing(run.id, sc, category, page.page)
    cats = queries.by_category(db.session.connection(), run.id, queries.in_scope(sc, queries.RF))
    not_run = {code: s.get("reason") for code, s in (run.rules or {}).items() if s.get("status") != "ran"}
    return render_template(
        "replay/show.html", run=run, rows=rows, total=total, page=page, category=category,
        categories=cats, category_names=CATEGORIES, severities=SEVERITIES, statuses=FINDING_STATUSES,
        not_current=services.NOT_CURRENT, not_run=not_run, note=services.NOTE,
        violations_count=sum(c["count"] for c in cats if c["violation"]),
        violations_fen=sum(c["amount_fen"] for c in cats if c["violation"]))


@bp.get("/<int:replay_id>.xlsx")
@runners_only
def download(replay_id: int):
    """The replay's findings in the user's scope as Excel (masked), logged (``replay.export``)."""
    run = queries.get(replay_id)
    sc = scope()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.xlsx"
        services.export_in_session(run.id, "xlsx", pii=current_app.extensions["pii"],
                                   actor=current_user.username, output=str(path),
                                   where=lambda t: [queries.in_scope(sc, t)], reader=findings_reader(),
                                   log={"ip": request.remote_addr, "scope": sc.describe()})
        data = path.read_bytes()
    name = f"审计回放-{run.as_of.isoformat()}-{run.id}.xlsx"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=xlsx, headers={
        "Content-Disposition": f"attachment; filename=replay-{run.as_of.isoformat()}-{run.id}.xlsx; "
                               f"filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})
