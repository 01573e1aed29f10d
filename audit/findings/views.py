from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from models import FINDING_STATUSES

from .. import paging
from ..access import deny, scope
from ..engine.rule import CATEGORIES, SEVERITIES
from . import bp, evidence, queries
from .services import TRANSITIONS, ReviewError, bulk, review


@bp.get("/")
@login_required
def index():
    f = queries.Filters.from_args(request.args)
    # pages by key: a next page starts after the last row's sort key (``after``); ``page`` only numbers it
    after = (request.args.get("after") or "")[:80] or None
    page = paging.page_arg() if after else 1
    rows, total, capped, amount, next_after = queries.listing(f, after)
    return render_template(
        "findings/index.html", f=f, rows=rows, total=total, capped=capped, amount=amount, page=page,
        next_after=next_after, count_cap=queries.COUNT_CAP,
        options=queries.options(), categories=CATEGORIES, severities=SEVERITIES, statuses=FINDING_STATUSES,
        status_choices=queries.STATUS_CHOICES, sorts=queries.SORTS, transitions=TRANSITIONS,
        is_violation=queries.is_violation, rule_title=queries.rule_title, rule_name=queries.rule_name)


@bp.get("/<fid>")
@login_required
def detail(fid: str):
    if (current := queries.renamed(fid)) is not None:  # a former id (the key was rotated)
        return redirect(url_for(".detail", fid=current), 301)
    finding = queries.get(fid)
    post = queries.post_of(finding.post_id)
    ids = set(finding.person_ids or []) | ({finding.person_id} if finding.person_id else set())
    names = queries.person_names(ids)
    people = sorted(names.values(), key=lambda p: (p["id"] != finding.person_id, p["name"], p["id"]))
    hidden_people = len(ids) - len(names)
    shown = evidence.for_reader(finding.evidence, finding.explanation, scope())
    others, note = queries.overlap(fid)
    return render_template(
        "findings/detail.html", f=finding, post=post, people=people, hidden_people=hidden_people,
        items=shown.items, explanation=shown.explanation, overlaps=others, overlap_note=note,
        subject=queries.subject_text(finding.subject_type, finding.subject_label,
                                     names.get(finding.person_id), post["title"] if post else None),
        unit_name=queries.unit_names({finding.unit} if finding.unit else set()).get(finding.unit),
        rule_name=queries.rule_name(finding.rule),
        history=queries.history(fid), categories=CATEGORIES, severities=SEVERITIES, statuses=FINDING_STATUSES,
        transitions=TRANSITIONS, is_violation=queries.is_violation(finding.category))


@bp.post("/<fid>/review")
@login_required
def review_one(fid: str):
    if not scope().can_review:
        deny(f"finding {fid}")
    finding = queries.get(fid)
    action = request.form.get("action", "")
    try:
        review(finding, action, request.form.get("note", ""), by=current_user.username)
    except ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".detail", fid=fid), 303)
    flash(f"已{TRANSITIONS[action][2]}：{finding.rule} {finding.title}", "success")
    return redirect(url_for(".detail", fid=fid), 303)


@bp.post("/bulk")
@login_required
def bulk_review():
    if not scope().can_review:
        deny("findings bulk")
    ids = request.form.getlist("ids")[:1000]
    action = request.form.get("action", "")
    back = request.form.get("back", "")
    target = url_for(".index") + (f"?{back}" if back and not back.startswith(("/", "http")) else "")
    if action not in TRANSITIONS:
        flash("请选择要执行的操作。", "error")
        return redirect(target, 303)
    chosen = queries.in_scope(ids)
    if len(chosen) != len(set(ids)):
        deny("findings bulk: outside scope")
    if not chosen:
        flash("请先勾选问题。", "error")
        return redirect(target, 303)
    try:
        done, skipped = bulk(chosen, action, request.form.get("note", ""), by=current_user.username)
    except ReviewError as exc:
        flash(str(exc), "error")
        return redirect(target, 303)
    others = f"另有 {len(skipped)} 条未处理：" + "；".join(skipped[:5]) if skipped else ""
    flash(f"已{TRANSITIONS[action][2]} {done} 条问题。" + others, "success" if not skipped else "warning")
    return redirect(target, 303)
