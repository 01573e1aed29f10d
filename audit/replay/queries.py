"""Reading replays: their money with each payment counted once (as audit/engine/money.py counts
the current findings), and the web's lists, always narrowed to the signed-in user's scope."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, desc, func, select
from sqlalchemy.sql import ColumnElement

from models import Finding, Position, Post, ReplayFinding, ReplayMoney, ReplayRun, Workshop, db

from ..access import Scope, not_found_in_scope
from ..engine.rule import CATEGORIES, RULE_PREFIXES, VIOLATIONS
from ..findings.queries import person_names, post_label, subject_text, unit_names

RF, RM = ReplayFinding.__table__, ReplayMoney.__table__
PER_PAGE = 50


# ---- money counted once ------------------------------------------------------------------------------

def _claims(replay_id: int, where):
    """Each payment's winning claim among the replay's findings matching ``where`` (clauses on
    ``replay_findings``): the largest claim, ties to the rule first in the catalogue, then the
    finding id — ``money._claims``'s ranking over the replay's tables."""
    order = case(*[(RF.c.rule.like(f"{p}%"), i) for i, p in enumerate(RULE_PREFIXES)], else_=99)
    return (select(RM.c.payment, RM.c.amount_fen, RF.c.id, RF.c.rule, RF.c.category, RF.c.unit, RF.c.district,
                   func.row_number().over(partition_by=RM.c.payment,
                                          order_by=(RM.c.amount_fen.desc(), order, RF.c.rule, RF.c.id))
                   .label("rank"))
            .select_from(RM.join(RF, and_(RF.c.replay_id == RM.c.replay_id, RF.c.id == RM.c.finding_id)))
            .where(RM.c.replay_id == replay_id, *where).subquery("claims"))


def money_by(conn, replay_id: int, *where: ColumnElement[bool], group: str) -> dict[Any, int]:
    """``{value: fen}``: the replay's money split by a column (``category``, ``rule``, ``id``,
    ``unit``, ``district``); each payment counted once, in the group of its winning claim."""
    c = _claims(replay_id, where)
    q = select(c.c[group], func.sum(c.c.amount_fen)).where(c.c.rank == 1).group_by(c.c[group])
    return {g: int(fen or 0) for g, fen in conn.execute(q)}


def total_fen(conn, replay_id: int, *where: ColumnElement[bool]) -> int:
    c = _claims(replay_id, where)
    q = select(func.coalesce(func.sum(c.c.amount_fen), 0)).where(c.c.rank == 1)
    return int(conn.execute(q).scalar_one())


def by_category(conn, replay_id: int, *where: ColumnElement[bool]) -> list[dict]:
    """Every category (violations first): findings and money (each payment counted once)."""
    counts = dict(conn.execute(select(RF.c.category, func.count()).where(RF.c.replay_id == replay_id, *where)
                               .group_by(RF.c.category)).all())
    money = money_by(conn, replay_id, *where, group="category")
    return [{"category": c, "name": zh, "violation": c in VIOLATIONS, "count": int(counts.get(c, 0)),
             "amount_fen": money.get(c, 0)} for c, zh in CATEGORIES.items()]


# ---- the user's scope ----------------------------------------------------------------------------------

def in_scope(sc: Scope, t) -> ColumnElement[bool]:
    """A finding of ``t`` (a table or subquery with the region and unit columns of ``findings``) in
    the scope ``sc``: ``Scope.findings()`` on other columns."""
    return sc.located(t.c)


# ---- the web's pages -------------------------------------------------------------------------------------

def get(replay_id: int) -> ReplayRun:
    """A replay, or 404 (logged). A replay is every finding of its date; what a user reads of it is
    narrowed to their scope, so any auditor may open any replay."""
    run = db.session.get(ReplayRun, replay_id)
    if run is None:
        not_found_in_scope("replay", replay_id)
    return run


def recent(actor: str, limit: int = 20) -> list[ReplayRun]:
    return list(db.session.scalars(select(ReplayRun).where(ReplayRun.actor == actor)
                                   .order_by(desc(ReplayRun.id)).limit(limit)))


@dataclass
class Row:
    """A replayed finding as the list shows it."""

    id: str
    rule: str
    category: str
    severity: str
    title: str
    subject_type: str
    subject_label: str
    periods: list
    amount_at_risk_fen: int | None
    unit: str | None
    township: str | None
    village: str | None
    person_id: int | None
    post_code: str | None
    post_title: str | None
    current_status: str | None  # the same finding's state among the current findings, if it is one
    person: dict | None
    unit_name: str | None

    @property
    def post_name(self) -> str | None:
        return post_label(self.post_code, self.post_title)

    @property
    def subject(self) -> str:
        return subject_text(self.subject_type, self.subject_label, self.person, self.post_title)

    @property
    def violation(self) -> bool:
        return self.category in VIOLATIONS


def listing(replay_id: int, sc: Scope, category: str, page: int) -> tuple[list[Row], int]:
    """A page of the replay's findings in the user's scope (by rule, then month), and how many."""
    where = [RF.c.replay_id == replay_id, in_scope(sc, RF)]
    if category:
        where.append(RF.c.category == category)
    total = db.session.scalar(select(func.count()).select_from(RF).where(*where)) or 0
    f = Finding.__table__
    rule_order = case(*[(RF.c.rule.like(f"{p}%"), i) for i, p in enumerate(RULE_PREFIXES)], else_=99)
    q = (select(RF.c.id, RF.c.rule, RF.c.category, RF.c.severity, RF.c.title, RF.c.subject_type,
                RF.c.subject_label, RF.c.periods, RF.c.amount_at_risk_fen, RF.c.unit, RF.c.township,
                RF.c.village, RF.c.person_id, Post.code.label("post_code"),
                func.coalesce(Position.title, Workshop.name).label("post_title"),
                f.c.status.label("current_status"))
         .outerjoin(Post, Post.id == RF.c.post_id).outerjoin(Position, Position.id == RF.c.post_id)
         .outerjoin(Workshop, Workshop.id == RF.c.post_id).outerjoin(f, f.c.id == RF.c.id)
         .where(*where)
         .order_by(rule_order, RF.c.rule, RF.c.period_start, RF.c.id)
         .limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    rows = db.session.execute(q).all()
    people = person_names({r.person_id for r in rows if r.person_id})
    units = unit_names({r.unit for r in rows if r.unit})
    return [Row(**r._asdict(), person=people.get(r.person_id), unit_name=units.get(r.unit, r.unit))
            for r in rows], int(total)
