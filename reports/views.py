"""The report archive in the browser (``/reports``): every archived PDF the user may see, the 审计报告
and 整改台账 generated on request, their download; and ``generate_pdf``, which the notice's page
(audit/rectification/views.py) uses for its 整改通知书 too.

Request parsing and rendering only: what the user may see comes from ``audit.rectification.queries``
(scoped), the PDFs from ``reports.archive``."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from audit import paging
from audit.access import deny
from audit.auditlog import record
from audit.rectification import queries
from audit.web import attachment, size_text
from models import Role, db

bp = Blueprint("reports", __name__, url_prefix="/reports")

GENERATES = (Role.AUDITOR, Role.INSPECTOR)  # who may have a 审计报告 or 整改台账 generated


@bp.context_processor
def _helpers():
    return {"report_kinds": queries.REPORT_KINDS, "size_text": size_text}


def _archive():
    """The PDF archive (``reports.archive``), or None while it is not installed."""
    try:
        from reports import archive
    except ImportError:
        return None
    return archive


def generate_pdf(back: str, kind: str, **params):
    """A new archived PDF, committed; or a redirect to ``back`` with the reason it failed; or 429
    (Retry-After) when the user generated PDF_PER_MINUTE of them within the last minute."""
    archive = _archive()
    if archive is None:
        flash("PDF 报告功能尚未安装，请联系管理员。", "error")
        return redirect(back, 303)
    wait = archive.rate_limited(current_user.username)
    if wait is not None:  # P9: PDF_PER_MINUTE reached; nothing is rendered
        limit = current_app.config.get("PDF_PER_MINUTE")
        text = (f"一分钟内最多生成 {limit} 份 PDF 报告，请约 {wait} 秒后再试"
                "（已生成的报告可在「报告」中直接下载）。")
        return (render_template("error.html", code=429, title="生成报告过于频繁", text=text, detail=None),
                429, {"Retry-After": str(wait)})
    try:
        report = archive.generate(kind, by=current_user.username, **params)
        db.session.commit()
    except (ValueError, archive.ReportError) as exc:  # what the report cannot cover, in the user's words
        db.session.rollback()
        flash(f"未能生成报告：{exc}", "error")
        return redirect(back, 303)
    return report


# ---- the report archive -------------------------------------------------------------------------------

@bp.get("/", endpoint="index")
@login_required
def reports_index():
    return _render_reports()


def _render_reports(*, errors: dict | None = None, kept: dict | None = None, status: int = 200):
    number = paging.page_arg()
    rows, total = queries.reports(number)
    may = current_user.role in GENERATES
    districts = queries.whole_districts() if may else []
    return render_template("rectification/reports.html", rows=rows, total=total,
                           page=paging.Page(total, number, queries.PER_PAGE), may_generate=may,
                           districts=districts, errors=errors or {}, kept=kept or {},
                           new_id=request.args.get("new", type=int)), status


def _district() -> str:
    if current_user.role not in GENERATES:
        deny("report generate")
    district = (request.form.get("district") or "").strip()
    if district not in queries.whole_districts():
        deny(f"report generate {district[:60]}")
    return district


@bp.post("/summary")
@login_required
def summary():
    district = _district()
    text = (request.form.get("period") or "").strip()[:40]
    period = queries.parse_period(text)
    if period is None:
        return _render_reports(errors={"summary": "请按 YYYY-MM:YYYY-MM 填写期间，例如 2025-01:2025-06"},
                               kept={"summary_district": district, "period": text}, status=400)
    return _archive_and_list("summary", district=district, first=period[0], last=period[1])


@bp.post("/ledger")
@login_required
def ledger():
    district = _district()
    return _archive_and_list("ledger", district=district)


def _archive_and_list(kind: str, **params):
    """Generate a district report and go back to the archive, the new report marked."""
    report = generate_pdf(url_for(".index"), kind, **params)
    if not hasattr(report, "id"):
        return report  # the redirect back, with the error
    flash(f"已生成并归档：{report.title}", "success")
    return redirect(url_for(".index", new=report.id), 303)


@bp.get("/<int:rid>/download")
@login_required
def download(rid: int):
    report = queries.report(rid)
    archive = _archive()
    if archive is None:
        abort(404)
    try:
        path = archive.path_of(report)
    except archive.ReportError:
        abort(404)
    if not path.is_file():
        abort(404)
    record("report.download", table="report_files", row_id=report.id, ref=report.title,
           new={"kind": report.kind, "sha256": report.sha256, "notice_id": report.notice_id,
                "district": report.district})
    db.session.commit()
    resp = send_file(path, as_attachment=True, download_name=pdf_name(report.title),
                     mimetype="application/pdf", max_age=0)
    return attachment(resp)


def pdf_name(title: str) -> str:
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", title or "报告").strip(" ._") or "报告"
    return name if name.lower().endswith(".pdf") else f"{name}.pdf"
