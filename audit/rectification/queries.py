"""Queries of the rectification pages (notices, their answers and evidence, the report archive),
always narrowed by the signed-in user's scope: an object outside it is not found (the view answers
404). Counts and sums are GROUP BY queries; Python only lays out what the database counted."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import abort
from sqlalchemy import and_, case, desc, false, func, or_, select, true, union
from sqlalchemy.sql import ColumnElement

from models import (
    NOTICE_STATUSES,
    ChangeLog,
    EvidenceFile,
    Finding,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Position,
    Post,
    ReportFile,
    Workshop,
    db,
)
from models.rectification import WAITING_FOR_UNIT

from ..access import scope
from ..engine.rule import VIOLATIONS
from .services import REVIEWABLE

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
    s = scope()
    if s.units:
        return Notice.unit.in_(s.unit_names)
    return s.region(Notice.district, Notice.township, Notice.village)


def overdue_clause(on: dt.date | None = None) -> ColumnElement[bool]:
    """Waiting for the unit (issued or sent back) and past its deadline (the same as ``Notice.overdue``)."""
    return and_(Notice.status.in_(WAITING_FOR_UNIT), Notice.deadline < (on or today()))


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
    of_district = and_(ReportFile.notice_id.is_(None), ReportFile.district.in_(districts)) if districts else false()
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
        w.append(Notice.status != "closed")
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
    total, amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Notice.amount_to_recover_fen), 0)).select_from(Notice)
        .where(*w)).one()
    counts = (select(NoticeFinding.notice_id, func.count().label("n")).group_by(NoticeFinding.notice_id)
              .subquery())
    q = (select(Notice.id, Notice.number, Notice.unit, Notice.unit_name, Notice.issued_at, Notice.deadline,
                Notice.status, Notice.amount_to_recover_fen, func.coalesce(counts.c.n, 0).label("findings"))
         .outerjoin(counts, counts.c.notice_id == Notice.id).where(*w)
         .order_by(desc(Notice.issued_at), desc(Notice.id)).limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    return db.session.execute(q).all(), int(total), int(amount)


def overdue_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Notice).where(notice_scope(), overdue_clause()))
               or 0)


def get(nid: int) -> Notice:
    """One notice, or 404 when it does not exist or lies outside the user's scope."""
    notice = db.session.scalar(select(Notice).where(Notice.id == nid, notice_scope()))
    if notice is None:
        abort(404)
    return notice


def history(nid: int) -> list[ChangeLog]:
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.table_name == "notices",
                                                           ChangeLog.row_id == nid).order_by(ChangeLog.id)))


def evidence(notice: Notice, fid: int) -> EvidenceFile:
    """An evidence file of one of this notice's answers, or 404."""
    f = db.session.scalar(select(EvidenceFile).join(NoticeResponse, NoticeResponse.id == EvidenceFile.response_id)
                          .where(EvidenceFile.id == fid, NoticeResponse.notice_id == notice.id))
    if f is None:
        abort(404)
    return f


def notice_reports(nid: int) -> list[ReportFile]:
    return list(db.session.scalars(select(ReportFile).where(ReportFile.notice_id == nid, report_scope())
                                   .order_by(desc(ReportFile.id)).limit(5)))


# ---- a new notice -------------------------------------------------------------------------------------

def unit_in_scope(unit: str) -> bool:
    """An employing unit (by name) or a workshop (by code) that lies in the user's scope."""
    if not unit:
        return False
    s = scope()
    employer = select(Position.id).where(Position.employer == unit, s.positions()).limit(1)
    workshop = (select(Workshop.id).join(Post, Post.id == Workshop.id).where(Post.code == unit, s.workshops())
                .limit(1))
    return db.session.scalar(employer) is not None or db.session.scalar(workshop) is not None


def candidate_units() -> list:
    """Units with findings that may go into a new notice (violations, open or confirmed, in no
    notice that is not closed), with how many and the money at risk."""
    busy = select(NoticeFinding.finding_id).join(Notice, Notice.id == NoticeFinding.notice_id).where(
        Notice.status != "closed")
    return db.session.execute(
        select(Finding.unit, func.count().label("n"),
               func.coalesce(func.sum(Finding.amount_at_risk_fen), 0).label("amount_fen"),
               func.sum(case((Finding.status == "open", 1), else_=0)).label("open"))
        .where(scope().findings(), Finding.unit.is_not(None), Finding.status.in_(REVIEWABLE),
               Finding.category.in_(VIOLATIONS), Finding.id.not_in(busy))
        .group_by(Finding.unit).order_by(desc("amount_fen"), Finding.unit)).all()


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
        abort(404)
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
