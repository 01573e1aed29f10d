"""Queries over findings, always narrowed by the signed-in user's scope (one place for the
findings domain of the web application). The dashboard's figures are in ``figures.py``."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from flask import current_app
from sqlalchemy import Text, and_, cast, desc, func, or_, select
from sqlalchemy.sql import ColumnElement

from models import (
    ACTIVE_FINDING,
    FINDING_STATUSES,
    ChangeLog,
    Finding,
    FindingAlias,
    ImportBatch,
    Person,
    Position,
    Post,
    SummaryCount,
    SummaryMoney,
    Workshop,
    db,
    unit_display,
)

from ..access import not_found_in_scope, scope
from ..engine import summary
from ..engine.money import overlap_note, overlaps, total_fen
from ..engine.rule import CATEGORIES, REGISTRY, VIOLATIONS, all_rules

STATUS_CHOICES = {"active": "待处理（待复核＋已确认）", **FINDING_STATUSES, "all": "全部状态"}
SORTS = {"period": "按月份（新→旧）", "amount": "按金额（大→小）", "rule": "按规则"}
PER_PAGE = 50
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass
class Filters:
    category: str = ""
    rule: str = ""
    severity: str = ""
    district: str = ""
    township: str = ""
    unit: str = ""
    status: str = "active"
    period: str = ""  # YYYY-MM or YYYY-MM:YYYY-MM
    post: str = ""  # a post code
    person: str = ""  # a persons.id
    sort: str = "period"

    @classmethod
    def from_args(cls, args) -> Filters:
        f = cls(**{k.name: (args.get(k.name) or "").strip()[:128] for k in fields(cls) if args.get(k.name)})
        if f.status not in STATUS_CHOICES:
            f.status = "active"
        if f.sort not in SORTS:
            f.sort = "period"
        if f.category and f.category not in CATEGORIES:
            f.category = ""
        if f.person and not f.person.isdigit():
            f.person = ""
        if f.period and not _months(f.period):
            f.period = ""
        return f

    def args(self, **change) -> dict[str, str]:
        """The query string of these filters (with changes), empty values left out."""
        d = {**asdict(self), **change}
        return {k: v for k, v in d.items() if v and not (k == "status" and v == "active")
                and not (k == "sort" and v == "period")}


def _months(period: str) -> list[str] | None:
    """``2025-03`` -> [2025-03]; ``2025-01:2025-03`` -> the three months (at most 60)."""
    a, _, b = period.partition(":")
    b = b or a
    if not (_MONTH.match(a) and _MONTH.match(b)) or b < a:
        return None
    out, (y, m) = [], map(int, a.split("-"))
    while f"{y:04d}-{m:02d}" <= b and len(out) < 60:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def json_list_has_str(col, value: str) -> ColumnElement[bool]:
    """A JSON list column holding the string ``value`` (text match: same on SQLite and PostgreSQL)."""
    return cast(col, Text).like(f'%"{value}"%')


def json_list_has_int(col, n: int) -> ColumnElement[bool]:
    text = cast(col, Text)
    return or_(text.like(f"[{n}]"), text.like(f"[{n},%"), text.like(f"%, {n},%"), text.like(f"%, {n}]"),
               text.like(f"%,{n},%"), text.like(f"%,{n}]"))


def where(f: Filters) -> list[ColumnElement[bool]]:
    w = [scope().findings()]
    if f.status == "active":
        w.append(Finding.is_active)
    elif f.status != "all":
        w.append(Finding.status == f.status)
    for name in ("category", "rule", "severity", "district", "township", "unit"):
        value = getattr(f, name)
        if value:
            w.append(getattr(Finding, name) == value)
    if f.period:
        w.append(or_(*[json_list_has_str(Finding.periods, m) for m in _months(f.period)]))
    if f.post:
        w.append(Finding.post_id == select(Post.id).where(Post.code == f.post).scalar_subquery())
    if f.person:
        pid = int(f.person)
        w.append(or_(Finding.person_id == pid, json_list_has_int(Finding.person_ids, pid)))
    return w


COUNT_CAP = 10_000  # a count over findings the summary cannot give stops here (「10,000+」)
_NO_DAY = dt.date(1, 1, 1)


def _sort_keys(sort: str) -> list[tuple[ColumnElement, bool]]:
    """The list's order as (expression, descending), the finding id last: the same on SQLite and
    PostgreSQL (no month or no amount sorts last), and a key a next page can start after."""
    day = func.coalesce(Finding.period_start, _NO_DAY)
    fen = func.coalesce(Finding.amount_at_risk_fen, -1)
    keys = {"period": [(day, True), (fen, True)], "amount": [(fen, True), (day, True)],
            "rule": [(Finding.rule, False), (day, True)]}[sort]
    return [*keys, (Finding.id, False)]


def _key_values(sort: str, r) -> list:
    day, fen = r.period_start or _NO_DAY, -1 if r.amount_at_risk_fen is None else r.amount_at_risk_fen
    return {"period": [day, fen], "amount": [fen, day], "rule": [r.rule, day]}[sort] + [r.id]


def encode_after(sort: str, r) -> str:
    """The key of a page's last row, for the next page's link: 「2025-03-01~12000~<id>」."""
    return "~".join(v.isoformat() if isinstance(v, dt.date) else str(v) for v in _key_values(sort, r))


def _decode_after(sort: str, text: str) -> list | None:
    parts = (text or "").split("~")
    if len(parts) != 3:
        return None
    try:
        kinds = {"period": ("day", "int"), "amount": ("int", "day"), "rule": ("str", "day")}[sort]
        out = [dt.date.fromisoformat(v) if k == "day" else int(v) if k == "int" else v[:8]
               for k, v in zip(kinds, parts, strict=False)]  # parts[2], the id, is read below
    except ValueError:
        return None
    return [*out, parts[2][:32]]


def _after(keys: list[tuple[ColumnElement, bool]], values: list) -> ColumnElement[bool]:
    """Rows after ``values`` in the order of ``keys``."""
    return or_(*[and_(*[keys[j][0] == values[j] for j in range(i)], e < values[i] if desc_ else e > values[i])
                 for i, (e, desc_) in enumerate(keys)])


def summary_stamp() -> tuple | None:
    """(run, when written) of the findings' summary (audit/engine/summary.py), once per request;
    None: count live."""
    from flask import g

    if "summary_stamp" not in g:
        g.summary_stamp = summary.stamp(db.session)
    return g.summary_stamp


def summary_run() -> int | None:
    stamp = summary_stamp()
    return stamp[0] if stamp is not None else None


KEPT = 256  # figures kept per kind (below), in this process


def kept_value(kind: str, key: tuple, make):
    """``make()``, kept by the application (one per process) under ``key``. The summary's figures
    change only when the summary is written (its stamp) or an import renames a unit: keyed by
    both, and by the scope, they are read from the database once, not on every page."""
    kept: dict[tuple, Any] = current_app.extensions.setdefault(f"kept_{kind}", {})
    key = (*key, db.session.scalar(select(func.max(ImportBatch.id))), scope())
    value = kept.get(key)
    if value is None:
        if len(kept) >= KEPT:
            kept.clear()
        value = kept[key] = make()
    return value


def _by_summary(f: Filters) -> bool:
    """The list's total and money can be read from the summary: no filter on months, posts or people."""
    return summary_run() is not None and not (f.period or f.post or f.person)


def _summary_where(of, f: Filters, *, status: bool = True) -> list[ColumnElement[bool]]:
    w = [scope().findings(of)]
    for name in ("district", "township", "unit"):
        if getattr(f, name):
            w.append(getattr(of, name) == getattr(f, name))
    if status and f.status == "active":
        w.append(of.status.in_(ACTIVE_FINDING))
    elif status and f.status != "all":
        w.append(of.status == f.status)
    return w


def _summary_total(f: Filters) -> tuple[int, int]:
    """(findings, fen) of the list's filters from the summary."""
    sc, sm = SummaryCount, SummaryMoney
    cw = _summary_where(sc, f)
    for name in ("category", "rule", "severity"):
        if getattr(f, name):
            cw.append(getattr(sc, name) == getattr(f, name))
    n = db.session.scalar(select(func.coalesce(func.sum(sc.n), 0)).where(*cw))
    prefix = f.status if f.status in ("active", "all") else "status"
    # a severity, or one status with a category or a rule, is no basis of the summary's money
    if not f.severity and not (prefix == "status" and (f.category or f.rule)):
        basis = prefix + (":rule" if f.rule else ":category" if f.category else "")
        mw = [sm.basis == basis, *_summary_where(sm, f, status=prefix == "status")]
        for name in ("category", "rule"):
            if getattr(f, name):
                mw.append(getattr(sm, name) == getattr(f, name))
        fen = db.session.scalar(select(func.coalesce(func.sum(sm.fen), 0)).where(*mw))
    else:
        fen = total_fen(db.session, *where(f))
    return int(n or 0), int(fen or 0)


def listing(f: Filters, after: str | None = None) -> tuple[list, int, bool, int, str | None]:
    """(the findings of a page, after the row whose key is ``after``, with their people's and posts'
    names; the total, whether it is capped at ``COUNT_CAP``; the amount in fen: the findings' money
    with each payment counted once; the key the next page starts after, or None on the last page)."""
    w = where(f)
    if _by_summary(f):
        total, amount = _summary_total(f)
        capped = False
    else:
        total = db.session.scalar(select(func.count()).select_from(
            select(Finding.id).where(*w).limit(COUNT_CAP + 1).subquery()))
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
        amount = total_fen(db.session, *w)
    keys = _sort_keys(f.sort)
    start = _decode_after(f.sort, after) if after else None
    order = [desc(e) if d else e for e, d in keys]
    # the page's ids from the findings alone (sorted, cut), then their names: the joins for 51 rows only
    ids = (select(Finding.id).where(*w, *([_after(keys, start)] if start else [])).order_by(*order)
           .limit(PER_PAGE + 1).subquery("page"))
    q = (select(Finding.id, Finding.rule, Finding.category, Finding.severity, Finding.title,
                Finding.subject_type, Finding.subject_label, Finding.periods, Finding.amount_at_risk_fen,
                Finding.status, Finding.unit, Finding.district, Finding.township, Finding.village,
                Finding.person_id, Finding.period_start,
                Post.code.label("post_code"),
                func.coalesce(Position.title, Workshop.name).label("post_title"))
         .select_from(ids).join(Finding, Finding.id == ids.c.id)
         .outerjoin(Post, Post.id == Finding.post_id).outerjoin(Position, Position.id == Finding.post_id)
         .outerjoin(Workshop, Workshop.id == Finding.post_id).order_by(*order))
    rows = db.session.execute(q).all()
    more = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    people = person_names({r.person_id for r in rows if r.person_id})
    units = unit_names({r.unit for r in rows if r.unit})
    out = [Row(**{k: v for k, v in r._asdict().items() if k != "period_start"},
               person=people.get(r.person_id), unit_name=units.get(r.unit, r.unit)) for r in rows]
    return out, int(total or 0), capped, int(amount), encode_after(f.sort, rows[-1]) if more else None


@dataclass
class Row:
    """A finding of the list, with the names a reader reads."""

    id: str
    rule: str
    category: str
    severity: str
    title: str
    subject_type: str
    subject_label: str
    periods: list
    amount_at_risk_fen: int | None
    status: str
    unit: str | None
    district: str | None
    township: str | None
    village: str | None
    person_id: int | None
    post_code: str | None
    post_title: str | None
    person: dict | None
    unit_name: str | None

    @property
    def post_name(self) -> str | None:
        return post_label(self.post_code, self.post_title)

    @property
    def subject(self) -> str:
        return subject_text(self.subject_type, self.subject_label, self.person, self.post_title)


# ---- names for people -----------------------------------------------------------------------------

def post_label(code: str | None, title: str | None) -> str | None:
    """「保洁员（FJ-BD-001）」: a post by its name, the code beside it."""
    if not code:
        return None
    return f"{title}（{code}）" if title else code


def subject_text(subject_type: str, label: str, person: dict | None, post_title: str | None = None) -> str:
    """What a finding is about, as people read it: a person's name with the masked ID beside it, a
    workshop's name with its code, a household by its number."""
    if subject_type == "person" and person:
        return f"{person['name']}（{person['id_masked']}）"
    if subject_type == "workshop" and post_title:
        return f"{post_title}（{label}）"
    if subject_type == "household":
        return f"户 {label}"
    return label


def person_names(ids: set[int]) -> dict[int, dict]:
    """``{person id: {"id", "name", "id_masked"}}`` of the people the signed-in user may see."""
    if not ids:
        return {}
    rows = db.session.execute(select(Person.id, Person.name, Person.id_masked)
                              .where(Person.id.in_(sorted(ids)), scope().persons()))
    return {i: {"id": i, "name": n, "id_masked": m} for i, n, m in rows}


def unit_names(units: Iterable[str]) -> dict[str, str]:
    """``{unit: name}``, the one way a unit reads for people: a workshop (its unit is its code) as its
    name and code (``白帝服装车间（CJ-001）``); an employing unit (its key, ``models.unit_key``) as
    ``models.unit_display`` reads it (``白帝镇白帝村村民委员会``)."""
    units = {u for u in units if u}
    if not units:
        return {}
    rows = db.session.execute(select(Post.code, Workshop.name).join(Workshop, Workshop.id == Post.id)
                              .where(Post.code.in_(sorted(units))))
    names = {u: unit_display(u) for u in units}
    names.update({code: f"{name}（{code}）" for code, name in rows})
    return names


def unit_name(unit: str | None) -> str:
    """One unit's name for people (``unit_names``); a template global."""
    return unit_names([unit] if unit else []).get(unit or "", unit or "")


def post_of(post_id: int | None) -> dict | None:
    """The post of a finding: code, kind, its name (a position's title, a workshop's name) and the
    label 「保洁员（GW-001）」."""
    if not post_id:
        return None
    r = db.session.execute(select(Post.id, Post.code, Post.kind,
                                  func.coalesce(Position.title, Workshop.name))
                           .outerjoin(Position, Position.id == Post.id)
                           .outerjoin(Workshop, Workshop.id == Post.id)
                           .where(Post.id == post_id)).first()
    if r is None:
        return None
    return {"id": r[0], "code": r[1], "kind": r[2], "title": r[3], "label": post_label(r[1], r[3])}


def overlap(fid: str) -> tuple[list[dict], str]:
    """The other findings (in the user's scope) that claim some of this finding's money, and the
    note 「与 PS04 死亡后仍发放工资 重叠，不重复计算」."""
    others = overlaps(db.session, [fid]).get(fid, [])
    if others:  # the others the user may see (``overlaps``' own narrowing is on an alias of findings)
        mine = set(db.session.scalars(select(Finding.id).where(Finding.id.in_([o["id"] for o in others]),
                                                               scope().findings())))
        others = [o for o in others if o["id"] in mine]
    return others, overlap_note(others)


def options() -> dict[str, list]:
    """Values for the filter menus: what occurs in the user's findings (they change only with an
    audit run, or an import's names: kept per run, four queries fewer on every findings page)."""
    run = summary_run()
    return _options() if run is None else kept_value("options", (run,), _options)


def _options() -> dict[str, list]:
    of = SummaryCount if summary_run() is not None else Finding  # the summary holds the same values
    s = scope().findings(of)

    def distinct(name):
        col = getattr(of, name)
        q = select(col).where(s, col.is_not(None)).distinct().order_by(col)
        return [v for (v,) in db.session.execute(q)]
    units = distinct("unit")
    return {"districts": distinct("district"), "townships": distinct("township"),
            "units": units, "unit_names": unit_names(set(units)), "rules": [r for r in all_rules()]}


def get(fid: str) -> Finding:
    """One finding, or 404 when it does not exist or lies outside the user's scope."""
    finding = db.session.scalar(select(Finding).where(Finding.id == fid, scope().findings()))
    if finding is None:
        not_found_in_scope("finding", fid)
    return finding


def renamed(fid: str) -> str | None:
    """The current id of a finding renamed by a key rotation, when the user may see it."""
    a = FindingAlias
    return db.session.scalar(select(Finding.id).join(a, a.new_id == Finding.id)
                             .where(a.old_id == fid, scope().findings()))


def history(fid: str) -> list[ChangeLog]:
    """The finding's entries in the audit log, under its current id and any former one."""
    ids = [fid, *db.session.scalars(select(FindingAlias.old_id).where(FindingAlias.new_id == fid))]
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.table_name == "findings",
                                                           ChangeLog.row_ref.in_(ids)).order_by(ChangeLog.id)))


def in_scope(ids: list[str]) -> list[Finding]:
    if not ids:
        return []
    return list(db.session.scalars(select(Finding).where(Finding.id.in_(ids), scope().findings())))


def rule_title(code: str) -> str:
    all_rules()
    r = REGISTRY.get(code)
    return r.title if r else code


def rule_name(code: str) -> str:
    """「PS01 发放工资的月份没有任何出勤」: a rule code with its title."""
    title = rule_title(code)
    return f"{code} {title}" if title != code else code


def is_violation(category: str) -> bool:
    return category in VIOLATIONS
