"""The queries of the history pages: the user's ledger imports and the rows each changed, the audit
runs and the findings of one run in the user's scope, and the rule catalogue.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, true

from audit.access import Scope
from audit.paging import Page, paged
from models import (
    AuditRun,
    Business,
    ChangeLog,
    Death,
    Finding,
    ImportBatch,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Report,
    SocialInsurance,
    SummaryCount,
    SummaryMoney,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

# ---- imports and runs ---------------------------------------------------------------------------

def _batches_of(sc: Scope, username: str):
    """An import batch covers whatever its bundle held, across regions: a user who does not see
    every region sees only the batches they loaded themselves."""
    return true() if sc.everything else ImportBatch.actor == username


def batches(sc: Scope, username: str, page: int = 1) -> Page:
    return paged(select(ImportBatch).where(_batches_of(sc, username))
                 .order_by(ImportBatch.started_at.desc(), ImportBatch.id.desc()), page, scalars=True)


def batch(sc: Scope, username: str, batch_id: int) -> ImportBatch | None:
    return db.session.scalar(select(ImportBatch).where(ImportBatch.id == batch_id, _batches_of(sc, username)))


def _change_in_scope(sc: Scope):
    """A change-log entry about a row the user may see (admins and users of every region: all).
    Entries whose row cannot be placed (attendance, keyed without an id) are left out for others."""
    if sc.everything:
        return literal(True)
    cl = ChangeLog
    people = select(Person.id_hash).where(sc.persons())
    by_table = {
        "persons": select(Person.id).where(sc.persons()),
        "positions": select(Position.id).where(sc.positions()),
        "workshops": select(Workshop.id).where(sc.workshops()),
        "placements": select(Placement.id).where(sc.posts(Placement.position_id)),
        "workshop_staff": select(WorkshopStaff.id).where(sc.posts(WorkshopStaff.workshop_id)),
        "wages": select(Wage.id).where(sc.posts(Wage.post_id)),
        "reports": select(Report.id).where(sc.posts(Report.workshop_id)),
    }
    for model in (Death, SocialInsurance, Pension, Business, MigrantWork, Official):
        by_table[model.__tablename__] = select(model.id).where(model.id_hash.in_(people))
    return or_(*[and_(cl.table_name == t, cl.row_id.in_(q)) for t, q in by_table.items()])


def batch_changes(sc: Scope, batch_id: int, page: int = 1) -> tuple[Page, int]:
    """The batch's change-log entries the user may see, and how many others there are."""
    mine = and_(ChangeLog.batch_id == batch_id, _change_in_scope(sc))
    p = paged(select(ChangeLog).where(mine).order_by(ChangeLog.id), page, scalars=True)
    everything = db.session.scalar(select(func.count()).select_from(ChangeLog)
                                   .where(ChangeLog.batch_id == batch_id)) or 0
    return p, everything - p.total


def runs(page: int = 1) -> Page:
    return paged(select(AuditRun).order_by(AuditRun.started_at.desc(), AuditRun.id.desc()), page,
                 scalars=True)


def run(run_id: int) -> AuditRun | None:
    return db.session.get(AuditRun, run_id)


def rule_catalogue() -> dict[str, Any]:
    from audit.engine.rule import all_rules

    return {r.code: r for r in all_rules()}



def run_findings_in_scope(sc: Scope, run_id: int) -> dict:
    """What one run saw within the user's scope: findings per category (count, fen), per rule, and
    how many were new in that run."""
    from audit.engine import summary
    from audit.engine.money import money_by

    built = summary.current(db.session)
    if built is not None:  # the findings' summary (audit/engine/summary.py)
        c, m = SummaryCount, SummaryMoney
        w = (sc.findings(c), c.last_run_id == run_id)
        rows = db.session.execute(select(c.category, c.rule, c.new, func.sum(c.n)).where(*w)
                                  .group_by(c.category, c.rule, c.new)).all()
        money = {}
        if built == run_id:
            money = dict(db.session.execute(select(m.category, func.sum(m.fen)).where(
                m.basis == "run", sc.findings(m)).group_by(m.category)).all())
        else:  # an earlier run: what it was the last to see, counted live (not many findings)
            money = dict(money_by(db.session, sc.findings(), Finding.last_run_id == run_id,
                                  group=Finding.category))
        cats: dict[str, int] = {}
        by_rule: dict[str, int] = {}
        new = 0
        for cat, rule, is_new, n in rows:
            cats[cat] = cats.get(cat, 0) + int(n)
            by_rule[rule] = by_rule.get(rule, 0) + int(n)
            new += int(n) if is_new else 0
        by_cat = {k: (n, int(money.get(k, 0) or 0)) for k, n in cats.items()}
        return {"by_category": by_cat, "by_rule": by_rule, "total": sum(cats.values()), "new": new}
    s = sc.findings()
    # counted once
    money = dict(money_by(db.session, s, Finding.last_run_id == run_id, group=Finding.category))
    by_cat = {c: (int(n), int(money.get(c, 0))) for c, n in db.session.execute(
        select(Finding.category, func.count()).where(s, Finding.last_run_id == run_id)
        .group_by(Finding.category))}
    by_rule = dict(db.session.execute(select(Finding.rule, func.count())
                                      .where(s, Finding.last_run_id == run_id)
                                      .group_by(Finding.rule)).all())
    first_here = func.sum(case((Finding.first_run_id == run_id, 1), else_=0))
    new = db.session.scalar(select(func.coalesce(first_here, 0)).where(s, Finding.last_run_id == run_id))
    return {"by_category": by_cat, "by_rule": by_rule, "total": sum(n for n, _ in by_cat.values()),
            "new": int(new or 0)}
