"""The pieces every 安置 rule (IP01–IP08) shares: the placements joined to their post and person,
the pay made on a post within a part of a holding, and the columns, text and evidence every
placement finding shows. No rule is declared here."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, cast, func, literal, select

from models import Person, Placement, Position, Post

from ..periods import as_date, held_until
from ..rule import Draft, yuan


def placement_tables():
    return Placement.__table__, Position.__table__, Person.__table__, Post.__table__


def paid_between(ctx, person_id, post_id, from_month, to_month, *extra):
    """Pay made (by the as-of date) on a post for the months ``from_month`` … ``to_month``
    (a month counts when its first day is in that range): the sum in fen and the number of months."""
    wage_month = ctx.wage_month
    cond = and_(wage_month.c.person_id == person_id, wage_month.c.post_id == post_id,
                wage_month.c.period >= from_month, wage_month.c.period <= to_month, *extra)
    return (select(func.sum(wage_month.c.paid_fen)).where(cond).scalar_subquery(),
            select(func.count()).where(cond, wage_month.c.paid_fen > 0).scalar_subquery())


def finding_columns(ctx, placement, position, person, posts, paid=None):
    """The columns every placement finding shows: who, which post, the holding and the pay in it."""
    until = held_until(ctx, placement)
    fen, months = paid or paid_between(ctx, placement.c.person_id, placement.c.position_id,
                                       ctx.month(placement.c.start_date), until)
    return [placement.c.person_id, placement.c.position_id.label("post_id"), placement.c.start_date,
            placement.c.end_date, until.label("held_until"), posts.c.code.label("post_code"), position.c.kind,
            person.c.name, fen.label("paid_fen"), months.label("paid_months")]


def joined(placement, position, person, posts):
    return (placement.join(position, position.c.id == placement.c.position_id)
            .join(posts, posts.c.id == placement.c.position_id)
            .join(person, person.c.id == placement.c.person_id))


def held_by(hit_placement, hit_person, listed):
    """Placements joined to their persons and to the rows of a list (pensions, businesses, officials)
    on the person's ID number hash: the inside of a rule's ``hit`` subquery."""
    return (hit_placement.join(hit_person, hit_person.c.id == hit_placement.c.person_id)
            .join(listed, listed.c.id_hash == hit_person.c.id_hash))


def agg_text(ctx, expr):
    """The distinct texts of a group, joined with '；' (GROUP_CONCAT / STRING_AGG)."""
    if ctx.sqlite:
        return func.group_concat(expr, "；")
    return func.string_agg(expr, literal("；"))


def as_text(value):
    return cast(value, String)


def holding_text(r) -> str:
    return f"{r['start_date']} 至 {r['end_date'] or '今'}"


def amount_at_risk(r, ctx, key="paid_fen"):
    """The pay at risk; None when the county has no wages table at all (unknown, not zero)."""
    if not ctx.has("wages"):
        return None
    return int(r[key] or 0)


def paid_text(r, ctx, key="paid_fen", months_key="paid_months", what="安置期内") -> str:
    amount = amount_at_risk(r, ctx, key)
    if amount is None:
        return "（无工资发放数据，金额未计）"
    return f"；{what}在该岗位已发放工资 {yuan(amount)} 元（{r[months_key] or 0} 个月）"


def evidence_of(r, ctx, **more) -> dict:
    ev = {"post": r["post_code"], "post_kind": r["kind"],
          "holding": {"start": r["start_date"], "end": r["end_date"], "judged_until": r["held_until"]},
          "paid": None if amount_at_risk(r, ctx) is None else yuan(amount_at_risk(r, ctx)),
          "paid_months": r["paid_months"] or 0}
    ev.update(more)
    return ev


def months_claimed(r) -> tuple[dt.date, dt.date]:
    """The months whose pay the finding's amount is: from the first month counted (``from_month``,
    else the holding's first month) to ``to_month`` (else the last day judged)."""
    first = as_date(r["from_month"]) if "from_month" in r else as_date(r["start_date"]).replace(day=1)
    return first, as_date(r["to_month"] if "to_month" in r else r["held_until"])


def draft(r, ctx, text, evidence, *, key="paid_fen") -> Draft:
    return Draft(text, evidence, person_id=r["person_id"], post_id=r["post_id"], periods=[],
                 amount_fen=amount_at_risk(r, ctx, key), spans=[months_claimed(r)])


def split_texts(text: str | None) -> list[str]:
    return sorted({t for t in (text or "").split("；") if t})
