"""审计报告: the audit report of a region (a district, or every district) over a period of months.

A finding is in the period when any of its months falls in it. The report counts the findings that
stand (待复核, 已确认, 已销号); dismissed ones (已排除) and those whose facts are gone (数据已消除)
are left out of the figures and shown only in the review-status table. Informational categories
(目标未达成, 异常, 数据质量) are shown apart and never counted as violations. Every figure is one
set-based query (GROUP BY), the same on SQLite and PostgreSQL; nothing depends on a request.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, has_app_context
from sqlalchemy import and_, case, desc, distinct, func, or_, select, true

from audit.engine.rule import CATEGORIES, REGISTRY, SEVERITIES, VIOLATIONS, _order, all_rules
from audit.findings.queries import json_list_has_str
from models import FINDING_STATUSES, Finding, Person, Post, db

from .charts import compact_yuan
from .notice import Built, copy_to, month_span
from .render import ReportError, render_template, zh_date, zh_month

COUNTED = ("open", "confirmed", "closed")
MAX_MONTHS = 120
# The list of findings in the PDF: at most this many (the largest amounts, violations first); the
# full list is the system's export. A PDF of 1,000 rows is ~55 pages.
MAX_LISTED = 1000
CITY_ISSUER = "重庆市人力资源和社会保障局"


def months_between(first: dt.date, last: dt.date) -> list[str]:
    if last < first:
        raise ReportError("报告期不正确：结束月份早于开始月份。")
    out, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        if len(out) > MAX_MONTHS:
            raise ReportError(f"报告期过长：最多 {MAX_MONTHS} 个月。")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def issuer_of(district: str | None) -> str:
    if district:
        return f"{district}人力资源和社会保障局"
    if has_app_context():
        return current_app.config.get("REPORT_CITY_ISSUER") or CITY_ISSUER
    return CITY_ISSUER


def region_where(district: str | None):
    return Finding.district == district if district else true()


def period_where(months: list[str]):
    """Findings with at least one of ``months`` (the first-month index narrows the scan)."""
    last = dt.date.fromisoformat(months[-1] + "-01")
    return and_(Finding.period_start <= last, or_(*[json_list_has_str(Finding.periods, m) for m in months]))


def mask_name(name: str | None) -> str:
    """王大山 -> 王**: the report lists people by their masked ID and surname only."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def max_listed() -> int:
    if has_app_context() and current_app.config.get("REPORT_SUMMARY_MAX_FINDINGS"):
        return int(current_app.config["REPORT_SUMMARY_MAX_FINDINGS"])
    return MAX_LISTED


def figures(district: str | None, months: list[str], limit: int | None = None) -> dict:
    """Every figure of the report (one query each)."""
    all_rules()
    base = and_(region_where(district), period_where(months))
    counted = and_(base, Finding.status.in_(COUNTED))
    violation = and_(counted, Finding.category.in_(VIOLATIONS))
    amount = func.coalesce(func.sum(Finding.amount_at_risk_fen), 0)
    s = db.session

    cats = {c: (n, int(fen)) for c, n, fen in s.execute(
        select(Finding.category, func.count(), amount).where(counted).group_by(Finding.category))}
    categories = [{"category": c, "name": zh, "violation": c in VIOLATIONS, "count": cats.get(c, (0, 0))[0],
                   "amount_fen": cats.get(c, (0, 0))[1]} for c, zh in CATEGORIES.items()]

    rules = [{"rule": r, "category": c, "category_zh": CATEGORIES.get(c, c),
              "title": REGISTRY[r].title if r in REGISTRY else r,
              "severity": SEVERITIES.get(REGISTRY[r].severity, "") if r in REGISTRY else "",
              "count": n, "amount_fen": int(fen), "violation": c in VIOLATIONS}
             for r, c, n, fen in s.execute(select(Finding.rule, Finding.category, func.count(), amount)
                                           .where(counted).group_by(Finding.rule, Finding.category))]
    rules.sort(key=lambda d: _order(d["rule"]))

    v_count, v_fen, v_units, v_people = s.execute(
        select(func.count(), amount, func.count(distinct(Finding.unit)), func.count(distinct(Finding.person_id)))
        .where(violation)).one()

    fen_col = amount.label("fen")
    worst = [{"unit": u, "district": d, "township": t, "count": n, "amount_fen": int(fen)}
             for u, d, t, n, fen in s.execute(
                 select(Finding.unit, Finding.district, Finding.township, func.count(), fen_col)
                 .where(violation, Finding.unit.is_not(None))
                 .group_by(Finding.unit, Finding.district, Finding.township)
                 .order_by(desc("fen"), desc(func.count()), Finding.unit).limit(10))]

    # the trend: violations by their first month; a finding that began before the period counts in its first month
    trend = {m: [0, 0] for m in months}
    for start, n, fen in s.execute(select(Finding.period_start, func.count(), amount).where(violation)
                                   .group_by(Finding.period_start)):
        key = max(f"{start:%Y-%m}", months[0]) if start else months[0]
        if key in trend:
            trend[key][0] += n
            trend[key][1] += int(fen)
    trend_rows = [{"month": m, "count": n, "amount_fen": fen} for m, (n, fen) in trend.items()]

    statuses = {st: (n, int(fen)) for st, n, fen in s.execute(
        select(Finding.status, func.count(), amount).where(base).group_by(Finding.status))}
    status_rows = [{"status": st, "name": zh, "count": statuses.get(st, (0, 0))[0],
                    "amount_fen": statuses.get(st, (0, 0))[1], "counted": st in COUNTED}
                   for st, zh in FINDING_STATUSES.items()]

    listing = [{"rule": r, "category": c, "violation": c in VIOLATIONS, "subject": label,
                "name": mask_name(name), "unit": unit or "—", "post": code or "", "months": month_span(periods),
                "amount_fen": fen, "status": FINDING_STATUSES.get(st, st), "order": (_order(r), unit or "", ps or dt.date.min)}
               for r, c, label, name, unit, code, periods, fen, st, ps in s.execute(
                   select(Finding.rule, Finding.category, Finding.subject_label, Person.name, Finding.unit, Post.code,
                          Finding.periods, Finding.amount_at_risk_fen, Finding.status, Finding.period_start)
                   .outerjoin(Person, Person.id == Finding.person_id).outerjoin(Post, Post.id == Finding.post_id)
                   .where(counted)
                   .order_by(case((Finding.category.in_(VIOLATIONS), 0), else_=1),
                             desc(func.coalesce(Finding.amount_at_risk_fen, -1)), Finding.id)
                   .limit(limit or max_listed()))]
    listing.sort(key=lambda d: (not d["violation"], d["order"]))

    info = [c for c in categories if not c["violation"]]
    return {
        "categories": [c for c in categories if c["violation"]], "info_categories": info,
        "rules": [r for r in rules if r["violation"]], "info_rules": [r for r in rules if not r["violation"]],
        "violations": int(v_count), "money_fen": int(v_fen), "units": int(v_units), "people": int(v_people),
        "info_count": sum(c["count"] for c in info), "worst": worst, "trend": trend_rows, "statuses": status_rows,
        "findings": listing, "counted": sum(c["count"] for c in categories),
    }


def build_summary(district: str | None, first: dt.date, last: dt.date) -> Built:
    """The 审计报告 of ``district`` (None: every district) for the months ``first`` … ``last``."""
    months = months_between(first, last)
    fig = figures(district, months)
    region = district or "全部地区"
    span = zh_month(months[0]) if len(months) == 1 else f"{zh_month(months[0])}至{zh_month(months[-1])}"
    title = f"{region}公益性岗位和就业帮扶车间审计报告（{span}）"
    today = dt.date.today()
    charts = {
        "categories": [{"label": c["name"], "value": c["amount_fen"], "text": f"{compact_yuan(c['amount_fen'])} 元"}
                       for c in fig["categories"] if c["count"]],
        "trend_count": [{"label": m["month"][2:], "value": m["count"], "text": m["count"]} for m in fig["trend"]],
        "trend_amount": [{"label": m["month"][2:], "value": m["amount_fen"],
                          "text": compact_yuan(m["amount_fen"]) if m["amount_fen"] else "0"} for m in fig["trend"]],
        "worst": [{"label": w["unit"], "value": w["amount_fen"], "text": f"{compact_yuan(w['amount_fen'])} 元"}
                  for w in fig["worst"]],
    }
    html = render_template(
        "summary.html", title=title, heading=f"{region}公益性岗位和就业帮扶车间审计报告", span=span, region=region,
        issuer=issuer_of(district), docno=None, fig=fig, charts=charts, months=months,
        signed=zh_date(today), printed=zh_date(today), printed_by=f"{issuer_of(district)}办公室",
        copy_to=copy_to(district, None) if district else ["各区县人力资源和社会保障局", "各区县乡村振兴局"],
    )
    meta = {"district": district, "params": {"district": district, "first": months[0], "last": months[-1]}}
    return Built(html, title, meta)
