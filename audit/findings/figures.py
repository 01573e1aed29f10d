"""The dashboard's figures over findings (counts and money by category, rule, status, month,
district and unit, the money at risk), in the signed-in user's scope, each payment counted once.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select

from models import (
    ACTIVE_FINDING,
    Finding,
    FindingStatus,
    SummaryCount,
    SummaryMoney,
    db,
)

from ..access import scope
from ..engine.money import money_by, money_by_many, total_fen
from ..engine.rule import CATEGORIES, VIOLATIONS
from .queries import kept_value, rule_title, summary_run, summary_stamp, unit_names

# ---- aggregates for the dashboards ---------------------------------------------------------------
#
# Each reads the findings' summary (audit/engine/summary.py) when there is one; otherwise (no run
# yet, or a summary whose sums would not be exact) it counts the findings themselves, live.

def _active_in_scope():
    return and_(scope().findings(), Finding.is_active)


def _money(*where, group) -> dict:
    """The money of the findings matching ``where`` split by ``group``, each payment counted once."""
    return dict(money_by(db.session, *where, group=group))


def _counts(*where, group: list[str], open_: bool = False) -> list[tuple]:
    """From the summary: ``[(group values…, findings[, open findings])]`` in scope."""
    sc = SummaryCount
    cols = [getattr(sc, g) for g in group]
    extra = [func.sum(case((sc.status == FindingStatus.OPEN, sc.n), else_=0))] if open_ else []
    return [tuple(r) for r in db.session.execute(select(*cols, func.sum(sc.n), *extra)
                                                 .where(scope().findings(sc), *where).group_by(*cols))]


def _summed(basis: str, *where, group: list[str]) -> dict:
    """From the summary: the money of ``basis`` in scope, ``{group value(s): fen}``."""
    sm = SummaryMoney
    cols = [getattr(sm, g) for g in group]
    rows = db.session.execute(select(*cols, func.sum(sm.fen))
                              .where(sm.basis == basis, scope().findings(sm), *where).group_by(*cols))
    return {(r[0] if len(cols) == 1 else tuple(r[:-1])): int(r[-1] or 0) for r in rows}


def at_risk() -> int:
    """The headline: the money of the violations to handle, each payment counted once."""
    if summary_run() is not None:
        return int(db.session.scalar(select(func.coalesce(func.sum(SummaryMoney.fen), 0)).where(
            SummaryMoney.basis == "violations", scope().findings(SummaryMoney))) or 0)
    return total_fen(db.session, scope().findings(), Finding.is_active,
                     Finding.category.in_(VIOLATIONS))


def by_category() -> list[dict]:
    if summary_run() is not None:
        rows = {c: int(n) for c, n in _counts(SummaryCount.status.in_(ACTIVE_FINDING), group=["category"])}
        money = _summed("active", group=["category"])
    else:
        rows = dict((c, n) for c, n in db.session.execute(
            select(Finding.category, func.count()).where(_active_in_scope()).group_by(Finding.category)))
        money = _money(_active_in_scope(), group=Finding.category)
    return [{"category": c, "name": zh, "violation": c in VIOLATIONS, "count": rows.get(c, 0),
             "amount_fen": int(money.get(c, 0))} for c, zh in CATEGORIES.items()]


def by_rule() -> list[dict]:
    if summary_run() is not None:
        found = _counts(SummaryCount.status.in_(ACTIVE_FINDING), group=["rule", "category"], open_=True)
        money = _summed("active", group=["rule"])
    else:
        q = (select(Finding.rule, Finding.category, func.count(),
                    func.sum(case((Finding.status == FindingStatus.OPEN, 1), else_=0)))
             .where(_active_in_scope()).group_by(Finding.rule, Finding.category))
        found = db.session.execute(q).all()
        money = _money(_active_in_scope(), group=Finding.rule)
    out = [{"rule": r, "category": c, "title": rule_title(r), "count": int(n),
            "amount_fen": int(money.get(r, 0)), "open": int(o or 0), "violation": c in VIOLATIONS}
           for r, c, n, o in found]
    from ..engine.rule import rule_order

    return sorted(out, key=lambda d: rule_order(d["rule"]))


def by_status() -> dict[str, int]:
    if summary_run() is not None:
        rows = {st: int(n) for st, n in _counts(group=["status"])}
    else:
        rows = dict(db.session.execute(select(Finding.status, func.count()).where(scope().findings())
                                       .group_by(Finding.status)).all())
    return {s: int(rows.get(s, 0))
            for s in (*ACTIVE_FINDING, FindingStatus.DISMISSED, FindingStatus.RESOLVED)}


def monthly_trend(months: int = 12) -> list[dict]:
    """Violations per month of their first period (the latest ``months`` months with findings)."""
    if summary_run() is not None:
        sc = SummaryCount
        found = _counts(sc.status.in_(ACTIVE_FINDING), sc.category.in_(sorted(VIOLATIONS)),
                        sc.period_start.is_not(None), group=["period_start"])
        money = _summed("dated", group=["period_start"])
    else:
        where = (_active_in_scope(), Finding.category.in_(VIOLATIONS), Finding.period_start.is_not(None))
        q = select(Finding.period_start, func.count()).where(*where).group_by(Finding.period_start)
        found = db.session.execute(q).all()
        money = _money(*where, group=Finding.period_start)
    per: dict[str, list[int]] = {}
    for day, n in found:
        key = f"{day:%Y-%m}" if hasattr(day, "year") else str(day)[:7]
        acc = per.setdefault(key, [0, 0])
        acc[0] += int(n)
    for day, fen in money.items():
        key = f"{day:%Y-%m}" if hasattr(day, "year") else str(day)[:7]
        per.setdefault(key, [0, 0])[1] += int(fen)
    if not per:
        return []
    last = max(per)
    out, (y, m) = [], map(int, last.split("-"))
    for _ in range(months):
        key = f"{y:04d}-{m:02d}"
        n, fen = per.get(key, (0, 0))
        out.append({"month": key, "count": n, "amount_fen": fen})
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def by_district() -> list[dict]:
    """Violations per district (for users who oversee several: inspectors, city admins)."""
    if summary_run() is not None:
        sc = SummaryCount
        found = sorted(_counts(sc.status.in_(ACTIVE_FINDING), sc.category.in_(sorted(VIOLATIONS)),
                               group=["district"], open_=True), key=lambda r: (r[0] is None, r[0] or ""))
        money = _summed("violations", group=["district"])
    else:
        where = (_active_in_scope(), Finding.category.in_(VIOLATIONS))
        q = (select(Finding.district, func.count(),
                    func.sum(case((Finding.status == FindingStatus.OPEN, 1), else_=0)))
             .where(*where).group_by(Finding.district).order_by(Finding.district))
        found = db.session.execute(q).all()
        money = _money(*where, group=Finding.district)
    return [{"district": d, "count": int(n), "amount_fen": int(money.get(d, 0)), "open": int(o or 0)}
            for d, n, o in found]


def worst_units(limit: int = 10) -> list[dict]:
    """The units with the most violation money (each payment counted once), then the most findings."""
    if summary_run() is not None:
        sc, sm = SummaryCount, SummaryMoney
        counts = {(u, d, t): int(n) for u, d, t, n in _counts(
            sc.status.in_(ACTIVE_FINDING), sc.category.in_(sorted(VIOLATIONS)), sc.unit.is_not(None),
            group=["unit", "district", "township"])}
        money = _summed("violations", sm.unit.is_not(None), group=["unit", "district", "township"])
    else:
        where = (_active_in_scope(), Finding.category.in_(VIOLATIONS), Finding.unit.is_not(None))
        counts = {(u, d, t): n for u, d, t, n in db.session.execute(
            select(Finding.unit, Finding.district, Finding.township, func.count()).where(*where)
            .group_by(Finding.unit, Finding.district, Finding.township))}
        money = {tuple(r[:-1]): r[-1] for r in money_by_many(
            db.session, *where, groups=[Finding.unit, Finding.district, Finding.township])}
    rows = sorted(counts, key=lambda k: (-int(money.get(k, 0)), -counts[k], k[0] or ""))[:limit]
    names = unit_names({u for u, _, _ in rows if u})
    return [{"unit": u, "unit_name": names.get(u, u), "district": d, "township": t,
             "count": counts[(u, d, t)], "amount_fen": int(money.get((u, d, t), 0))} for u, d, t in rows]


def dashboard_figures() -> dict[str, Any]:
    """The dashboard's aggregates, each payment counted once: kept per summary stamp (13 queries
    read once, not on every dashboard) when the summary is exact."""
    stamp = summary_stamp()
    return _figures() if stamp is None else kept_value("dashboard", stamp, _figures)


def _figures() -> dict[str, Any]:
    return {"cats": by_category(), "rules": by_rule(), "districts": by_district(), "status": by_status(),
            "trend": monthly_trend(), "units": worst_units(), "at_risk": at_risk()}
