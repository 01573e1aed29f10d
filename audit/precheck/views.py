"""发放前校验 pages (shared/docs/precheck.md, "Output / on the web"): the upload of a draft payroll,
the list of pre-checks in scope, a pre-check's rows with their verdicts and totals, the approval
(审批), the XLSX download. Thin: the check is ``services.check`` / ``save`` (the command line's),
what the pages read and the approval are ``web``.

Decisions:
- Who: auditors upload and approve (``Scope.can_review``: the township auditor of the contract);
  inspectors and admins read and download within their scope; operators get 403 (logged).
- The upload is checked while the request waits (10,000 rows take 4–8 s, README "Cost"), with
  the body limit of every signed-in form (MAX_CONTENT_LENGTH, as the ledger upload) and the
  workbook limits of the ledger's reader (``limits_from_config``). The file is read from a
  temporary folder and not kept; what is stored is the pre-check, as on the command line.
- Downloads: the masked XLSX only. The full-ID JSON Lines stay the command line's (for machine
  use, as the findings export: the web offers CSV/XLSX masked): the stored rows keep the ID
  number masked only, and no role's page shows a full ID number without a logged reveal.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from audit import paging
from audit.access import deny, not_found_in_scope, roles_required, scope
from audit.ledger.importer import RowError
from audit.ledger.limits import limits_from_config
from models import Role, db

from . import verdicts as V
from . import web as w
from .reader import DraftError, read_draft
from .services import save

bp = Blueprint("precheck", __name__, url_prefix="/prechecks")

READERS = (Role.AUDITOR, Role.INSPECTOR, Role.ADMIN)
SUFFIXES = (".csv", ".xlsx", ".xlsm")


def _see_other(endpoint: str, **kw):
    return redirect(url_for(endpoint, **kw), code=303)


def _auditor() -> None:
    if not scope().can_review:
        deny()


def _rule_titles(codes) -> dict[str, str]:
    from audit.findings.queries import rule_title

    return {c: rule_title(c) for c in codes}


@bp.get("/")
@roles_required(*READERS)
def index():
    return _index()


def _index(errors: list[RowError] | None = None, message: str | None = None, as_of: str = "",
           status: int = 200):
    from dataclasses import replace

    from audit.pii import mask_identifiers

    sc = scope()
    # a row error's value as the page shows it: an ID or account number in it masked (the file is the
    # user's own, but the page is not the place for the numbers)
    errors = [replace(e, value=mask_identifiers(str(e.value)) if e.value is not None else None)
              for e in errors or []]
    return render_template("precheck/index.html", prechecks=w.listing(sc), errors=errors, message=message,
                           as_of=as_of, today=dt.date.today(), verdict_zh=V.VERDICT_ZH), status


@bp.post("/")
@roles_required(*READERS)
def upload():
    _auditor()
    sc = scope()
    f = request.files.get("file")
    as_of_text = (request.form.get("as_of") or "").strip()
    if f is None or not (f.filename or "").strip():
        return _index(message="请选择要校验的工资发放表（.csv 或 .xlsx）。", as_of=as_of_text, status=400)
    from audit.uploads.storage import client_name, safe_stem

    name = client_name(f.filename)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() not in SUFFIXES:
        return _index(message=f"不支持的文件类型：{name}（工资发放表应为 .csv 或 .xlsx 文件）",
                      as_of=as_of_text, status=400)
    try:
        day = dt.date.fromisoformat(as_of_text) if as_of_text else dt.date.today()
    except ValueError:
        return _index(message=f"校验日「{as_of_text}」不是日期，应为 YYYY-MM-DD（不填为今天）。",
                      as_of=as_of_text, status=400)
    with tempfile.TemporaryDirectory(prefix="precheck-") as tmp:
        path = Path(tmp) / f"{safe_stem(stem)}{suffix.lower()}"
        f.save(str(path))
        try:
            draft = read_draft(path, limits_from_config())
        except DraftError as exc:
            return _index(message=f"校验未进行：{exc}", as_of=as_of_text, status=400)
    errors = draft.errors or w.scope_errors(draft, sc)
    if not errors:
        result = w.run_check(draft, as_of=day, pii=current_app.extensions["pii"])
        errors = result.errors
    if errors:
        return _index(errors=errors, as_of=as_of_text,
                      message=f"校验未进行：{draft.name} 共有 {len(errors)} 处错误，请改正后重新上传，"
                              "本次没有保存任何内容。", status=422)
    agent = request.user_agent.string
    log = {"ip": request.remote_addr, **({"ua": agent[:200]} if agent else {})}
    pid = save(db.engine, result, actor=current_user.username, log=log)
    s = result.summary
    flash(f"已完成发放前校验（第 {pid} 号）：可发放 {s['pass']['rows']} 行，暂缓发放 {s['hold']['rows']} 行，"
          f"不予发放 {s['reject']['rows']} 行。", "success")
    return _see_other("precheck.show", precheck_id=pid)


def _get(precheck_id: int):
    pc = w.get(precheck_id, scope())
    if pc is None:
        not_found_in_scope("precheck", precheck_id)
    return pc


@bp.get("/<int:precheck_id>")
@roles_required(*READERS)
def show(precheck_id: int):
    sc = scope()
    pc = _get(precheck_id)
    verdict = request.args.get("verdict") or None
    if verdict not in (None, *V.VERDICT_ZH):
        verdict = None
    totals = w.totals(pc, sc)
    shown = totals[verdict]["rows"] if verdict else totals["all"]["rows"]
    page = paging.Page(shown, paging.page_arg(), w.PAGE_SIZE)
    lines = w.rows(pc, sc, verdict, offset=page.offset)
    titles = _rule_titles({c for line in lines for c in (line.row.rules or [])})
    return render_template("precheck/show.html", pc=pc, lines=lines, totals=totals, verdict=verdict,
                           verdict_zh=V.VERDICT_ZH, titles=titles, page=page,
                           can_approve=sc.can_review and pc.status == "draft")


@bp.post("/<int:precheck_id>/approve")
@roles_required(*READERS)
def approve(precheck_id: int):
    _auditor()
    pc = _get(precheck_id)
    if not request.form.get("confirm"):
        flash("请勾选「本人已核对」后再审批。", "error")
        return _see_other("precheck.show", precheck_id=pc.id)
    with_hold = request.form.get("verdicts") == "pass_hold"
    try:
        done = w.approve(pc, scope(), user=current_user, with_hold=with_hold)
    except w.ApprovalError as exc:
        flash(str(exc), "error")
        return _see_other("precheck.show", precheck_id=pc.id)
    from audit.money import yuan

    which = "可发放和暂缓发放" if with_hold else "可发放"
    flash(f"已审批：{which}的 {done['rows']} 行（金额 {yuan(done['amount_fen'])} 元）准予发放，"
          f"签名 {pc.approved_name}，{pc.approved_at:%Y-%m-%d %H:%M}。", "success")
    return _see_other("precheck.show", precheck_id=pc.id)


@bp.get("/<int:precheck_id>.xlsx")
@roles_required(*READERS)
def download(precheck_id: int):
    from .export import write_stored_xlsx

    sc = scope()
    pc = _get(precheck_id)
    rows = [line.row for line in w.rows(pc, sc, limit=None)]
    with tempfile.TemporaryDirectory(prefix="precheck-") as tmp:
        path = Path(tmp) / "precheck.xlsx"
        write_stored_xlsx(pc, rows, w.totals(pc, sc), path)
        data = path.read_bytes()
    w.log_export(pc, "xlsx", len(rows))
    stem = os.path.splitext(pc.file_name)[0]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=xlsx, headers={
        "Content-Disposition": f"attachment; filename=precheck-{pc.id}.xlsx; "
                               f"filename*=UTF-8''{quote(f'{stem}_发放前校验_{pc.id}.xlsx')}",
        "Cache-Control": "no-store"})
