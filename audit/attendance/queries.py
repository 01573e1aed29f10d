"""Reading what the attendance pages show: an operator's units and their posts, the month grid
(who holds which post on which day, and the attendance already recorded), the unit's findings of a
month and the recent submissions. Every query is narrowed by the signed-in user's scope: a unit the
operator does not have answers ``None`` (the view turns that into 404)."""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, or_, select

from models import (
    Attendance,
    ChangeLog,
    Death,
    Finding,
    FindingStatus,
    Person,
    Placement,
    Position,
    Post,
    Workshop,
    WorkshopStaff,
    db,
    unit_display,
)

from ..access import scope

KINDS = {"employer": "用工单位", "workshop": "帮扶车间"}
SUBMIT_ACTION = "attendance.submit"


# ---- months ----------------------------------------------------------------------------------------

def parse_month(text: str | None) -> dt.date | None:
    """``YYYY-MM`` -> the first of that month; anything else -> None."""
    text = (text or "").strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return dt.date(year, month, 1)


def ym(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def month_zh(month: dt.date) -> str:
    return f"{month.year}年{month.month:02d}月"


def month_days(month: dt.date) -> list[dt.date]:
    n = calendar.monthrange(month.year, month.month)[1]
    return [month.replace(day=d) for d in range(1, n + 1)]


def month_end(month: dt.date) -> dt.date:
    return month_days(month)[-1]


def shift_month(month: dt.date, by: int) -> dt.date:
    i = month.year * 12 + month.month - 1 + by
    return dt.date(i // 12, i % 12 + 1, 1)


# ---- units ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PostInfo:
    id: int
    code: str
    title: str


@dataclass
class Unit:
    kind: str  # 'employer' / 'workshop'
    unit: str  # the employing unit's key (``models.unit_key``) / the workshop's code
    label: str
    posts: list[PostInfo] = field(default_factory=list)

    @property
    def post_ids(self) -> list[int]:
        return [p.id for p in self.posts]

    @property
    def kind_zh(self) -> str:
        return KINDS[self.kind]

    @property
    def ref(self) -> str:
        """How the change log names the unit (``employer:奉节县/白帝镇/白帝村村民委员会``)."""
        return f"{self.kind}:{self.unit}"


def _posts_of(kind: str, unit: str) -> tuple[str, list[PostInfo]]:
    s = scope()
    if kind == "employer":
        rows = db.session.execute(
            select(Post.id, Post.code, Position.title).join(Position, Position.id == Post.id)
            .where(Position.unit_key == unit, s.positions()).order_by(Post.code)).all()
        return unit_display(unit), [PostInfo(r.id, r.code, r.title) for r in rows]
    rows = db.session.execute(
        select(Post.id, Post.code, Workshop.name).join(Workshop, Workshop.id == Post.id)
        .where(Post.code == unit, s.workshops())).all()
    label = f"{rows[0].name}（{unit}）" if rows else unit
    return label, [PostInfo(r.id, r.code, r.name) for r in rows]


def find_unit(kind: str | None, unit: str | None) -> Unit | None:
    """The unit if it is one of the signed-in operator's units and has posts; else None."""
    if kind not in KINDS or not unit or (kind, unit) not in scope().units:
        return None
    label, posts = _posts_of(kind, unit)
    if not posts:
        return None
    return Unit(kind, unit, label, posts)


def my_units() -> list[Unit]:
    """Every unit of the operator's scope (a unit not in the ledgers yet has no posts)."""
    out = []
    for kind, unit in scope().units:
        label, posts = _posts_of(kind, unit)
        out.append(Unit(kind, unit, label, posts))
    return out


def months_with_attendance(unit: Unit) -> list[tuple[dt.date, int, int]]:
    """(month, people, rows) of every month with attendance on the unit's posts, newest first."""
    if not unit.post_ids:
        return []
    a = Attendance
    q = (select(a.work_month, func.count(func.distinct(a.person_id)), func.count())
         .where(a.post_id.in_(unit.post_ids), scope().posts(a.post_id))
         .group_by(a.work_month).order_by(a.work_month.desc()))
    return [(r[0], r[1], r[2]) for r in db.session.execute(q)]


# ---- the grid --------------------------------------------------------------------------------------

@dataclass
class GridRow:
    person_id: int
    name: str
    id_masked: str
    post_id: int
    post_code: str
    held: set[dt.date] = field(default_factory=set)  # the days of the month the person holds the post
    spans: list[tuple[dt.date, dt.date | None]] = field(default_factory=list)
    death_date: dt.date | None = None  # on the deaths list (民政/公安): no present day after it
    id_hash: str = ""  # the keyed hash of the ID number: a sheet with full ID numbers is matched by it

    @property
    def key(self) -> str:
        return f"{self.person_id}-{self.post_id}"

    @property
    def who(self) -> str:
        return f"{self.name}（{self.id_masked}）"

    def spans_text(self) -> str:
        return "、".join(f"{s.isoformat()} 至 {e.isoformat() if e else '今'}" for s, e in self.spans)

    def dead_on(self, day: dt.date) -> bool:
        """The day is after the person's death date (the deaths comparison list)."""
        return self.death_date is not None and day > self.death_date


@dataclass
class Grid:
    unit: Unit
    month: dt.date
    as_of: dt.date
    days: list[dt.date]
    rows: list[GridRow]
    # (person, post, day) -> (status, method)
    existing: dict[tuple[int, int, dt.date], tuple[str, str | None]]

    def row(self, person_id: int, post_id: int) -> GridRow | None:
        return self._index.get((person_id, post_id))

    def __post_init__(self):
        self._index = {(r.person_id, r.post_id): r for r in self.rows}

    @property
    def first(self) -> dt.date:
        return self.month

    @property
    def last(self) -> dt.date:
        return self.days[-1]

    @property
    def open_days(self) -> set[dt.date]:
        """Days that may be entered: not after the as-of date."""
        return {d for d in self.days if d <= self.as_of}


def _holding_table(unit: Unit):
    if unit.kind == "employer":
        return Placement, Placement.position_id
    return WorkshopStaff, WorkshopStaff.workshop_id


def load_grid(unit: Unit, month: dt.date, as_of: dt.date) -> Grid:
    days = month_days(month)
    first, last = days[0], days[-1]
    t, post_col = _holding_table(unit)
    q = (select(Person.id, Person.name, Person.id_masked, Person.id_hash, post_col.label("post_id"),
                Post.code, t.start_date, t.end_date)
         .join(Person, Person.id == t.person_id).join(Post, Post.id == post_col)
         .where(post_col.in_(unit.post_ids), scope().posts(post_col),
                t.start_date <= last, or_(t.end_date.is_(None), t.end_date >= first))
         .order_by(Post.code, Person.name, Person.id, t.start_date))
    rows: dict[tuple[int, int], GridRow] = {}
    for r in db.session.execute(q):
        row = rows.setdefault((r.id, r.post_id), GridRow(r.id, r.name, r.id_masked, r.post_id, r.code,
                                                              id_hash=r.id_hash))
        row.spans.append((r.start_date, r.end_date))
        lo, hi = max(r.start_date, first), min(r.end_date or last, last)
        row.held.update(d for d in days if lo <= d <= hi)
    if rows:
        person_ids = sorted({pid for pid, _ in rows})
        deaths = dict(db.session.execute(
            select(Person.id, Death.death_date).join(Death, Death.id_hash == Person.id_hash)
            .where(Person.id.in_(person_ids))).all())
        for (pid, _), row in rows.items():
            row.death_date = deaths.get(pid)
    a = Attendance
    existing = {
        (r.person_id, r.post_id, r.work_date): (r.status, r.method)
        for r in db.session.execute(
            select(a.person_id, a.post_id, a.work_date, a.status, a.method)
            .where(a.post_id.in_(unit.post_ids), a.work_month == first))
    }
    return Grid(unit, month, as_of, days, list(rows.values()), existing)


def holders_by_person(unit: Unit, person_ids: set[int]) -> dict[int, str]:
    """Names (with masked ID) of people who hold or held one of the unit's posts at any time, to
    name them in a message; people outside the unit stay unnamed."""
    if not person_ids:
        return {}
    t, post_col = _holding_table(unit)
    q = (select(Person.id, Person.name, Person.id_masked).distinct()
         .join(t, t.person_id == Person.id)
         .where(post_col.in_(unit.post_ids), Person.id.in_(sorted(person_ids))))
    return {r.id: f"{r.name}（{r.id_masked}）" for r in db.session.execute(q)}


# ---- findings and submissions ---------------------------------------------------------------------

def unit_findings(unit: Unit, month: dt.date) -> list[Finding]:
    """The unit's findings whose months include this month (``periods`` is a JSON list of
    ``YYYY-MM``: a LIKE on its text works on SQLite and PostgreSQL alike)."""
    q = (select(Finding).where(scope().findings(), Finding.unit == unit.unit,
                               cast(Finding.periods, String).like(f'%"{ym(month)}"%'))
         .order_by(Finding.status == FindingStatus.RESOLVED, Finding.severity, Finding.rule, Finding.id))
    return list(db.session.scalars(q))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def recent_submissions(units: list[Unit], limit: int = 10) -> list[ChangeLog]:
    if not units:
        return []
    # the ref is "<kind>:<unit>:YYYY-MM": the unit's prefix and exactly seven characters more
    conds = [ChangeLog.row_ref.like(_like_escape(u.ref) + ":____-__", escape="\\") for u in units]
    q = (select(ChangeLog).where(ChangeLog.action == SUBMIT_ACTION, ChangeLog.table_name == "attendance",
                                 or_(*conds))
         .order_by(ChangeLog.at.desc(), ChangeLog.id.desc()).limit(limit))
    return list(db.session.scalars(q))


def current_statuses(grid: Grid) -> dict[tuple[int, int, dt.date], str]:
    """The attendance of the grid's posts and month as stored now (read again at save time)."""
    a = Attendance
    q = select(a.person_id, a.post_id, a.work_date, a.status).where(
        a.post_id.in_(grid.unit.post_ids), a.work_month == grid.month)
    return {(r.person_id, r.post_id, r.work_date): r.status for r in db.session.execute(q)}

