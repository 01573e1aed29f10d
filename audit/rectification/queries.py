"""Queries of the rectification pages (notices, their answers and evidence, the report archive),
always narrowed by the signed-in user's scope: an object outside it is not found (the view answers
404). Counts and sums are GROUP BY queries; Python only lays out what the database counted."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import and_, case, desc, false, func, or_, select, true, union
from sqlalchemy.sql import ColumnElement

from models import (
    ITEM_ACTIONS,
    NOTICE_STATUSES,
    ChangeLog,
    EvidenceFile,
    Finding,
    FindingStatus,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeResponse,
    NoticeStatus,
    Person,
    Position,
    Post,
    Recovery,
    ReportFile,
    Workshop,
    db,
)
from models.rectification import CLOSE_BASES, WAITING_FOR_UNIT

from ..access import not_found_in_scope, scope
from ..engine.money import RECOVERABLE, money_by, overlap_note, overlaps, total_fen
from ..engine.rule import VIOLATIONS
from ..findings.queries import unit_names
from . import answers, services, verification

PER_PAGE = 50
# The status filter of the list: every status, the ones not closed yet, or one status.
STATUS_CHOICES = {"": "全部状态", "open": "未销号", **NOTICE_STATUSES}
REPORT_KINDS = {"notice": "整改通知书", "summary": "审计报告", "ledger": "整改台账"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def today() -> dt.date:
    return dt.date.today()


# ---- scope ------------------------------------------------------------------------------------------

def notice_scope() -> ColumnElement[bool]:
    """Notices the user may see: of their units (operators), in their regions (everyone else)."""
    return scope().located(Notice)


def overdue_clause(on: dt.date | None = None) -> ColumnElement[bool]:
    """Waiting for the unit (issued or sent back) and past its deadline: ``Notice.overdue`` on the
    application's today."""
    return Notice.overdue(on or today())


def whole_districts() -> list[str]:
    """Districts the user's regions cover entirely: the district-wide reports (审计报告, 整改台账)
    are theirs to see and to generate. A user narrowed to a township or village sees no
    district-wide report (it would show the rest of the district)."""
    s = scope()
    if s.units:
        return []
    if s.everything:
        both = union(select(Position.district.label("d")).where(Position.district.is_not(None)),
                     select(Workshop.district.label("d")).where(Workshop.district.is_not(None))).subquery()
        return [d for (d,) in db.session.execute(select(both.c.d).order_by(both.c.d))]
    return sorted({d for d, t, v in s.regions if not t and not v})


def report_scope() -> ColumnElement[bool]:
    """Archived reports the user may see: a notice's report when they may see the notice; a
    district's report when their regions cover the district; a whole-system report (no district):
    admins without a region only."""
    s = scope()
    if s.everything:
        return true()
    of_notice = and_(ReportFile.notice_id.is_not(None),
                     ReportFile.notice_id.in_(select(Notice.id).where(notice_scope())))
    districts = whole_districts()
    of_district = and_(ReportFile.notice_id.is_(None), ReportFile.district.in_(districts)) if districts \
        else false()
    return or_(of_notice, of_district)


# ---- the list ---------------------------------------------------------------------------------------

@dataclass
class Filters:
    status: str = ""
    overdue: bool = False
    unit: str = ""

    @classmethod
    def from_args(cls, args) -> Filters:
        status = (args.get("status") or "").strip()
        return cls(status=status if status in STATUS_CHOICES else "",
                   overdue=(args.get("overdue") or "") in ("1", "on", "true"),
                   unit=(args.get("unit") or "").strip()[:128])

    def args(self) -> dict[str, str]:
        out = {}
        if self.status:
            out["status"] = self.status
        if self.overdue:
            out["overdue"] = "1"
        if self.unit:
            out["unit"] = self.unit
        return out


def _where(f: Filters) -> list[ColumnElement[bool]]:
    w = [notice_scope()]
    if f.status == "open":
        w.append(Notice.status != NoticeStatus.CLOSED)
    elif f.status:
        w.append(Notice.status == f.status)
    if f.overdue:
        w.append(overdue_clause())
    if f.unit:
        w.append(Notice.unit == f.unit)
    return w


def listing(f: Filters, page: int) -> tuple[list, int, int]:
    """(the page's notices with their findings count, total, money to recover in fen)."""
    w = _where(f)
    total = db.session.scalar(select(func.count()).select_from(Notice).where(*w)) or 0
    amount = notices_money(*w)
    counts = (select(NoticeFinding.notice_id, func.count().label("n")).group_by(NoticeFinding.notice_id)
              .subquery())
    q = (select(Notice.id, Notice.number, Notice.unit, Notice.unit_name, Notice.issued_at, Notice.deadline,
                Notice.status, Notice.amount_to_recover_fen, func.coalesce(counts.c.n, 0).label("findings"),
                overdue_clause().label("overdue"))
         .outerjoin(counts, counts.c.notice_id == Notice.id).where(*w)
         .order_by(desc(Notice.issued_at), desc(Notice.id)).limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    return db.session.execute(q).all(), int(total), int(amount)


def notices_money(*where: ColumnElement[bool]) -> int:
    """应追回 of the notices matching ``where``: the money of their items asked to be recovered, each
    payment counted once even when two notices (or two findings) cover it."""
    ids = (select(NoticeFinding.finding_id).join(Notice, Notice.id == NoticeFinding.notice_id)
           .where(NoticeFinding.recover_fen > 0, *where))
    return total_fen(db.session, Finding.id.in_(ids), kind=RECOVERABLE)


def recovered_by_notice(ids: list[int]) -> dict[int, int]:
    """实际追回 (sum of the recoveries) per notice."""
    if not ids:
        return {}
    return {nid: int(fen or 0) for nid, fen in db.session.execute(
        select(Recovery.notice_id, func.sum(Recovery.amount_fen)).where(Recovery.notice_id.in_(ids))
        .group_by(Recovery.notice_id))}


def unit_notices(limit: int = 50) -> list[dict]:
    """An operator's notices not closed yet (and the last closed ones), for the dashboard: number,
    deadline, days left or overdue, state, 应追回, items still to answer."""
    rows = db.session.scalars(select(Notice).where(notice_scope())
                              .order_by(case((Notice.status == NoticeStatus.CLOSED, 1), else_=0),
                                        Notice.deadline, Notice.id)
                              .limit(limit)).all()
    on = today()
    out = []
    for n in rows:
        waiting = n.status in WAITING_FOR_UNIT
        days = (n.deadline - on).days
        out.append({"n": n, "status_zh": NOTICE_STATUSES.get(n.status, n.status), "waiting": waiting,
                    "overdue": n.overdue(on), "days": days,
                    "to_answer": len(answers.to_answer(n)) if waiting else 0})
    return out


def overdue_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Notice)
                                 .where(notice_scope(), overdue_clause())) or 0)


def get(nid: int) -> Notice:
    """One notice, or 404 when it does not exist or lies outside the user's scope."""
    notice = db.session.scalar(select(Notice).where(Notice.id == nid, notice_scope()))
    if notice is None:
        not_found_in_scope("notice", nid)
    return notice


def history(nid: int) -> list[ChangeLog]:
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.table_name == "notices",
                                                           ChangeLog.row_id == nid).order_by(ChangeLog.id)))


def evidence(notice: Notice, fid: int, *, drafts: bool = False) -> EvidenceFile:
    """An evidence file of this notice (of an answer, or a voucher the auditor filed), or 404; a
    file of a draft answer only for the unit (``drafts``)."""
    seen = or_(EvidenceFile.response_id.is_(None), NoticeResponse.state == "submitted") if not drafts \
        else true()
    f = db.session.scalar(select(EvidenceFile)
                          .outerjoin(NoticeResponse, NoticeResponse.id == EvidenceFile.response_id)
                          .where(EvidenceFile.id == fid, EvidenceFile.notice_id == notice.id, seen))
    if f is None:
        not_found_in_scope("evidence", f"{notice.number} #{fid}")
    return f


@dataclass
class ItemRow:
    """One item of a notice as the pages show it."""

    no: int
    item: NoticeFinding
    finding: Finding
    person: str | None  # the person's name
    id_masked: str | None
    post_code: str | None
    post_name: str | None
    state: str
    state_zh: str
    submitted: ItemAnswer | None
    draft: ItemAnswer | None
    recoveries: list[Recovery]
    recovered_fen: int
    overlap: str
    check: verification.Check | None
    confirmed: bool  # an audit run confirms it: it may be closed as 数据已消除
    editable: bool  # the unit is to answer it now

    @property
    def basis_text(self) -> str:
        if self.item.close_basis == "override":
            return f"人工销号：{self.item.close_reason or ''}"
        return CLOSE_BASES.get(self.item.close_basis or "", "")

    @property
    def action_text(self) -> str:
        return ITEM_ACTIONS.get(self.submitted.action, "") if self.submitted else ""


def item_rows(notice: Notice) -> list[ItemRow]:
    """The notice's items with the person (name, masked ID), the post (code and name), the answers,
    the recoveries and the data check: a few queries for the whole notice."""
    ids = [i.finding_id for i in notice.items]
    if not ids:
        return []
    facts = {r.id: r for r in db.session.execute(
        select(Finding.id, Person.name, Person.id_masked, Post.code,
               func.coalesce(Position.title, Workshop.name).label("post_name"))
        .outerjoin(Person, Person.id == Finding.person_id).outerjoin(Post, Post.id == Finding.post_id)
        .outerjoin(Position, Position.id == Finding.post_id)
        .outerjoin(Workshop, Workshop.id == Finding.post_id)
        .where(Finding.id.in_(ids)))}
    checks = {c.item.id: c for c in verification.data_check(notice)}
    latest = services.latest_answers(notice)
    shared = overlaps(db.session, ids, Finding.id.in_(ids))
    recs: dict[int, list[Recovery]] = {}
    for r in db.session.scalars(select(Recovery).where(Recovery.notice_id == notice.id)
                                .order_by(Recovery.id)):
        recs.setdefault(r.item_id, []).append(r)
    out = []
    for no, item in enumerate(notice.items, 1):
        c = checks.get(item.id)
        if c is None:
            continue
        sub = latest.get(item.id, {}).get("submitted")
        state = services.item_state(item, sub)
        f = c.finding
        fact = facts.get(f.id)
        out.append(ItemRow(
            no=no, item=item, finding=f, person=fact.name if fact else None,
            id_masked=fact.id_masked if fact else None, post_code=fact.code if fact else None,
            post_name=fact.post_name if fact else None, state=state, state_zh=services.ITEM_STATES[state],
            submitted=sub, draft=latest.get(item.id, {}).get("draft"), recoveries=recs.get(item.id, []),
            recovered_fen=sum(r.amount_fen for r in recs.get(item.id, [])),
            overlap=overlap_note(shared.get(f.id, [])),
            check=c, confirmed=state != "closed" and verification.confirmed_by_data(
                item, f, sub.at if sub else notice.answered_at),
            editable=notice.status in WAITING_FOR_UNIT and state in ("waiting", "returned")))
    return out


def item_of(notice: Notice, item_id: int) -> NoticeFinding:
    item = next((i for i in notice.items if i.id == item_id), None)
    if item is None:
        not_found_in_scope("notice item", f"{notice.number} #{item_id}")
    return item


def notice_reports(nid: int) -> list[ReportFile]:
    return list(db.session.scalars(select(ReportFile).where(ReportFile.notice_id == nid, report_scope())
                                   .order_by(desc(ReportFile.id)).limit(5)))


# ---- a new notice -------------------------------------------------------------------------------------

def unit_in_scope(unit: str) -> bool:
    """An employing unit (by its key, ``models.unit_key``) or a workshop (by code) that lies in the
    user's scope."""
    if not unit:
        return False
    s = scope()
    employer = select(Position.id).where(Position.unit_key == unit, s.positions()).limit(1)
    workshop = (select(Workshop.id).join(Post, Post.id == Workshop.id).where(Post.code == unit, s.workshops())
                .limit(1))
    return db.session.scalar(employer) is not None or db.session.scalar(workshop) is not None


def candidate_units() -> list:
    """Units with findings that may go into a new notice (violations, open or confirmed, in no
    notice that is not closed), with how many and the money at risk."""
    busy = select(NoticeFinding.finding_id).join(Notice, Notice.id == NoticeFinding.notice_id).where(
        Notice.status != NoticeStatus.CLOSED)
    where = (scope().findings(), Finding.unit.is_not(None), Finding.is_active,
             Finding.category.in_(VIOLATIONS), Finding.id.not_in(busy))
    money = dict(money_by(db.session, *where, group=Finding.unit, kind=RECOVERABLE))  # each payment once
    rows = db.session.execute(
        select(Finding.unit, func.count().label("n"),
               func.sum(case((Finding.status == FindingStatus.OPEN, 1), else_=0)).label("open"))
        .where(*where).group_by(Finding.unit)).all()
    names = unit_names(r.unit for r in rows)
    out = [UnitRow(r.unit, names.get(r.unit, r.unit), int(r.n), money.get(r.unit, 0), int(r.open or 0))
           for r in rows]
    return sorted(out, key=lambda u: (-u.amount_fen, u.name))


@dataclass
class UnitRow:
    unit: str  # the unit's key (a workshop's code, an employing unit's ``models.unit_key``)
    name: str  # as people read it (``unit_names``)
    n: int
    amount_fen: int
    open: int


def parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


# ---- reports ------------------------------------------------------------------------------------------

def reports(page: int) -> tuple[list[ReportFile], int]:
    w = report_scope()
    total = db.session.scalar(select(func.count()).select_from(ReportFile).where(w)) or 0
    rows = list(db.session.scalars(select(ReportFile).where(w).order_by(desc(ReportFile.created_at),
                                                                       desc(ReportFile.id))
                                   .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    return rows, int(total)


def report(rid: int) -> ReportFile:
    r = db.session.scalar(select(ReportFile).where(ReportFile.id == rid, report_scope()))
    if r is None:
        not_found_in_scope("report", rid)
    return r


def parse_period(text: str) -> tuple[dt.date, dt.date] | None:
    """``2025-01:2025-06`` (or one month ``2025-03``) -> the first days of the first and last month."""
    a, _, b = (text or "").strip().replace("：", ":").replace(" ", "").partition(":")
    b = b or a
    ma, mb = _MONTH.match(a), _MONTH.match(b)
    if not (ma and mb):
        return None
    first, last = dt.date(int(ma[1]), int(ma[2]), 1), dt.date(int(mb[1]), int(mb[2]), 1)
    if last < first or (last.year - first.year) * 12 + last.month - first.month >= 120:
        return None
    return first, last
