"""The queries of the browsing pages. Every one is narrowed by the signed-in user's scope
(``audit.access.Scope``): an object outside it is simply not found (the view answers 404).

Figures (days present, wage due, wages paid, headcounts, subsidies, counts per status) come from
set-based GROUP BY queries; Python only lays out what the database counted. The workshop's
computed figures use the audit engine's own definitions (``audit.engine.rules.workshops``), so the
page and rules LM01–LM04 always agree.

The positions' and workshops' queries are in ``posts.py``, the imports' and runs' in ``history.py``.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Text, and_, cast, func, literal, or_, select

from audit.access import Scope
from audit.engine.rule import VIOLATIONS
from audit.ledger.values import name_key, nfkc
from audit.paging import Page, paged
from audit.vocab import ATTENDANCE_STATUS
from models import (
    Attendance,
    AuditRun,
    Business,
    Death,
    Finding,
    Household,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Post,
    SocialInsurance,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)


def like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains(col, text: str):
    return col.like(like(text), escape="\\")


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def outstanding_violations(sc: Scope):
    """Outstanding (active: ``Finding.is_active``) violation findings in scope, per post: a subquery
    (post_id, n)."""
    return (select(Finding.post_id, func.count().label("n"))
            .where(sc.findings(), Finding.post_id.is_not(None), Finding.is_active,
                   Finding.category.in_(sorted(VIOLATIONS)))
            .group_by(Finding.post_id).subquery("outstanding"))


def options(*cols, where) -> list[tuple]:
    return [tuple(r) for r in db.session.execute(select(*cols).where(where).distinct().order_by(*cols))]


# ---- persons ------------------------------------------------------------------------------------

_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


def person_filters(sc: Scope) -> dict[str, list]:
    rows = options(Person.township, Person.village, where=sc.persons())
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
        where.append(or_(contains(Person.name, q), contains(Person.name_key, name_key(q))))
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
        officials = list(db.session.scalars(select(Official)
                                            .where(Official.household_id == p.household_id, sc.officials())
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
        select(a.post_id, _post_label(Post.id, Post.code).label("code"), a.work_date, a.status,
               a.check_in_time, a.method, a.verified)
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
    last = month_end(first)
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


def post_name():
    """A post's name (a position's title, a workshop's name) for a finding's post."""
    return func.coalesce(select(Position.title).where(Position.id == Finding.post_id).scalar_subquery(),
                         select(Workshop.name).where(Workshop.id == Finding.post_id).scalar_subquery())


def person_findings(sc: Scope, pid: int) -> list:
    """The person's findings in scope, as (finding, post code, post name) rows."""
    return db.session.execute(
        select(Finding, Post.code, post_name()).outerjoin(Post, Post.id == Finding.post_id)
        .where(sc.findings(), _names_person(pid))
        .order_by(Finding.period_start.desc(), Finding.rule, Finding.id)).all()
