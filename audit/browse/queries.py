"""The queries of the browsing pages. Every one is narrowed by the signed-in user's scope
(``audit.access.Scope``): an object outside it is simply not found (the view answers 404).

Figures (days present, wage due, wages paid, headcounts, subsidies, counts per status) come from
set-based GROUP BY queries; Python only lays out what the database counted. The workshop's
computed figures use the audit engine's own definitions (``audit.engine.rules.workshops``), so the
page and rules LM01–LM04 always agree.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Text, and_, case, cast, distinct, func, literal, or_, select, true, union
from sqlalchemy.sql import Select

from audit.access import Scope
from audit.engine.rule import VIOLATIONS
from audit.ledger.values import name_key, nfkc
from audit.vocab import ATTENDANCE_STATUS, METRICS, MONEY_METRICS, POVERTY_MASK
from models import (
    Attendance,
    AuditRun,
    Business,
    ChangeLog,
    Death,
    Finding,
    Household,
    ImportBatch,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Post,
    Report,
    SocialInsurance,
    SummaryCount,
    SummaryMoney,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

PER_PAGE = 50
# A finding in one of these states needs nothing more; the others are outstanding.
SETTLED = ("dismissed", "resolved", "closed")


# ---- paging -------------------------------------------------------------------------------------

@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def paged(stmt: Select, page: int, *, count: Select | None = None, per_page: int = PER_PAGE,
          scalars: bool = False) -> Page:
    """One page of ``stmt``; ``count`` (a statement over the same rows without the costly columns)
    gives the total."""
    base = (count if count is not None else stmt).order_by(None)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    result = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page))
    items = list(result.scalars()) if scalars else list(result)
    return Page(items, total, page, per_page)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(col, text: str):
    return col.like(_like(text), escape="\\")


def _month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _outstanding_violations(sc: Scope):
    """Outstanding violation findings in scope, per post: a subquery (post_id, n)."""
    return (select(Finding.post_id, func.count().label("n"))
            .where(sc.findings(), Finding.post_id.is_not(None), Finding.status.not_in(SETTLED),
                   Finding.category.in_(sorted(VIOLATIONS)))
            .group_by(Finding.post_id).subquery("outstanding"))


def _options(*cols, where) -> list[tuple]:
    return [tuple(r) for r in db.session.execute(select(*cols).where(where).distinct().order_by(*cols))]


# ---- persons ------------------------------------------------------------------------------------

_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


def person_filters(sc: Scope) -> dict[str, list]:
    rows = _options(Person.township, Person.village, where=sc.persons())
    return {"townships": sorted({t for t, _ in rows if t}),
            "villages": sorted({(t or "", v) for t, v in rows if v})}


def id_query_hash(q: str) -> str | None:
    """The keyed hash of a query that is a full ID number (the database holds no ID number in
    clear), or None for a name."""
    idn = nfkc(q or "").strip().upper()
    return current_app.extensions["pii"].digest(idn) if _ID_SHAPE.match(idn) else None


def persons(sc: Scope, *, q: str = "", idh: str = "", township: str = "", village: str = "",
            page: int = 1) -> Page:
    """People in scope; ``q`` is a name (or part of one), ``idh`` the keyed hash of a full ID number."""
    where = [sc.persons()]
    q = nfkc(q or "")
    if idh:
        where.append(Person.id_hash == idh)
    elif q:
        where.append(or_(_contains(Person.name, q), _contains(Person.name_key, name_key(q))))
    if township:
        where.append(Person.township == township)
    if village:
        where.append(Person.village == village)
    holdings = (select(func.count()).select_from(Placement).where(Placement.person_id == Person.id,
                                                                  sc.posts(Placement.position_id))
                .scalar_subquery()
                + select(func.count()).select_from(WorkshopStaff).where(WorkshopStaff.person_id == Person.id,
                                                                         sc.posts(WorkshopStaff.workshop_id))
                .scalar_subquery())
    stmt = (select(Person, holdings.label("holdings")).where(*where)
            .order_by(Person.district, Person.township, Person.village, Person.name, Person.id))
    return paged(stmt, page, count=select(Person.id).where(*where))


def person(sc: Scope, pid: int) -> Person | None:
    return db.session.scalar(select(Person).where(Person.id == pid, sc.persons()))


@dataclass
class Calendar:
    post_id: int
    code: str
    month: dt.date
    weeks: list[list[dict | None]]
    counts: dict[str, int]
    recorded: int


@dataclass
class PersonFile:
    person: Person
    household: str | None
    members: list[Person]
    members_hidden: int
    household_officials: list
    placements: list
    staff: list
    months: list[dt.date]
    month: dt.date | None
    calendars: list[Calendar]
    wages: list
    wages_total: int
    comparison: dict[str, list]
    findings: list
    compared: dict  # the lists the latest audit run compared the person against (``compared_lists``)


def person_file(sc: Scope, p: Person, month: dt.date | None) -> PersonFile:
    pid = p.id
    household, members, hidden, officials = None, [], 0, []
    if p.household_id is not None:
        household = db.session.scalar(select(Household.code).where(Household.id == p.household_id))
        same = and_(Person.household_id == p.household_id, Person.id != pid)
        members = list(db.session.scalars(select(Person).where(same, sc.persons())
                                          .order_by(Person.birth_date)))
        everyone = db.session.scalar(select(func.count()).select_from(Person).where(same)) or 0
        hidden = everyone - len(members)
        # cadres of the household in the reader's regions (as in findings' evidence: audit.findings.evidence)
        seen = true() if sc.everything or sc.units else sc.region(Official.district, Official.township,
                                                                   Official.village)
        officials = list(db.session.scalars(select(Official).where(Official.household_id == p.household_id, seen)
                                            .order_by(Official.name)))

    placements = db.session.execute(
        select(Placement, Position, Post.code)
        .join(Position, Position.id == Placement.position_id).join(Post, Post.id == Position.id)
        .where(Placement.person_id == pid, sc.posts(Placement.position_id))
        .order_by(Placement.start_date.desc())).all()
    staff = db.session.execute(
        select(WorkshopStaff, Workshop, Post.code)
        .join(Workshop, Workshop.id == WorkshopStaff.workshop_id).join(Post, Post.id == Workshop.id)
        .where(WorkshopStaff.person_id == pid, sc.posts(WorkshopStaff.workshop_id))
        .order_by(WorkshopStaff.start_date.desc())).all()

    mine = and_(Attendance.person_id == pid, sc.posts(Attendance.post_id))
    months = list(db.session.scalars(select(Attendance.work_month).where(mine).distinct()
                                     .order_by(Attendance.work_month.desc())))
    if month is None and months:
        month = months[0]
    calendars = attendance_calendars(pid, month, mine) if month else []

    wages = db.session.execute(
        select(Wage, _post_label(Post.id, Post.code)).join(Post, Post.id == Wage.post_id)
        .where(Wage.person_id == pid, sc.posts(Wage.post_id))
        .order_by(Wage.period.desc(), Wage.paid_on.desc(), Wage.id)).all()
    wages_total = db.session.scalar(select(func.coalesce(func.sum(Wage.amount_fen), 0))
                                    .where(Wage.person_id == pid, sc.posts(Wage.post_id))) or 0

    lists = comparison(p.id_hash)
    return PersonFile(p, household, members, hidden, officials, placements, staff, months, month, calendars,
                      wages, int(wages_total), lists, person_findings(sc, pid), compared_lists(lists))


def _post_label(post_id, code):
    """「保洁员（GW-001）」 in SQL: a post's name with its code beside it (the code alone if it has none)."""
    name = func.coalesce(select(Position.title).where(Position.id == post_id).scalar_subquery(),
                         select(Workshop.name).where(Workshop.id == post_id).scalar_subquery())
    return func.coalesce(name + literal("（") + code + literal("）"), code)


def wage_accounts(sc: Scope, pid: int) -> dict[int, str]:
    """The encrypted accounts of the person's wage rows in scope (for the logged unmasked view)."""
    return dict(db.session.execute(select(Wage.id, Wage.account_enc)
                                   .where(Wage.person_id == pid, sc.posts(Wage.post_id))).all())


def attendance_calendars(pid: int, month: dt.date, mine) -> list[Calendar]:
    """One month grid per post (Monday first), with the counts per status from a GROUP BY."""
    a = Attendance
    rows = db.session.execute(
        select(a.post_id, _post_label(Post.id, Post.code).label("code"), a.work_date, a.status, a.check_in_time,
               a.method, a.verified)
        .join(Post, Post.id == a.post_id).where(mine, a.work_month == month)
        .order_by(Post.code, a.work_date)).all()
    counts: dict[int, dict[str, int]] = {}
    for post_id, status, n in db.session.execute(
            select(a.post_id, a.status, func.count()).where(mine, a.work_month == month)
            .group_by(a.post_id, a.status)):
        counts.setdefault(post_id, {})[status] = n
    days: dict[int, dict[dt.date, Any]] = {}
    codes: dict[int, str] = {}
    for r in rows:
        days.setdefault(r.post_id, {})[r.work_date] = r
        codes[r.post_id] = r.code
    out = []
    first = month.replace(day=1)
    last = _month_end(first)
    for post_id in sorted(days, key=lambda i: codes[i]):
        cells: list[dict | None] = [None] * first.weekday()
        d = first
        while d <= last:
            r = days[post_id].get(d)
            title = d.isoformat()
            if r is not None:
                parts = (r.status, r.check_in_time.strftime("%H:%M") if r.check_in_time else None, r.method,
                         f"核验{r.verified}" if r.verified else None)
                title += "".join(f" {x}" for x in parts if x)
            else:
                title += " 无记录"
            cells.append({"day": d.day, "status": r.status if r is not None else None, "title": title,
                          "weekend": d.weekday() >= 5})
            d += dt.timedelta(days=1)
        cells += [None] * (-len(cells) % 7)
        weeks = [cells[i:i + 7] for i in range(0, len(cells), 7)]
        c = counts.get(post_id, {})
        ordered = {s: c.get(s, 0) for s in ATTENDANCE_STATUS}
        ordered.update({s: n for s, n in c.items() if s not in ordered})
        out.append(Calendar(post_id, codes[post_id], first, weeks, ordered, sum(c.values())))
    return out


def comparison(id_hash: str) -> dict[str, list]:
    """The other departments' lists that name this person (joined on the keyed hash)."""
    si = db.session.execute(
        select(SocialInsurance.employer, SocialInsurance.employer_credit_code,
               func.min(SocialInsurance.period).label("first"),
               func.max(SocialInsurance.period).label("last"),
               func.count().label("months"))
        .where(SocialInsurance.id_hash == id_hash)
        .group_by(SocialInsurance.employer, SocialInsurance.employer_credit_code)
        .order_by(func.max(SocialInsurance.period).desc())).all()
    return {
        "deaths": list(db.session.scalars(select(Death).where(Death.id_hash == id_hash))),
        "social_insurance": si,
        "pensions": list(db.session.scalars(select(Pension).where(Pension.id_hash == id_hash)
                                            .order_by(Pension.since))),
        "businesses": list(db.session.scalars(select(Business).where(Business.id_hash == id_hash)
                                              .order_by(Business.registered_on))),
        "officials": list(db.session.scalars(select(Official).where(Official.id_hash == id_hash)
                                             .order_by(Official.role))),
        "migrant_work": list(db.session.scalars(select(MigrantWork).where(MigrantWork.id_hash == id_hash)
                                                .order_by(MigrantWork.start_date.desc()))),
    }


def compared_lists(lists: dict[str, list]) -> dict[str, Any]:
    """The comparison lists as the latest finished audit run held them (audit/engine/coverage.py: each
    list's data date, whether it was provided at all, whether it was stale), with the person's own
    records in each (``lists``: ``comparison``'s rows, found by the person's ID hash alone)."""
    from audit.engine import coverage

    run = db.session.scalars(select(AuditRun).where(AuditRun.status == "finished")
                             .order_by(AuditRun.id.desc()).limit(1)).first()
    cov = (run.summary or {}).get("coverage") if run else None
    shown = coverage.rows(cov, "lists") if cov else [
        {"table": t, "name": zh, "held": None, "data_date": None, "stale": False, "state": "—"}
        for t, zh in coverage.LIST_NAMES.items()]
    for x in shown:
        mine = lists.get(x["table"]) or []
        x["records"] = sum(r.months for r in mine) if x["table"] == "social_insurance" else len(mine)
    return {"run": run, "recorded": bool(cov), "lists": shown}


def _names_person(pid: int):
    """``pid`` is the finding's person, or one of its ``person_ids`` (a JSON list: its text with
    spaces removed and brackets turned into commas contains ``,pid,`` — on SQLite and PostgreSQL)."""
    text = cast(Finding.person_ids, Text)
    for old, new in ((" ", ""), ("[", ","), ("]", ",")):
        text = func.replace(text, old, new)
    return or_(Finding.person_id == pid, text.like(f"%,{int(pid)},%"))


def _post_name():
    """A post's name (a position's title, a workshop's name) for a finding's post."""
    return func.coalesce(select(Position.title).where(Position.id == Finding.post_id).scalar_subquery(),
                         select(Workshop.name).where(Workshop.id == Finding.post_id).scalar_subquery())


def person_findings(sc: Scope, pid: int) -> list:
    """The person's findings in scope, as (finding, post code, post name) rows."""
    return db.session.execute(
        select(Finding, Post.code, _post_name()).outerjoin(Post, Post.id == Finding.post_id)
        .where(sc.findings(), _names_person(pid))
        .order_by(Finding.period_start.desc(), Finding.rule, Finding.id)).all()


# ---- positions ----------------------------------------------------------------------------------

def _current_holder(today: dt.date, col):
    cur = and_(Placement.position_id == Position.id, Placement.start_date <= today,
               or_(Placement.end_date.is_(None), Placement.end_date >= today))
    return (select(col).select_from(Placement).join(Person, Person.id == Placement.person_id).where(cur)
            .order_by(Placement.start_date.desc(), Placement.id.desc()).limit(1).scalar_subquery())


def position_filters(sc: Scope) -> dict[str, list]:
    rows = _options(Position.kind, Position.township, Position.village, Position.employer,
                    where=sc.positions())
    return {"kinds": sorted({r[0] for r in rows}), "townships": sorted({r[1] for r in rows if r[1]}),
            "villages": sorted({(r[1] or "", r[2]) for r in rows if r[2]}),
            "employers": sorted({r[3] for r in rows})}


def positions(sc: Scope, *, q: str = "", kind: str = "", township: str = "", village: str = "",
              employer: str = "", page: int = 1) -> Page:
    where = [sc.positions()]
    q = nfkc(q or "")
    if q:
        where.append(or_(_contains(Post.code, q), _contains(Position.title, q),
                         _contains(Position.employer, q)))
    for col, value in ((Position.kind, kind), (Position.township, township), (Position.village, village),
                       (Position.employer, employer)):
        if value:
            where.append(col == value)
    today = dt.date.today()
    fc = _outstanding_violations(sc)
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
        select(Finding, Post.code, _post_name()).join(Post, Post.id == Finding.post_id)
        .where(sc.findings(), Finding.post_id == post_id)
        .order_by(Finding.period_start.desc(), Finding.rule, Finding.id)).all()


# ---- workshops ----------------------------------------------------------------------------------

def _roster_on(day: dt.date):
    return and_(WorkshopStaff.workshop_id == Workshop.id, WorkshopStaff.start_date <= day,
                or_(WorkshopStaff.end_date.is_(None), WorkshopStaff.end_date >= day))


def workshop_filters(sc: Scope) -> dict[str, list]:
    rows = _options(Workshop.township, Workshop.village, where=sc.workshops())
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
        where.append(or_(_contains(Post.code, q), _contains(Workshop.name, q),
                         _contains(Workshop.operator, q)))
    if township:
        where.append(Workshop.township == township)
    if village:
        where.append(Workshop.village == village)
    fc = _outstanding_violations(sc)
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

    Headcounts use the engine's own subquery (``workshops._headcount``)."""
    from audit.engine.context import RunContext
    from audit.engine.rule import REGISTRY, all_rules
    from audit.engine.rules.workshops import _headcount

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
               _headcount(ctx, wid, m, poverty=True).label("c_poverty"),
               _headcount(ctx, wid, m).label("c_total"),
               wages.label("c_wages"),
               _headcount(ctx, wid, m, stable=True).label("eligible"),
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
        out.append(MonthFigures(month, _month_end(month) < today, figures, std, eligible))
    return out


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
    from audit.findings import summary
    from audit.findings.money import money_by

    built = summary.current(db.session)
    if built is not None:  # the findings' summary (audit/findings/summary.py)
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
    money = dict(money_by(db.session, s, Finding.last_run_id == run_id, group=Finding.category))  # counted once
    by_cat = {c: (int(n), int(money.get(c, 0))) for c, n in db.session.execute(
        select(Finding.category, func.count()).where(s, Finding.last_run_id == run_id).group_by(Finding.category))}
    by_rule = dict(db.session.execute(select(Finding.rule, func.count()).where(s, Finding.last_run_id == run_id)
                                      .group_by(Finding.rule)).all())
    new = db.session.scalar(select(func.coalesce(func.sum(case((Finding.first_run_id == run_id, 1), else_=0)), 0))
                            .where(s, Finding.last_run_id == run_id))
    return {"by_category": by_cat, "by_rule": by_rule, "total": sum(n for n, _ in by_cat.values()),
            "new": int(new or 0)}
