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
from sqlalchemy import and_, case, desc, distinct, func, select, true

from audit.charts import compact_yuan
from audit.engine import report_periods as periods
from audit.engine.coverage import not_fully_run, overview, partial_note
from audit.engine.money import money_by, money_by_many, overlap_note, overlaps
from audit.engine.rule import CATEGORIES, REGISTRY, SEVERITIES, VIOLATIONS, all_rules, rule_order
from audit.findings.queries import unit_names
from audit.money import yuan
from models import FINDING_STATUSES, AuditRun, Finding, Notice, Person, Post, Recovery, db
from models.enums import ACTIVE_FINDING, FindingStatus, NoticeStatus

from .notice import Built, copy_to, month_span
from .render import ReportError, render_template, zh_date, zh_month

COUNTED = (*ACTIVE_FINDING, FindingStatus.CLOSED)
# The list of findings in the PDF: at most this many (the largest amounts, violations first); the
# full list is the system's export. A PDF of 1,000 rows is ~55 pages.
MAX_LISTED = 1000
CITY_ISSUER = "重庆市人力资源和社会保障局"


def months_between(first: dt.date, last: dt.date) -> list[str]:
    try:
        return periods.months_between(first, last)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def issuer_of(district: str | None) -> str:
    if district:
        return f"{district}人力资源和社会保障局"
    if has_app_context():
        return current_app.config.get("REPORT_CITY_ISSUER") or CITY_ISSUER
    return CITY_ISSUER


region_where = periods.in_region
period_where = periods.in_period


def mask_name(name: str | None) -> str:
    """王大山 -> 王**: the report lists people by their masked ID and surname only."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def max_listed() -> int:
    if has_app_context() and current_app.config.get("REPORT_SUMMARY_MAX_FINDINGS"):
        return int(current_app.config["REPORT_SUMMARY_MAX_FINDINGS"])
    return MAX_LISTED


def _month_range(months: list[str]) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(months[0] + "-01"), dt.date.fromisoformat(months[-1] + "-01")


def figures(district: str | None, months: list[str], limit: int | None = None,
            today: dt.date | None = None) -> dict:
    """Every figure of the report (one query each). Money is counted once per payment
    (``audit.engine.money``) and only for the payments of the period's months."""
    all_rules()
    today = today or dt.date.today()
    base = and_(region_where(district), period_where(months))
    counted = and_(base, Finding.status.in_(COUNTED))
    violation = and_(counted, Finding.category.in_(VIOLATIONS))
    span = _month_range(months)
    s = db.session

    # every split of the violations' money from one query (the payments ranked once): by category,
    # rule, unit, month and whether it is owed (应补发) or paid (应追回)
    parts = money_by_many(s, violation, groups=[Finding.category, Finding.rule, Finding.unit,
                                                Finding.district, Finding.township, "month", "owed"],
                          months=span)

    def split(*keys: int) -> dict:
        out: dict = {}
        for row in parts:
            k = row[keys[0]] if len(keys) == 1 else tuple(row[i] for i in keys)
            out[k] = out.get(k, 0) + row[-1]
        return out

    all_counts = {c: n for c, n in s.execute(select(Finding.category, func.count()).where(base)
                                             .group_by(Finding.category))}
    cats_n = dict(s.execute(select(Finding.category, func.count()).where(counted)
                            .group_by(Finding.category)).tuples().all())
    cats_fen = split(0)
    categories = [{"category": c, "name": zh, "violation": c in VIOLATIONS, "count": cats_n.get(c, 0),
                   "all": all_counts.get(c, 0), "amount_fen": cats_fen.get(c, 0)}
                  for c, zh in CATEGORIES.items()]

    rules_n = dict(s.execute(select(Finding.rule, func.count()).where(counted)
                             .group_by(Finding.rule)).tuples().all())
    rules_all = dict(s.execute(select(Finding.rule, func.count()).where(base)
                               .group_by(Finding.rule)).tuples().all())
    rules_fen = split(1)
    rules = [{"rule": r.code, "category": r.category, "category_zh": CATEGORIES.get(r.category, r.category),
              "title": r.title, "severity": SEVERITIES.get(r.severity, ""), "count": rules_n.get(r.code, 0),
              "all": rules_all.get(r.code, 0), "amount_fen": rules_fen.get(r.code, 0),
              "violation": r.category in VIOLATIONS} for r in all_rules()]

    v_count, v_units, v_people = s.execute(
        select(func.count(), func.count(distinct(Finding.unit)), func.count(distinct(Finding.person_id)))
        .where(violation)).one()
    owed = split(6)
    v_fen, owed_fen = sum(owed.values()), owed.get(1, 0)
    recover_fen = v_fen - owed_fen

    unit_n = {(u, d, t): n for u, d, t, n in s.execute(
        select(Finding.unit, Finding.district, Finding.township, func.count())
        .where(violation, Finding.unit.is_not(None))
        .group_by(Finding.unit, Finding.district, Finding.township))}
    unit_fen = split(2, 3, 4)
    worst = sorted(({"unit": k[0], "district": k[1], "township": k[2], "count": n,
                     "amount_fen": unit_fen.get(k, 0)} for k, n in unit_n.items()),
                   key=lambda w: (-w["amount_fen"], -w["count"], w["unit"]))[:10]
    names = unit_names([w["unit"] for w in worst])
    for w in worst:
        w["name"] = names.get(w["unit"], w["unit"])

    # the trend: violations by their first month (a finding that began before the period, or has no
    # month, counts in the period's first month); money by the month of each payment, counted once
    trend = {m: [0, 0] for m in months}
    for start, n in s.execute(select(Finding.period_start, func.count()).where(violation)
                              .group_by(Finding.period_start)):
        key = max(f"{start:%Y-%m}", months[0]) if start else months[0]
        if key in trend:
            trend[key][0] += n
    for month, fen in split(5).items():
        key = f"{_as_date(month):%Y-%m}" if month else months[0]
        if key in trend:
            trend[key][1] += fen
    trend_rows = [{"month": m, "count": n, "amount_fen": fen} for m, (n, fen) in trend.items()]

    st_n = dict(s.execute(select(Finding.status, func.count()).where(base)
                          .group_by(Finding.status)).tuples().all())
    st_fen = dict(money_by(s, base, group=Finding.status, months=span))
    status_rows = [{"status": st, "name": zh, "count": st_n.get(st, 0), "amount_fen": st_fen.get(st, 0),
                    "counted": st in COUNTED} for st, zh in FINDING_STATUSES.items()]

    rows = s.execute(
        select(Finding.id, Finding.rule, Finding.category, Finding.subject_label, Person.name, Finding.unit,
               Post.code, Finding.periods, Finding.amount_at_risk_fen, Finding.status, Finding.period_start,
               Finding.title)
        .outerjoin(Person, Person.id == Finding.person_id).outerjoin(Post, Post.id == Finding.post_id)
        .where(counted)
        .order_by(case((Finding.category.in_(VIOLATIONS), 0), else_=1),
                  desc(func.coalesce(Finding.amount_at_risk_fen, -1)), Finding.id)
        .limit(limit or max_listed())).all()
    shared = overlaps(s, [r.id for r in rows], Finding.status.in_(COUNTED))
    unit_name = unit_names({r.unit for r in rows if r.unit})
    listing = [{"rule": r.rule, "title": r.title, "category": r.category,
                "violation": r.category in VIOLATIONS, "subject": r.subject_label, "name": mask_name(r.name),
                "unit": unit_name.get(r.unit, "—"),
                "post": r.code or "",
                "months": month_span(r.periods) if r.periods else "—", "amount_fen": r.amount_at_risk_fen,
                "overlap": overlap_note(shared.get(r.id, []), titles=False),
                "status": FINDING_STATUSES.get(r.status, r.status),
                "order": (rule_order(r.rule), r.unit or "", r.period_start or dt.date.min)} for r in rows]
    listing.sort(key=lambda d: (not d["violation"], d["order"]))

    info = [c for c in categories if not c["violation"]]
    return {
        "categories": [c for c in categories if c["violation"]], "info_categories": info,
        "rules": [r for r in rules if r["violation"]], "info_rules": [r for r in rules if not r["violation"]],
        "violations": int(v_count), "money_fen": v_fen, "recover_fen": recover_fen, "owed_fen": owed_fen,
        "units": int(v_units), "people": int(v_people),
        "info_count": sum(c["count"] for c in info), "worst": worst, "trend": trend_rows,
        "statuses": status_rows,
        "findings": listing, "counted": sum(c["count"] for c in categories),
        "monthless": int(s.scalar(select(func.count()).where(counted, Finding.period_start.is_(None))) or 0),
        "not_run": not_run_rules(), "rectification": rectification(district, today),
        "coverage": latest_coverage(),
    }


def _as_date(day) -> dt.date:
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])


def _latest_run() -> AuditRun | None:
    return db.session.scalar(select(AuditRun).where(AuditRun.status == "finished").order_by(desc(AuditRun.id))
                             .limit(1))


def not_run_rules() -> list[dict]:
    """Rules the latest finished audit run could not run (a missing table: ``not_run``) or not fully
    run (a missing column: ``partial``), with the reason and what it means."""
    run = _latest_run()
    if run is None:
        return []
    return [{"rule": code, "title": REGISTRY[code].title if code in REGISTRY else code,
             "status": info["status"], "reason": info.get("reason", ""),
             "note": partial_note(info) if info["status"] == "partial" else ""}
            for code, info in sorted(not_fully_run(run.rules), key=lambda kv: rule_order(kv[0]))]


def latest_coverage() -> dict:
    """What the latest finished audit run compared (audit/engine/coverage.py): the data date, rows and
    persons of each comparison list and ledger table, and the lists that are stale."""
    run = _latest_run()
    o = overview(run.rules, run.summary) if run is not None else overview(None, None)
    o["run"] = {"id": run.id, "as_of": run.as_of} if run is not None else None
    return o


def rectification(district: str | None, today: dt.date) -> dict:
    """Notices of the region issued up to ``today``: issued, answered, closed, overdue; 应追回 (each
    notice's counted-once figure), 已追回 (money actually recovered), 差额 and the rates."""
    w = and_(Notice.district == district if district else true(), func.date(Notice.issued_at) <= today)
    issued, answered, closed, overdue, due_fen = db.session.execute(select(
        func.count(), func.coalesce(func.sum(case((Notice.status == NoticeStatus.ANSWERED, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Notice.status == NoticeStatus.CLOSED, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Notice.overdue(today), 1), else_=0)), 0),
        func.coalesce(func.sum(Notice.amount_to_recover_fen), 0)).where(w)).one()
    back_fen = db.session.scalar(select(func.coalesce(func.sum(Recovery.amount_fen), 0))
                                 .join(Notice, Notice.id == Recovery.notice_id).where(w)) or 0
    late = [{"number": n.number, "unit": n.unit_name, "deadline": n.deadline,
             "days": (today - n.deadline).days}
            for n in db.session.scalars(select(Notice).where(w, Notice.overdue(today))
                                        .order_by(Notice.deadline, Notice.id).limit(10))]
    due_fen, back_fen = int(due_fen), int(back_fen)
    return {"issued": int(issued), "answered": int(answered), "closed": int(closed), "overdue": int(overdue),
            "waiting": int(issued) - int(answered) - int(closed), "due_fen": due_fen, "back_fen": back_fen,
            "gap_fen": due_fen - back_fen, "rate": (back_fen / due_fen) if due_fen else None,
            "closed_rate": (int(closed) / int(issued)) if issued else None, "late": late}


def conclusion(fig: dict, region: str, span: str) -> dict:
    """审计结论 and 审计建议, written from the figures."""
    cats = sorted((c for c in fig["categories"] if c["count"]), key=lambda c: (-c["amount_fen"], -c["count"]))
    rect = fig["rectification"]
    findings: list[str] = []
    advice: list[str] = []
    if not fig["violations"]:
        findings.append(f"{region}{span}未发现违规问题。")
    else:
        top = "、".join(f"{c['name']}（{c['count']}条，{yuan(c['amount_fen'])}元）" for c in cats[:3])
        findings.append(f"{region}{span}共发现违规问题{fig['violations']}条，涉及{fig['units']}个单位、"
                        f"{fig['people']}名人员、金额{yuan(fig['money_fen'])}元（每笔发放只计一次），"
                        f"其中应追回{yuan(fig['recover_fen'])}元、应补发拖欠工资{yuan(fig['owed_fen'])}元。"
                        f"问题主要集中在{top}。")
        if fig["worst"]:
            worst = "、".join(f"{w['name']}（{w['count']}条，{yuan(w['amount_fen'])}元）"
                             for w in fig["worst"][:3])
            findings.append(f"问题金额较大的单位是{worst}。")
        for c in cats[:3]:
            advice.append(ADVICE.get(c["category"], "对照问题清单逐项整改，举一反三。"))
        if fig["worst"]:
            advice.append(f"对{fig['worst'][0]['name']}等问题较多的单位开展重点督查，逐人逐月核对台账与发放记录。")
    not_run = [r for r in fig["not_run"] if r.get("status", "not_run") == "not_run"]
    partial = [r for r in fig["not_run"] if r.get("status") == "partial"]
    if not_run:
        names = "、".join(f"{r['rule']} {r['title']}" for r in not_run)
        findings.append(f"因缺少比对数据，以下规则未能运行，相应问题可能未被发现：{names}。")
        advice.append("补齐缺少的比对数据（见第三部分未运行的规则），再次运行审计。")
    if partial:
        names = "、".join(f"{r['rule']} {r['title']}（{r['reason'].split('：', 1)[-1]}）" for r in partial)
        findings.append(f"因台账缺少部分列，以下规则未完整运行，相应问题可能未被发现：{names}。")
        advice.append("在台账中补齐缺少的列（见第三部分未完整运行的规则），再次导入并运行审计。")
    stale = [x for x in (fig.get("coverage") or {}).get("lists", []) if x["stale"]]
    if stale:
        names = "、".join(f"{x['name']}（已 {x['age_months']} 个月未更新，数据截至 {x['data_date']}）"
                         for x in stale)
        findings.append(f"以下比对名单超过 {fig['coverage']['stale_months']} 个月未更新，"
                        f"据此比对的问题可能未被发现：{names}。")
        advice.append(f"向有关部门索取最新的{'、'.join(x['name'] for x in stale)}，导入后再次运行审计。")
    dq = next((c for c in fig["info_categories"] if c["category"] == "data_quality"), None)
    if dq and dq["count"]:
        findings.append(f"另有数据质量问题{dq['count']}条，部分规则未能对相应记录作出判断。")
        advice.append("督促各单位完善考勤、发放台账，消除数据质量问题。")
    if rect["issued"]:
        rate = f"{rect['rate'] * 100:.1f}%" if rect["rate"] is not None else "—"
        findings.append(f"已下发整改通知书{rect['issued']}份，已销号{rect['closed']}份，"
                        f"逾期未整改{rect['overdue']}份；应追回{yuan(rect['due_fen'])}元，"
                        f"已追回{yuan(rect['back_fen'])}元（{rate}），尚差{yuan(rect['gap_fen'])}元。")
        if rect["overdue"]:
            late = "、".join(f"{n['unit']}（{n['number']}，逾期{n['days']}天）" for n in rect["late"][:3])
            advice.append(f"督促逾期未整改的单位限期整改：{late}。")
        if rect["gap_fen"] > 0:
            advice.append(f"加快追回违规资金，尚有{yuan(rect['gap_fen'])}元未追回。")
    elif fig["violations"]:
        advice.append("对已确认的问题及时下发整改通知书，明确整改期限和追回金额。")
    return {"findings": findings, "advice": advice}


ADVICE = {
    "phantom_salary": ("对吃空饷、虚报冒领问题，立即停发并追回违规资金，清退未在岗人员，"
                       "落实考勤与发放的月度核对。"),
    "disguised_payment": "对变相发钱问题，追回超标准和无岗位发放的资金，按岗位标准和出勤核定工资。",
    "wage_arrears": "对拖欠工资问题，限期足额补发，落实按月发放。",
    "impersonation": "对冒名顶替问题，核实本人身份、签到设备和收款账户，工资一律发入本人账户。",
    "ineligible_placement": "对安置不符合条件人员问题，及时清退，追回违规发放的岗位补贴，严格上岗资格审核。",
    "favouritism": "对优亲厚友问题，清退干部家庭成员，追回资金，严肃追责问责。",
    "ledger_mismatch": "对车间账实不符、数字就业问题，核实在册人员和上报数据，追回多领的奖补资金。",
}


def build_summary(district: str | None, first: dt.date, last: dt.date) -> Built:
    """The 审计报告 of ``district`` (None: every district) for the months ``first`` … ``last``."""
    months = months_between(first, last)
    today = dt.date.today()
    fig = figures(district, months, today=today)
    region = district or "全部地区"
    span = zh_month(months[0]) if len(months) == 1 else f"{zh_month(months[0])}至{zh_month(months[-1])}"
    title = f"{region}公益性岗位和就业帮扶车间审计报告（{span}）"
    fig["conclusion"] = conclusion(fig, region, span)
    charts = {
        "categories": [{"label": c["name"], "value": c["amount_fen"],
                        "text": f"{compact_yuan(c['amount_fen'])} 元"}
                       for c in fig["categories"] if c["count"]],
        "trend_count": [{"label": m["month"][2:], "value": m["count"], "text": m["count"]}
                        for m in fig["trend"]],
        "trend_amount": [{"label": m["month"][2:], "value": m["amount_fen"],
                          "text": compact_yuan(m["amount_fen"]) if m["amount_fen"] else "0"}
                         for m in fig["trend"]],
        "worst": [{"label": w["name"], "value": w["amount_fen"],
                   "text": f"{compact_yuan(w['amount_fen'])} 元"}
                  for w in fig["worst"]],
    }
    html = render_template(
        "summary.html", title=title, heading=f"{region}公益性岗位和就业帮扶车间审计报告", span=span,
        region=region,
        issuer=issuer_of(district), docno=None, fig=fig, charts=charts, months=months,
        signed=zh_date(today), printed=zh_date(today), printed_by=f"{issuer_of(district)}办公室",
        copy_to=copy_to(district, None) if district else ["各区县人力资源和社会保障局", "各区县乡村振兴局"],
    )
    meta = {"district": district, "params": {"district": district, "first": months[0], "last": months[-1]}}
    return Built(html, title, meta)
