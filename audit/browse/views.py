"""Browsing: persons (one person's file, with a logged unmasked view), positions, workshops
(reported versus computed figures), import batches and audit runs. Request parsing and rendering
only: queries are in ``queries.py`` (persons), ``posts.py`` and ``history.py``, the one state change
in ``services.py``."""
from __future__ import annotations

import datetime as dt
import re

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from audit.access import deny, roles_required, scope
from audit.engine.rule import CATEGORIES, SEVERITIES, VIOLATIONS
from audit.engine.runner import TABLE_NAMES
from audit.paging import page_arg
from audit.vocab import categories_of
from models import FINDING_STATUSES, Role

from . import bp, history, posts, queries, services

STATUS_NAMES = {"committed": "已导入", "no_change": "无变化", "running": "运行中", "finished": "已完成",
                "failed": "失败"}
SEX = {"M": "男", "F": "女"}


def finding_url(fid: str) -> str:
    return url_for("findings.detail", fid=fid)


@bp.context_processor
def _helpers():
    return {"finding_url": finding_url, "categories_of": categories_of, "category_names": CATEGORIES,
            "severity_names": SEVERITIES, "finding_status_names": FINDING_STATUSES, "violations": VIOLATIONS,
            "status_names": STATUS_NAMES, "table_names": TABLE_NAMES, "sex_names": SEX, "ym": _ym,
            "count_x100": _count_x100, "field_label": field_label}


_MASKED_FIELDS = {"household": "户编号", "categories": "人员类别", "bank_masked": "银行账号",
                  "account_masked": "收款账号", "id_masked": "身份证号", "value": "数值"}


def field_label(table: str, key: str) -> str:
    """A changed column as the ledger's Chinese header (the change log names columns in English)."""
    from audit.ledger.schema import BY_NAME

    spec = BY_NAME.get(table)
    headers = {c.key: c.zh for c in spec.columns} if spec else {}
    return headers.get(key) or _MASKED_FIELDS.get(key) or key


def _ym(d) -> str:
    return f"{d.year:04d}-{d.month:02d}" if d else ""


def _count_x100(x100: int | None) -> str:
    if x100 is None:
        return "—"
    x100 = int(x100)
    sign, x = ("-" if x100 < 0 else ""), abs(x100)
    return f"{sign}{x // 100}" if x % 100 == 0 else f"{sign}{x / 100:.2f}"




def _arg(name: str) -> str:
    return (request.args.get(name) or "").strip()[:100]


def _month(value: str | None) -> dt.date | None:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", (value or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


# ---- persons ------------------------------------------------------------------------------------

@bp.route("/persons", methods=["GET", "POST"])
@login_required
@roles_required(Role.ADMIN, Role.AUDITOR, Role.INSPECTOR)
def persons():
    # An ID number never travels in a URL (access logs, browser history): the search form is
    # POSTed, and an ID-shaped query becomes its keyed hash before the redirect to the list.
    source = request.form if request.method == "POST" else request.args
    args = {k: (source.get(k) or "").strip()[:64] for k in ("q", "township", "village")}
    id_hash = queries.id_query_hash(args["q"])
    if request.method == "POST" or id_hash:
        if id_hash:
            args = {**args, "q": "", "idh": id_hash}
        return redirect(url_for(".persons", **{k: v for k, v in args.items() if v}), 303)
    sc = scope()
    args["idh"] = _arg("idh") if re.fullmatch(r"[0-9a-f]{64}", _arg("idh") or "") else ""
    page = queries.persons(sc, **args, page=page_arg())
    return render_template("browse/persons.html", page=page, args=args, options=queries.person_filters(sc))


def _person_page(pid: int, *, reveal: bool):
    sc = scope()
    p = queries.person(sc, pid)
    if p is None:
        abort(404)
    month = _month(request.values.get("month"))
    shown = None
    if reveal:
        shown = services.reveal(p, queries.wage_accounts(sc, pid))
        p = queries.person(sc, pid)
    f = queries.person_file(sc, p, month)
    return render_template("browse/person.html", f=f, p=f.person, shown=shown)


@bp.get("/persons/<int:pid>")
@login_required
def person(pid: int):
    return _person_page(pid, reveal=False)


@bp.post("/persons/<int:pid>/reveal")
@login_required
def person_reveal(pid: int):
    if not scope().can_unmask:
        deny()
    return _person_page(pid, reveal=True)


# ---- positions ----------------------------------------------------------------------------------

@bp.get("/positions")
@login_required
def positions():
    sc = scope()
    args = {k: _arg(k) for k in ("q", "kind", "township", "village", "employer")}
    page = posts.positions(sc, **args, page=page_arg())
    return render_template("browse/positions.html", page=page, args=args,
                           options=posts.position_filters(sc))


@bp.get("/positions/<int:post_id>")
@login_required
def position(post_id: int):
    sc = scope()
    row = posts.position(sc, post_id)
    if row is None:
        abort(404)
    pos, code = row
    return render_template("browse/position.html", pos=pos, code=code, holders=posts.holders(post_id),
                           months=posts.position_months(pos), findings=posts.post_findings(sc, post_id))


# ---- workshops ----------------------------------------------------------------------------------

@bp.get("/workshops")
@login_required
def workshops():
    sc = scope()
    args = {k: _arg(k) for k in ("q", "township", "village")}
    page = posts.workshops(sc, **args, page=page_arg())
    return render_template("browse/workshops.html", page=page, args=args,
                           options=posts.workshop_filters(sc))


@bp.get("/workshops/<int:post_id>")
@login_required
def workshop(post_id: int):
    sc = scope()
    row = posts.workshop(sc, post_id)
    if row is None:
        abort(404)
    ws, code = row
    return render_template("browse/workshop.html", ws=ws, code=code, roster=posts.roster(post_id),
                           now=posts.workshop_today(post_id),
                           months=posts.workshop_months(ws), findings=posts.post_findings(sc, post_id),
                           today=dt.date.today())


# ---- imports and audit runs ---------------------------------------------------------------------

@bp.get("/imports")
@login_required
@roles_required(Role.ADMIN, Role.AUDITOR)
def imports():
    page = history.batches(scope(), current_user.username, page_arg())
    return render_template("browse/imports.html", page=page)


@bp.get("/imports/<int:batch_id>")
@login_required
@roles_required(Role.ADMIN, Role.AUDITOR)
def import_batch(batch_id: int):
    b = history.batch(scope(), current_user.username, batch_id)
    if b is None:
        abort(404)
    changes, hidden = history.batch_changes(scope(), batch_id, page_arg())
    return render_template("browse/import_batch.html", b=b, changes=changes, hidden=hidden)


@bp.get("/runs")
@login_required
@roles_required(Role.ADMIN, Role.AUDITOR)
def runs():
    return render_template("browse/runs.html", page=history.runs(page_arg()))


@bp.get("/runs/<int:run_id>")
@login_required
@roles_required(Role.ADMIN, Role.AUDITOR)
def run(run_id: int):
    r = history.run(run_id)
    if r is None:
        abort(404)
    catalogue = history.rule_catalogue()
    done = r.rules or {}
    order = [c for c in catalogue if c in done] + sorted(c for c in done if c not in catalogue)
    rule_rows = [(c, done[c] if isinstance(done[c], dict) else {}, catalogue.get(c)) for c in order]
    # A run covers every region; a user who does not see every region is shown the figures of
    # their own scope only (the findings this run saw there), never the whole system's.
    whole = scope().everything
    mine = None if whole else history.run_findings_in_scope(scope(), run_id)
    from audit.engine.coverage import overview

    return render_template("browse/run.html", r=r, rule_rows=rule_rows, whole=whole, mine=mine,
                           coverage=overview(r.rules, r.summary),
                           dict_counts=lambda d: {k: v[0] for k, v in d.items()},
                           dict_amounts=lambda d: {k: v[1] for k, v in d.items()})
