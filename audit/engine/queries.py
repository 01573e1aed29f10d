"""Read-only queries over findings and runs (one place for the engine's domain)."""
from __future__ import annotations

from sqlalchemy import desc, func, select

from models import AuditRun, Finding, db

from .rule import CATEGORIES, VIOLATIONS

OPEN_STATES = ("open", "confirmed")


def category_totals() -> list[dict]:
    """Open and confirmed findings per category, with the money at risk: violations first."""
    rows = dict((c, (n, fen)) for c, n, fen in db.session.execute(
        select(Finding.category, func.count(), func.coalesce(func.sum(Finding.amount_at_risk_fen), 0))
        .where(Finding.status.in_(OPEN_STATES)).group_by(Finding.category)))
    return [{"category": c, "name": zh, "violation": c in VIOLATIONS, "count": rows.get(c, (0, 0))[0],
             "amount_fen": int(rows.get(c, (0, 0))[1])} for c, zh in CATEGORIES.items()]


def last_run() -> AuditRun | None:
    return db.session.scalars(select(AuditRun).where(AuditRun.status == "finished")
                              .order_by(desc(AuditRun.id)).limit(1)).first()
