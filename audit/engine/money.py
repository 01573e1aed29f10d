"""Money counted once: the one definition of every money total the system states.

A finding keeps its own amount at risk (``findings.amount_at_risk_fen``). Several findings may be
about the same money — PS01 and PS04 on one month's wages of a dead man, PS02 and DP02 on one
overpaid month, an ineligible placement (IP…) over months that PS01 also finds — so a total never
adds findings. Each finding names the payments its amount comes from (``finding_money``, written
by the audit run, see ``audit/engine/runner.py``):

- ``wage:<person>:<post>:<month>`` — the wages paid to a person on a post for a month;
- ``owed:<person>:<post>:<month>`` — wages owed for a month and not paid (wage arrears: 应补发,
  never 应追回);
- ``subsidy:<workshop>:<month>`` — a workshop's subsidy claim for a month;
- ``finding:<id>`` — money no other finding can share.

A total over any set of findings (a notice, a region and period, a dashboard) takes **per payment
the largest amount any of those findings claims of it**: each payment is counted once, and never
above what was paid (every claim is at most what was paid for that payment). Where a total is
split (by category, unit, district, finding), each payment falls in the group of the finding with
the largest claim on it (ties: the rule first in the catalogue, then the finding id), so the parts
add up to the whole.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.util import ClauseAdapter

from audit.engine.rule import RULE_PREFIXES
from models import Finding, FindingMoney, FindingStatus

RECOVERABLE = "recoverable"  # money paid wrongly: everything but wages owed
# the columns of ``findings`` a total can be split by (``money_by``'s ``group``)
GROUPABLE = ("id", "rule", "category", "severity", "status", "unit", "district", "township", "village",
             "person_id", "post_id", "period_start", "last_run_id")


def _rule_order():
    """The catalogue's order of rule prefixes as an SQL expression (ties go to the earlier rule)."""
    f = Finding.__table__
    return case(*[(f.c.rule.like(f"{p}%"), i) for i, p in enumerate(RULE_PREFIXES)], else_=99)


def _claims(where: Iterable[ColumnElement[bool]], kind: str | None, months: tuple[dt.date, dt.date] | None):
    """Each payment's winning claim among the findings matching ``where``: (payment, month, owed,
    amount, the finding's ``GROUPABLE`` columns) with one row per payment. ``months``: only payments
    of the months from the first to the last (first days of months); money of no month (``finding:``)
    is always in."""
    f, fm = Finding.__table__, FindingMoney.__table__
    conds = list(where)
    if months:
        conds.append(or_(fm.c.month.is_(None), fm.c.month.between(months[0], months[1])))
    if kind == RECOVERABLE:
        conds.append(~fm.c.payment.like("owed:%"))
    elif kind:
        conds.append(fm.c.payment.like(f"{kind}:%"))
    owed = case((fm.c.payment.like("owed:%"), 1), else_=0).label("owed")
    # the columns a total may be split by (not the findings' evidence and texts: the ranking carries
    # every claim, and a wide row would be carried with it)
    ranked = (select(fm.c.payment, fm.c.month, owed, fm.c.amount_fen, *[f.c[k] for k in GROUPABLE],
                     func.row_number().over(partition_by=fm.c.payment,
                                            order_by=(fm.c.amount_fen.desc(), _rule_order(), f.c.rule,
                                                      f.c.id))
                     .label("rank"))
              .select_from(fm.join(f, f.c.id == fm.c.finding_id))
              .where(*conds).subquery("claims"))
    return ranked


def total_fen(conn, *where: ColumnElement[bool], kind: str | None = None,
              months: tuple[dt.date, dt.date] | None = None) -> int:
    """The money of the findings matching ``where``, each payment counted once. ``kind``:
    ``RECOVERABLE`` (paid wrongly, to recover), ``"owed"`` (wages owed), or None (both);
    ``months``: only the payments of those months (first, last)."""
    c = _claims(where, kind, months)
    q = select(func.coalesce(func.sum(c.c.amount_fen), 0)).where(c.c.rank == 1)
    return int(conn.execute(q).scalar_one())


def money_by(conn, *where: ColumnElement[bool], group, kind: str | None = None,
             months: tuple[dt.date, dt.date] | None = None) -> list[tuple[Any, int]]:
    """``[(group value, fen)]``: the total split by a column of ``findings`` (``Finding.category``,
    ``Finding.unit``, ``Finding.id`` …). The parts add up to ``total_fen`` of the same findings."""
    c = _claims(where, kind, months)
    col = c.c[group.key]
    q = select(col, func.sum(c.c.amount_fen)).where(c.c.rank == 1).group_by(col)
    return [(g, int(fen or 0)) for g, fen in conn.execute(q)]


def money_by_many(conn, *where: ColumnElement[bool], groups: list, kind: str | None = None,
                  months: tuple[dt.date, dt.date] | None = None) -> list[tuple]:
    """Like ``money_by`` over several columns: ``[(value, value, …, fen)]``. Besides columns of
    ``findings``, a group may be ``"month"`` (the payment's month) or ``"owed"`` (1 for wages owed,
    0 for money paid): one query can then give every split a report needs."""
    c = _claims(where, kind, months)
    cols = [c.c[g if isinstance(g, str) else g.key] for g in groups]
    q = select(*cols, func.sum(c.c.amount_fen)).where(c.c.rank == 1).group_by(*cols)
    return [(*r[:-1], int(r[-1] or 0)) for r in conn.execute(q)]


def overlaps(conn, finding_ids: list[str], *among: ColumnElement[bool]) -> dict[str, list[dict]]:
    """For each of ``finding_ids``: the other findings (not dismissed; matching ``among``, clauses on
    ``Finding`` such as ``Finding.id.in_(a notice's findings)``) that claim some of the same
    payments — ``{id: [{"id", "rule", "title", "fen"}]}``, where ``fen`` is the money the two share
    (the smaller claim, summed over the shared payments)."""
    if not finding_ids:
        return {}
    f, fm = Finding.__table__, FindingMoney.__table__
    mine, other = fm.alias("mine"), fm.alias("other")
    of = f.alias("of")
    on_other = [ClauseAdapter(of).traverse(c) for c in among]  # the clauses speak of the other finding
    out: dict[str, list[dict]] = {}
    for i in range(0, len(finding_ids), 2000):
        chunk = finding_ids[i:i + 2000]
        shared = func.sum(case((mine.c.amount_fen < other.c.amount_fen, mine.c.amount_fen),
                               else_=other.c.amount_fen))
        q = (select(mine.c.finding_id, of.c.id, of.c.rule, of.c.title, shared.label("fen"))
             .select_from(mine.join(other, and_(other.c.payment == mine.c.payment,
                                                other.c.finding_id != mine.c.finding_id))
                          .join(of, of.c.id == other.c.finding_id))
             .where(mine.c.finding_id.in_(chunk), of.c.status != FindingStatus.DISMISSED, *on_other)
             .group_by(mine.c.finding_id, of.c.id, of.c.rule, of.c.title)
             .order_by(mine.c.finding_id, of.c.rule, of.c.id))
        for fid, oid, rule, title, fen in conn.execute(q):
            out.setdefault(fid, []).append({"id": oid, "rule": rule, "title": title, "fen": int(fen or 0)})
    return out


def overlap_note(others: list[dict], *, titles: bool = True) -> str:
    """「与 PS04 死亡后仍发放工资 重叠，不重复计算」 for a finding whose money others also claim
    (without ``titles``: 「与 PS04 重叠，不重复计算」, for narrow table cells)."""
    if not others:
        return ""
    names = "、".join(dict.fromkeys(f"{o['rule']} {o['title']}" if titles else o["rule"] for o in others))
    return f"与 {names} 重叠，不重复计算"
