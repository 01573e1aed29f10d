"""The queries of the posts' pages: public-welfare positions (their holders, each month's days and
wage due against the wages paid) and workshops (their roster, each month's figures computed by the
audit engine's definitions against the figures reported). Narrowed by the user's scope as every
browsing query is (``queries.py``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, distinct, func, literal, or_, select, union

from audit.access import Scope
from audit.ledger.values import nfkc
from audit.paging import Page, paged
from audit.vocab import METRICS, MONEY_METRICS, POVERTY_MASK
from models import (
    Attendance,
    Finding,
    Person,
    Placement,
    Position,
    Post,
    Report,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

from .queries import (
    contains,
    month_end,
    options,
    outstanding_violations,
    post_name,
)

# ---- positions ----------------------------------------------------------------------------------

def _current_holder(today: dt.date, col):
    cur = and_(Placement.position_id == Position.id, Placement.start_date <= today,
               or_(Placement.end_date.is_(None), Placement.end_date >= today))
    return (select(col).select_from(Placement).join(Person, Person.id == Placement.person_id).where(cur)
            .order_by(Placement.start_date.desc(), Placement.id.desc()).limit(1).scalar_subquery())


def position_filters(sc: Scope) -> dict[str, list]:
    rows = options(Position.kind, Position.township, Position.village, Position.employer,
                    where=sc.positions())
    return {"kinds": sorted({r[0] for r in rows}), "townships": sorted({r[1] for r in rows if r[1]}),
            "villages": sorted({(r[1] or "", r[2]) for r in rows if r[2]}),
            "employers": sorted({r[3] for r in rows})}


def positions(sc: Scope, *, q: str = "", kind: str = "", township: str = "", village: str = "",
              employer: str = "", page: int = 1) -> Page:
    where = [sc.positions()]
    q = nfkc(q or "")
    if q:
        where.append(or_(contains(Post.code, q), contains(Position.title, q),
                         contains(Position.employer, q)))
    for col, value in ((Position.kind, kind), (Position.township, township), (Position.village, village),
                       (Position.employer, employer)):
        if value:
            where.append(col == value)
    today = dt.date.today()
    fc = outstanding_violations(sc)
    stmt = (select(Position, Post.code, _current_holder(today, Person.id).label("holder_id"),
                   _current_holder(today, Person.name).label("holder_name"),
                   _current_holder(today, Person.id_masked).label("holder_masked"),
                   func.coalesce(fc.c.n, 0).label("findings"))
            .join(Post, Post.id == Position.id).outerjoin(fc, fc.c.post_id == Position.id)
            .where(*where).order_by(Post.code))
    return paged(stmt, page, count=select(Position.id).join(Post, Post.id == Position.id).where(*where))


def position(sc: Scope, post_id: int):
    return db.session.execute(select(Position, Post.code).join(Post, Post.id == Position.id)
                              .where(Position.id == post_id, sc.positions())).first()


def holders(post_id: int) -> list:
    return db.session.execute(
        select(Placement, Person).join(Person, Person.id == Placement.person_id)
        .where(Placement.position_id == post_id)
        .order_by(Placement.start_date.desc(), Placement.id.desc())).all()


def _wage_due(monthly_wage_fen: int, present, required_days: int):
    """月标准 × min(1, 出勤 ÷ 规定天数), rounded half up to the fen, in integer SQL arithmetic: the
    formula of the audit engine (``RunContext.wage_due``), which rules PS02 and WA01 apply."""
    wage, required = literal(int(monthly_wage_fen)), literal(int(required_days))
    days = case((present < required, present), else_=required)
    return (wage * days * 2 + required) // (required * 2)


def position_months(pos: Position) -> list:
    """Per month and person who worked or was paid on the post: days recorded and present, the
    wage due by attendance, and what was paid for that month (every payment recorded)."""
    a, w = Attendance, Wage
    post_id = pos.id
    # the post's people, so that attendance is read through its primary key (person, post, month)
    people = union(select(Placement.person_id).where(Placement.position_id == post_id),
                   select(w.person_id).where(w.post_id == post_id))
    att = (select(a.person_id, a.work_month.label("month"), func.count().label("days"),
                  func.sum(case((a.status == "出勤", 1), else_=0)).label("present"))
           .where(a.person_id.in_(people), a.post_id == post_id)
           .group_by(a.person_id, a.work_month).subquery("att"))
    paid = (select(w.person_id, w.period.label("month"), func.sum(w.amount_fen).label("paid"),
                   func.count().label("payments"))
            .where(w.post_id == post_id).group_by(w.person_id, w.period).subquery("paid"))
    keys = union(select(att.c.person_id, att.c.month),
                 select(paid.c.person_id, paid.c.month)).subquery("keys")
    present = func.coalesce(att.c.present, 0)
    due = case((att.c.days.is_not(None), _wage_due(pos.monthly_wage_fen, present, pos.required_days)),
               else_=None)
    return db.session.execute(
        select(keys.c.month, keys.c.person_id, Person.name, Person.id_masked, att.c.days,
               present.label("present"), due.label("due"), paid.c.paid, paid.c.payments)
        .select_from(keys).join(Person, Person.id == keys.c.person_id)
        .outerjoin(att, and_(att.c.person_id == keys.c.person_id, att.c.month == keys.c.month))
        .outerjoin(paid, and_(paid.c.person_id == keys.c.person_id, paid.c.month == keys.c.month))
        .order_by(keys.c.month.desc(), Person.name)).all()


def post_findings(sc: Scope, post_id: int) -> list:
    """The post's findings in scope, as (finding, post code, post name) rows."""
    return db.session.execute(
        select(Finding, Post.code, post_name()).join(Post, Post.id == Finding.post_id)
        .where(sc.findings(), Finding.post_id == post_id)
        .order_by(Finding.period_start.desc(), Finding.rule, Finding.id)).all()


# ---- workshops ----------------------------------------------------------------------------------

def _roster_on(day: dt.date):
    return and_(WorkshopStaff.workshop_id == Workshop.id, WorkshopStaff.start_date <= day,
                or_(WorkshopStaff.end_date.is_(None), WorkshopStaff.end_date >= day))


def workshop_filters(sc: Scope) -> dict[str, list]:
    rows = options(Workshop.township, Workshop.village, where=sc.workshops())
    return {"townships": sorted({t for t, _ in rows if t}),
            "villages": sorted({(t or "", v) for t, v in rows if v})}


def _staff_counts(day: dt.date):
    """Distinct staff on the roster of the (outer) workshop on ``day``, and the poverty staff among them."""
    on = _roster_on(day)
    staff = select(func.count(distinct(WorkshopStaff.person_id))).where(on).scalar_subquery()
    poor = (select(func.count(distinct(WorkshopStaff.person_id)))
            .join(Person, Person.id == WorkshopStaff.person_id)
            .where(on, Person.category_mask.op("&")(POVERTY_MASK) != 0).scalar_subquery())
    return staff.label("staff"), poor.label("poor")


def workshops(sc: Scope, *, q: str = "", township: str = "", village: str = "", page: int = 1) -> Page:
    where = [sc.workshops()]
    q = nfkc(q or "")
    if q:
        where.append(or_(contains(Post.code, q), contains(Workshop.name, q),
                         contains(Workshop.operator, q)))
    if township:
        where.append(Workshop.township == township)
    if village:
        where.append(Workshop.village == village)
    fc = outstanding_violations(sc)
    stmt = (select(Workshop, Post.code, *_staff_counts(dt.date.today()),
                   func.coalesce(fc.c.n, 0).label("findings"))
            .join(Post, Post.id == Workshop.id).outerjoin(fc, fc.c.post_id == Workshop.id)
            .where(*where).order_by(Post.code))
    return paged(stmt, page, count=select(Workshop.id).join(Post, Post.id == Workshop.id).where(*where))


def workshop(sc: Scope, post_id: int):
    return db.session.execute(select(Workshop, Post.code).join(Post, Post.id == Workshop.id)
                              .where(Workshop.id == post_id, sc.workshops())).first()


def workshop_today(workshop_id: int):
    """(staff, poor) on the workshop's roster today."""
    return db.session.execute(select(*_staff_counts(dt.date.today())).where(Workshop.id == workshop_id)).one()


def roster(workshop_id: int) -> list:
    return db.session.execute(
        select(WorkshopStaff, Person).join(Person, Person.id == WorkshopStaff.person_id)
        .where(WorkshopStaff.workshop_id == workshop_id)
        .order_by(WorkshopStaff.end_date.is_not(None), WorkshopStaff.start_date, Person.name)).all()


@dataclass
class Figure:
    metric: str
    name: str
    money: bool
    reported: int | None  # × 100 (fen for money)
    computed: int  # × 100 (fen for money)

    @property
    def difference(self) -> int | None:
        return None if self.reported is None else self.reported - self.computed

    @property
    def differs(self) -> bool:
        return self.reported is not None and self.reported != self.computed


@dataclass
class MonthFigures:
    month: dt.date
    over: bool  # the month has ended
    figures: list[Figure]
    standard_fen: int
    eligible: int

    @property
    def differs(self) -> bool:
        return any(f.differs for f in self.figures)


def workshop_months(ws: Workshop) -> list[MonthFigures]:
    """Reported against computed figures, month by month (months with a report, a payment or
    attendance), following the metric definitions of ledger-format.md exactly:

    - poverty_headcount: staff of category 脱贫人口 / 防止返贫监测对象 on the roster on the month's last day;
    - total_headcount: all staff on the roster on the month's last day;
    - wages_total: the sum of the workshop's wages for that period;
    - subsidy_claimed: the subsidy standard (rule LM04's ``subsidy_per_person`` in force for the
      workshop's place and month) × the poverty staff on the roster every day of the month and of
      the two months before it.

    Headcounts use the engine's own subquery (``workshops.headcount``)."""
    from audit.engine.context import RunContext
    from audit.engine.rule import REGISTRY, all_rules
    from audit.engine.rules.workshops import headcount

    all_rules()
    ctx = RunContext(db.session.connection(), dt.date.today())
    ctx.rule = REGISTRY["LM04"]
    wid = ws.id
    a, w, r = Attendance, Wage, Report
    people = union(select(WorkshopStaff.person_id).where(WorkshopStaff.workshop_id == wid),
                   select(w.person_id).where(w.post_id == wid))
    months = union(select(r.period.label("month")).where(r.workshop_id == wid),
                   select(w.period).where(w.post_id == wid),
                   select(a.work_month).where(a.person_id.in_(people), a.post_id == wid)).subquery("months")
    m = months.c.month

    def reported(metric):
        return (select(r.value_x100).where(r.workshop_id == wid, r.period == m, r.metric == metric)
                .scalar_subquery().label(f"r_{metric}"))

    wages = func.coalesce(select(func.sum(w.amount_fen)).where(w.post_id == wid, w.period == m)
                          .scalar_subquery(), 0)
    standard = ctx.param("subsidy_per_person", district=literal(ws.district), township=literal(ws.township),
                         month=m)
    rows = db.session.execute(
        select(m.label("month"), *(reported(k) for k in METRICS),
               headcount(ctx, wid, m, poverty=True).label("c_poverty"),
               headcount(ctx, wid, m).label("c_total"),
               wages.label("c_wages"),
               headcount(ctx, wid, m, stable=True).label("eligible"),
               standard.label("standard"))
        .order_by(m.desc())).mappings().all()
    today = dt.date.today()
    out = []
    for row in rows:
        month = row["month"]
        if isinstance(month, str):  # SQLite's UNION of dates
            month = dt.date.fromisoformat(month)
        eligible, std = int(row["eligible"] or 0), int(row["standard"])
        computed = {"poverty_headcount": int(row["c_poverty"] or 0) * 100,
                    "total_headcount": int(row["c_total"] or 0) * 100,
                    "wages_total": int(row["c_wages"] or 0), "subsidy_claimed": std * eligible}
        figures = [Figure(k, name, k in MONEY_METRICS,
                          None if row[f"r_{k}"] is None else int(row[f"r_{k}"]), computed[k])
                   for k, name in METRICS.items()]
        out.append(MonthFigures(month, month_end(month) < today, figures, std, eligible))
    return out


