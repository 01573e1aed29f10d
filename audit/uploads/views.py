"""Ledger upload pages (auditors only): the upload form and the user's recent uploads, the check's
preview with every error by row, the commit, the audit run after it, template downloads."""
from __future__ import annotations

import io
from functools import wraps

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from audit import paging
from audit.access import deny, scope
from audit.ledger.schema import BY_NAME, TABLES
from models import Job

from . import bp, jobs, storage
from . import services as s


def importers_only(view):
    """Signed-in users who may import (auditors); everyone else gets 403, logged."""

    @wraps(view)
    @login_required
    def inner(*a, **kw):
        if not scope().can_import:
            deny()
        return view(*a, **kw)

    return inner


def _own_job(job_id: int, *kinds: str) -> Job:
    """The signed-in user's job; anyone else's (or none) answers 404."""
    job = jobs.get(job_id)
    if job is None or job.owner_id != current_user.id or (kinds and job.kind not in kinds):
        abort(404)
    return job


def _batch_url(batch_id: int | None) -> str | None:
    return url_for("browse.import_batch", batch_id=batch_id) if batch_id else None


def _actor() -> s.Actor:
    return s.Actor.of(current_user, request.remote_addr)


def _see_other(endpoint: str, **kw):
    return redirect(url_for(endpoint, **kw), code=303)


# ---- the form and the list -------------------------------------------------------------------------

@bp.get("/")
@importers_only
def index():
    checks = jobs.owned(current_user.id, kinds=(s.CHECK,), limit=20)
    commits = s.commit_jobs(checks)
    rows = [_summary(j, _current_commit(j, commits.get(j.id))) for j in checks]
    audits = jobs.owned(current_user.id, kinds=(s.AUDIT,), limit=1)
    # imported here: the templates load openpyxl, which no other page (nor any command) needs to start
    from audit.ledger.templates import WORKBOOK_NAME

    return render_template("uploads/index.html", rows=rows, tables=TABLES, workbook=WORKBOOK_NAME,
                           last_audit=(audits[0], jobs.view(audits[0])) if audits else None,
                           running_audit=s.running_audit())


def _current_commit(check: Job, commit: Job | None) -> Job | None:
    """The check's load as its owner should see it. A load asked for again after its process died
    (重新导入) names itself in the check only once its thread has started; until then the check still
    names the dead one, whose lock was put aside. A ``commit.lock`` that does not name the dead load
    is the new one's: the load is starting (None: shown as 「正在开始导入」), not the old failure with
    its 重新导入 button, which would only answer that the upload is being loaded already."""
    if commit is None or jobs.view(commit).status != "failed":
        return commit
    try:
        lock = (s.stored_of(check).folder / "commit.lock").read_text().strip()
    except (OSError, s.UploadError):
        return commit  # no new load asked for
    return None if lock != str(commit.id) else commit


def _summary(check: Job, commit: Job | None) -> dict:
    """One line of the recent uploads: what it is and where it stands."""
    v = jobs.view(check)
    r = check.result or {}
    files = (check.params or {}).get("files") or []
    line = {"job": check, "files": files, "size": _size((check.params or {}).get("bytes", 0)),
            "badge": v.status, "progress": v.progress}
    if not v.finished:
        line["state"] = f"检查中（{v.progress}%）"
    elif v.status == "failed":
        line["state"] = "检查失败"
    elif not r.get("ok"):
        line["state"], line["badge"] = f"有 {r.get('errors', 0):,} 处错误，已拒绝", "failed"
    elif commit is None:
        state = "导入中" if s.commit_state(check) else "检查通过，待确认导入"
        line["state"], line["badge"] = state, "queued"
    else:
        cv = jobs.view(commit)
        cr = commit.result or {}
        if not cv.finished:
            line["state"], line["badge"] = f"导入中（{cv.progress}%）", "running"
        elif cv.status == "failed":
            line["state"], line["badge"] = "导入失败", "failed"
        elif cr.get("ok"):
            line["state"], line["badge"] = f"已导入（批次 #{cr.get('batch_id')}）", "done"
        else:
            line["state"], line["badge"] = f"导入被拒绝（{cr.get('errors', 0):,} 处错误）", "failed"
    return line


@bp.post("/")
@importers_only
def upload():
    try:
        stored = storage.store_upload(request.files.getlist("files"))
    except s.UploadError as exc:
        flash(str(exc), "error")
        return _see_other("uploads.index")
    job_id = s.start_check(_actor(), scope(), stored)
    return _see_other("uploads.show", job_id=job_id)


# ---- one job -----------------------------------------------------------------------------------------

@bp.get("/<int:job_id>")
@importers_only
def show(job_id: int):
    job = _own_job(job_id, s.CHECK, s.COMMIT, s.AUDIT)
    if job.kind == s.COMMIT:
        return _see_other("uploads.show", job_id=(job.params or {}).get("check_job") or 0)
    if job.kind == s.AUDIT:
        return render_template("uploads/audit.html", job=job, view=jobs.view(job), result=job.result or {})
    view = jobs.view(job)
    result = job.result or {}
    commit = _current_commit(job, s.commit_job_of(job))
    commit_view = jobs.view(commit) if commit else None
    commit_result = (commit.result or {}) if commit else {}
    # whose errors are shown: the commit's, if it was refused, else the check's
    shown = commit if commit is not None and commit_view.finished and commit_result.get("errors") else job
    shown_result = commit_result if shown is commit else result
    total = int(shown_result.get("errors") or 0) if (shown is commit or view.status == "done") else 0
    page = paging.Page(total, paging.page_arg(), s.ERRORS_PER_PAGE)
    return render_template(
        "uploads/show.html", job=job, view=view, result=result, files=(job.params or {}).get("files") or [],
        commit=commit, commit_view=commit_view, commit_result=commit_result,
        committing=commit is None and bool(s.commit_state(job)),
        errors=s.errors_page(shown, page.page) if total else [], errors_total=total, errors_job=shown,
        page=page, tables=TABLES, by_name=BY_NAME,
        batch_url=_batch_url(commit_result.get("batch_id")), running_audit=s.running_audit(),
        retry_check=s.can_retry(job), retry_commit=commit is not None and s.can_retry(commit),
        file_gone=s.gone_text() if s.gone(commit or job) else None)


@bp.get("/<int:job_id>.json")
@importers_only
def job_json(job_id: int):
    job = _own_job(job_id)
    return jsonify(jobs.view(job).as_json())


@bp.get("/<int:job_id>/errors.csv")
@importers_only
def errors_csv(job_id: int):
    job = _own_job(job_id, s.CHECK, s.COMMIT)
    path = s.errors_file(job)
    if path is None:
        abort(404)
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=f"导入错误-{job.id}.csv",
                     max_age=0)


@bp.post("/<int:job_id>/commit")
@importers_only
def commit(job_id: int):
    job = _own_job(job_id, s.CHECK)
    try:
        s.start_commit(_actor(), scope(), job)
    except s.UploadError as exc:
        flash(str(exc), "error")
    return _see_other("uploads.show", job_id=job.id)


@bp.post("/<int:job_id>/retry")
@importers_only
def retry(job_id: int):
    """Check again an upload whose check was cut off (its process died); the file was kept."""
    job = _own_job(job_id, s.CHECK)
    try:
        new_id = s.retry_check(_actor(), scope(), job)
    except s.UploadError as exc:
        flash(str(exc), "error")
        return _see_other("uploads.show", job_id=job.id)
    return _see_other("uploads.show", job_id=new_id)


@bp.post("/run-audit")
@importers_only
def run_audit():
    after = request.form.get("after", type=int)
    if after is not None:
        _own_job(after, s.CHECK)
    try:
        job_id = s.start_audit(_actor(), after=after)
    except s.UploadError as exc:
        flash(str(exc), "warning")
        running = s.running_audit()
        if running is not None and running.owner_id == current_user.id:
            return _see_other("uploads.show", job_id=running.id)
        return _see_other("uploads.show", job_id=after) if after else _see_other("uploads.index")
    return _see_other("uploads.show", job_id=job_id)


# ---- templates ----------------------------------------------------------------------------------------

@bp.get("/templates.zip")
@importers_only
def templates_zip():
    return send_file(io.BytesIO(s.templates_zip()), mimetype="application/zip", as_attachment=True,
                     download_name="台账模板.zip", max_age=0)


@bp.get("/templates/<name>")
@importers_only
def template_file(name: str):
    files = s.template_files()
    if name not in files:
        abort(404)
    mime = ("text/csv" if name.endswith(".csv")
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return send_file(io.BytesIO(files[name]), mimetype=mime, as_attachment=True, download_name=name,
                     max_age=0)


def _size(n) -> str:
    n = int(n or 0)
    if n < 1024:
        return f"{n} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1 << 20):.1f} MB"
