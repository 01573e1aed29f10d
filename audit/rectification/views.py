"""整改 (rectification to closure) in the browser: the notices list, a new notice for a unit
(auditors), the notice's page with the unit's answer (operators), the verification — 销号 or 退回
(auditors) — the evidence files, the notice's PDF (made and archived by ``reports.views``, which
also serves the report archive, ``/reports``).

Request parsing and rendering only: the queries are in ``queries.py`` (all scoped), the state
changes in ``services.py`` (issuing), ``answers.py`` (the unit's answer) and ``verification.py``
(the auditor's steps), each writing the audit log; the PDFs come from ``reports.archive``."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from models import ACTIONS, FINDING_STATUSES, ITEM_ACTIONS, NOTICE_STATUSES, Finding, NoticeStatus, Role, db
from models.rectification import WAITING_FOR_UNIT
from reports.views import generate_pdf

from .. import paging
from ..access import deny, scope
from ..engine.money import total_fen
from ..money import yuan
from ..web import attachment, size_text
from . import answers, bp, queries, services, verification
from .answers import AnswerInvalid, ItemInput, Upload
from .services import RectificationError

DEFAULT_DAYS = 30  # a new notice's deadline: today + 30 days
MAX_TEXT = 10000
HISTORY = {"notice.issue": "下发通知书", "notice.answer": "单位回复整改情况", "notice.return": "退回重新整改",
           "notice.close": "销号", "notice.draft": "单位保存回复草稿", "notice.item_close": "逐条销号",
           "notice.item_return": "逐条退回", "notice.recovery": "登记实际追回", "notice.overdue": "逾期提醒"}


def days_late(deadline: dt.date) -> int:
    return (queries.today() - deadline).days


def _helpers():
    return {"notice_statuses": NOTICE_STATUSES, "action_names": ACTIONS, "finding_statuses": FINDING_STATUSES,
            "days_late": days_late, "report_kinds": queries.REPORT_KINDS,
            "size_text": size_text}


bp.context_processor(_helpers)


@bp.app_template_global()
def overdue_notices() -> int:
    """How many notices in the user's scope are overdue (for the dashboard's card)."""
    return queries.overdue_count() if current_user.is_authenticated else 0


# ---- the list -------------------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    f = queries.Filters.from_args(request.args)
    number = paging.page_arg()
    rows, total, amount = queries.listing(f, number)
    return render_template("rectification/index.html", f=f, rows=rows, total=total, amount=amount,
                           page=paging.Page(total, number, queries.PER_PAGE),
                           status_choices=queries.STATUS_CHOICES)


# ---- a new notice (auditors) ------------------------------------------------------------------------------

def _auditor(what: str = "") -> None:
    if not scope().can_review:
        deny(what)


def _render_new(unit: str, *, kept: dict | None = None, error: str | None = None, status: int = 200):
    if not queries.unit_in_scope(unit):
        abort(404)
    facts = services.unit_facts(unit)
    if not facts:
        abort(404)
    found = services.candidates(unit, scope().findings())
    region = services.region_of(found)
    if region is not None:  # the region the notice will have: the one its findings share
        facts = {**facts, "district": region[0], "township": region[1], "village": region[2]}
    if kept is None:
        kept = {"ids": {f.id for f in found},
                "actions": {f.id: set(services.default_actions(f)) for f in found},
                "deadline": (queries.today() + dt.timedelta(days=DEFAULT_DAYS)).isoformat(),
                "requirements": ""}
    # each payment once
    total = total_fen(db.session, Finding.id.in_([f.id for f in found])) if found else 0
    return render_template("rectification/new.html", unit=unit, facts=facts, found=found, kept=kept,
                           error=error, total=total, min_date=queries.today().isoformat()), status


@bp.get("/new")
@login_required
def new():
    _auditor("notice new")
    unit = (request.args.get("unit") or "").strip()[:128]
    if not unit:
        return render_template("rectification/units.html", units=queries.candidate_units())
    return _render_new(unit)


@bp.post("/new")
@login_required
def create():
    _auditor("notice new")
    unit = (request.form.get("unit") or "").strip()[:128]
    if not queries.unit_in_scope(unit):
        abort(404)
    ids = list(dict.fromkeys(request.form.getlist("ids")))[:500]
    actions = {fid: [a for a in request.form.getlist(f"act-{fid}") if a in ACTIONS] for fid in ids}
    deadline_text = (request.form.get("deadline") or "").strip()
    requirements = (request.form.get("requirements") or "")[:MAX_TEXT]
    kept = {"ids": set(ids), "actions": {k: set(v) for k, v in actions.items()}, "deadline": deadline_text,
            "requirements": requirements}
    # a finding left unticked keeps the actions chosen for it on the page
    for key in request.form:
        if key.startswith("act-") and key[4:] not in kept["actions"]:
            kept["actions"][key[4:]] = set(request.form.getlist(key))
    deadline = queries.parse_date(deadline_text)
    if deadline is None:
        return _render_new(unit, kept=kept, error="请填写整改期限（格式：年-月-日，例如 2026-03-31）",
                           status=400)
    for attempt in range(3):
        try:
            notice = services.issue(unit, ids, deadline, by=current_user.username,
                                    scope_clause=scope().findings(), notice_clause=queries.notice_scope(),
                                    actions=actions, requirements=requirements)
            break
        except RectificationError as exc:
            return _render_new(unit, kept=kept, error=str(exc), status=400)
        except IntegrityError:  # another notice took the same number at the same moment: take the next
            if attempt == 2:
                raise
    flash(f"已下发整改通知书 {notice.number}（{len(notice.items)} 条问题，"
          f"应追回 {yuan(notice.amount_to_recover_fen)} 元）。", "success")
    return redirect(url_for(".detail", nid=notice.id), 303)


# ---- the notice -----------------------------------------------------------------------------------------

def _render_detail(notice, *, errors: dict | None = None, kept: dict | None = None, status: int = 200):
    role = current_user.role
    rows = queries.item_rows(notice)
    operator = role == Role.OPERATOR
    can_answer = operator and notice.status in WAITING_FOR_UNIT and any(r.editable for r in rows)
    errors = errors or {}
    labels = {k: v for k, v in errors.items() if k.startswith("a-") or k in ("files", "text")}
    draft = next((r for r in notice.responses if r.state == "draft"), None)
    return render_template(
        "rectification/detail.html", n=notice, rows=rows, history=queries.history(notice.id),
        reports=queries.notice_reports(notice.id), history_names=HISTORY,
        responses=[r for r in notice.responses if r.state == "submitted"], draft=draft if operator else None,
        recovered=sum(r.recovered_fen for r in rows),
        overdue=notice.overdue(queries.today()), errors=errors, field_errors=labels, kept=kept or {},
        can_answer=can_answer, can_review=scope().can_review and notice.status != NoticeStatus.CLOSED,
        can_verify=scope().can_review and notice.status == NoticeStatus.ANSWERED,
        item_actions=ITEM_ACTIONS,
        min_text=services.MIN_TEXT, min_verdict=services.MIN_VERDICT, min_override=services.MIN_OVERRIDE,
        max_files=services.MAX_FILES, today=queries.today().isoformat(),
        accept=",".join("." + e for e in services.FILE_TYPES)), status


@bp.get("/<int:nid>")
@login_required
def detail(nid: int):
    return _render_detail(queries.get(nid))


def _upload(name: str) -> Upload | None:
    f = request.files.get(name)
    if f is None or not (f.filename or ""):
        return None
    return Upload(f.filename or "", f.read())


@bp.post("/<int:nid>/answer")
@login_required
def answer(nid: int):
    """The unit's answer, item by item: 保存草稿 (``do=draft``) or 提交 (``do=submit``)."""
    notice = queries.get(nid)
    if current_user.role != Role.OPERATOR:
        deny(f"notice {nid} answer")
    submit = request.form.get("do", "submit") != "draft"
    text = (request.form.get("text") or "")[:MAX_TEXT]
    inputs, kept = {}, {"text": text}
    for item in notice.items:
        key = answers.field(item.id, "")
        got = ItemInput(action=(request.form.get(key + "action") or "").strip()[:24],
                        amount=(request.form.get(key + "amount") or "").strip()[:32],
                        date=(request.form.get(key + "date") or "").strip()[:32],
                        text=(request.form.get(key + "text") or "")[:services.MAX_NOTE],
                        file=_upload(key + "file"))
        inputs[item.id] = got
        kept[item.id] = got
    files = [Upload(f.filename or "", f.read()) for f in request.files.getlist("files")]
    try:  # a failure after the files were written removes them (``answers.save_answer``)
        answers.save_answer(notice, inputs, text, files, by=current_user.username, submit=submit)
    except AnswerInvalid as exc:
        return _render_detail(queries.get(nid), errors=exc.errors, kept=kept, status=400)
    except RectificationError as exc:
        return _render_detail(queries.get(nid), errors={"answer": str(exc)}, kept=kept, status=400)
    if submit:
        flash("已提交整改情况，等待审计人员核验。", "success")
    else:
        flash("已保存草稿（尚未提交，审计人员看不到）。", "success")
    return redirect(url_for(".detail", nid=nid) + ("" if submit else "#answer"), 303)


def _verify(nid: int, step, done: str, form: str):
    notice = queries.get(nid)
    if not scope().can_review:
        deny(f"notice {nid} {form}")
    verdict = (request.form.get("verdict") or "")[:MAX_TEXT]
    try:
        step(notice, verdict, by=current_user.username)
    except RectificationError as exc:
        return _render_detail(queries.get(nid), errors={form: str(exc)}, kept={form: verdict}, status=400)
    flash(f"{done}：{notice.number}", "success")
    return redirect(url_for(".detail", nid=nid), 303)


@bp.post("/<int:nid>/close")
@login_required
def close(nid: int):
    return _verify(nid, verification.close, "已销号", "close")


@bp.post("/<int:nid>/return")
@login_required
def send_back(nid: int):
    return _verify(nid, verification.send_back, "已退回单位重新整改", "return")


def _item_step(nid: int, iid: int, what: str, step):
    """An auditor's step on one item; its error is shown at the top and by the item's form."""
    notice = queries.get(nid)
    if not scope().can_review:
        deny(f"notice {nid} item {iid} {what}")
    item = queries.item_of(notice, iid)
    kept = {f"{what}-{iid}": {k: (request.form.get(k) or "")[:services.MAX_NOTE] for k in request.form}}
    try:
        done = step(notice, item)
    except RectificationError as exc:
        return _render_detail(queries.get(nid), errors={f"{what}-{iid}": str(exc)}, kept=kept, status=400)
    flash(done, "success")
    return redirect(url_for(".detail", nid=nid) + f"#item-{iid}", 303)


@bp.post("/<int:nid>/items/<int:iid>/close")
@login_required
def close_item(nid: int, iid: int):
    def step(notice, item):
        closed = verification.close_item(notice, item, by=current_user.username, basis="data")
        return "已按数据销号" + ("；全部问题已销号，通知书已销号" if closed else "")
    return _item_step(nid, iid, "close", step)


@bp.post("/<int:nid>/items/<int:iid>/override")
@login_required
def override_item(nid: int, iid: int):
    def step(notice, item):
        closed = verification.close_item(notice, item, by=current_user.username, basis="override",
                                     reason=request.form.get("reason") or "")
        return "已人工销号" + ("；全部问题已销号，通知书已销号" if closed else "")
    return _item_step(nid, iid, "override", step)


@bp.post("/<int:nid>/items/<int:iid>/return")
@login_required
def return_item(nid: int, iid: int):
    def step(notice, item):
        verification.send_back_item(notice, item, request.form.get("reason") or "", by=current_user.username)
        return "已退回该问题，待单位重新整改"
    return _item_step(nid, iid, "return", step)


@bp.post("/<int:nid>/items/<int:iid>/recovery")
@login_required
def recovery(nid: int, iid: int):
    def step(notice, item):
        fen = answers.parse_yuan(request.form.get("amount") or "")
        r = verification.record_recovery(notice, item, queries.parse_date(request.form.get("date") or ""),
                                         fen, _upload("voucher"), by=current_user.username,
                                         note=request.form.get("note"))
        return f"已登记实际追回 {yuan(r.amount_fen)} 元"
    return _item_step(nid, iid, "recovery", step)


@bp.get("/<int:nid>/files/<int:fid>")
@login_required
def evidence(nid: int, fid: int):
    notice = queries.get(nid)
    f = queries.evidence(notice, fid, drafts=current_user.role == Role.OPERATOR)
    try:
        path = answers.evidence_path(f)
    except RectificationError:
        abort(404)
    if not path.is_file():
        abort(404)
    answers.log_download(notice, f)
    resp = send_file(path, as_attachment=True, download_name=f.name, mimetype=f.content_type, max_age=0)
    return attachment(resp)


@bp.post("/<int:nid>/pdf")
@login_required
def pdf(nid: int):
    notice = queries.get(nid)
    report = generate_pdf(url_for(".detail", nid=nid), "notice", notice_id=notice.id)
    if not hasattr(report, "id"):
        return report  # the redirect back, with the error
    return redirect(url_for("reports.download", rid=report.id), 303)
