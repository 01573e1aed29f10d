"""发放前校验 on the web (shared/docs/precheck.md, "Output / on the web"): what the pages read and
the approval. Every query is narrowed by the signed-in user's scope (``audit.access.Scope``):

- A pre-check is in a user's scope when every one of its rows pays a post in their scope
  (``Scope.posts``) — an upload is refused unless all its posts are the uploader's, so the one
  who checked it always sees it; an auditor of one township sees no pre-check that also pays a
  post of another (its rows are not theirs to read, nor to approve).
- Its rows are read through the same condition again (never by the pre-check's id alone), the
  person's name only for a person in scope (``Scope.persons``), the ID number only masked (the
  rows keep nothing else), the reasons as stored (``MaskedJSON``: identifiers masked).
- Totals by verdict are counted from the rows in SQL (integer fen: exact), not read from the
  stored summary.

The approval (审批): the auditor lets the pass rows be paid, with or without the held ones (a
choice; rejected rows never), signed by the signed-in account — its user name and display name
and the time. ``approve`` owns its transaction: a conditional UPDATE (``status = 'draft'``) that
only one of two approvals at once can win, the log entry in the same transaction. An approved
pre-check is never approved again nor changed (nothing here writes to its rows).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, select, true, update
from sqlalchemy.sql import ColumnElement

from audit.access import Scope
from audit.auditlog import record
from audit.ledger.importer import RowError
from audit.pii import PiiCodec
from audit.transaction import unit_of_work
from audit.uploads.scope_check import OUT_OF_SCOPE
from models import Person, Post, Precheck, PrecheckRow, db

from . import verdicts as V
from .reader import Draft
from .services import CheckResult, check

APPROVE = "precheck.approve"
EXPORT = "precheck.export"
PAGE_SIZE = 200


class ApprovalError(ValueError):
    """An approval that cannot be made; the message is for the user."""


# ---- scope -------------------------------------------------------------------------------------

def visible(sc: Scope) -> ColumnElement[bool]:
    """Pre-checks in scope: at least one row, and none paying a post outside the scope."""
    if sc.everything:
        return true()
    r = PrecheckRow
    return and_(exists().where(r.precheck_id == Precheck.id),
                not_(exists().where(r.precheck_id == Precheck.id, not_(sc.posts(r.post_id)))))


def get(precheck_id: int, sc: Scope) -> Precheck | None:
    return db.session.scalars(select(Precheck).where(Precheck.id == precheck_id, visible(sc))).first()


def listing(sc: Scope, limit: int = 200) -> list[Precheck]:
    return list(db.session.scalars(select(Precheck).where(visible(sc)).order_by(Precheck.id.desc())
                                   .limit(limit)))


def scope_errors(draft: Draft, sc: Scope) -> list[RowError]:
    """The draft's rows whose post lies outside the uploader's regions (the ledger upload's
    refusal, ``uploads.scope_check``: the row, the column, the code and where the scope is). Unknown
    codes are ``services.check``'s to report."""
    codes = sorted({r.post_code for r in draft.rows})
    if sc.everything or not codes:
        return []
    known = set(db.session.scalars(select(Post.code).where(Post.code.in_(codes))))
    mine = set(db.session.scalars(select(Post.code).where(Post.code.in_(codes), sc.posts(Post.id))))
    where = sc.describe()
    return [RowError("wages", r.row, "岗位或车间编号", r.post_code,
                     f"{OUT_OF_SCOPE}（岗位或车间 {r.post_code} 属于其他地区；您的管辖范围：{where}）",
                     draft.origin or draft.name)
            for r in draft.rows if r.post_code in known and r.post_code not in mine]


# ---- the rows and their totals ---------------------------------------------------------------------

def _rows_query(pc: Precheck, sc: Scope, verdict: str | None = None):
    r = PrecheckRow
    q = select(r).where(r.precheck_id == pc.id)
    if not sc.everything:
        q = q.where(sc.posts(r.post_id))
    if verdict:
        q = q.where(r.verdict == verdict)
    return q


@dataclass
class Line:
    row: PrecheckRow
    name: str | None  # the person's name, if the reader sees the person
    post: str  # the post's title and unit, or the workshop's name


def rows(pc: Precheck, sc: Scope, verdict: str | None = None, *, offset: int = 0,
         limit: int | None = PAGE_SIZE) -> list[Line]:
    q = _rows_query(pc, sc, verdict).order_by(PrecheckRow.row_no).offset(offset)
    found = list(db.session.scalars(q.limit(limit) if limit else q))
    people = {x.person_id for x in found}
    names: dict[int, str] = {}
    if people:
        cond = [Person.id.in_(people)] + ([] if sc.everything else [sc.persons()])
        names = dict(db.session.execute(select(Person.id, Person.name).where(*cond)).all())
    posts = post_names({x.post_id for x in found})
    return [Line(x, names.get(x.person_id), posts.get(x.post_id, x.post_code)) for x in found]


def post_names(ids: set[int]) -> dict[int, str]:
    """posts.id -> 「保洁员（白帝镇白帝村村民委员会）」 / the workshop's name."""
    from models import Position, Workshop, unit_display

    if not ids:
        return {}
    out = {}
    for pid, title, key in db.session.execute(select(Position.id, Position.title, Position.unit_key)
                                              .where(Position.id.in_(ids))):
        out[pid] = f"{title}（{unit_display(key)}）"
    for pid, name in db.session.execute(select(Workshop.id, Workshop.name).where(Workshop.id.in_(ids))):
        out[pid] = name
    return out


def totals(pc: Precheck, sc: Scope) -> dict[str, dict[str, int]]:
    """Rows, drafted and allowed fen by verdict, counted from the rows in scope; and ``all``."""
    r = PrecheckRow
    q = (select(r.verdict, func.count(), func.coalesce(func.sum(r.amount_fen), 0),
                func.coalesce(func.sum(r.allowed_fen), 0))
         .where(r.precheck_id == pc.id).group_by(r.verdict))
    if not sc.everything:
        q = q.where(sc.posts(r.post_id))
    out = {v: {"rows": 0, "amount_fen": 0, "allowed_fen": 0} for v in (V.PASS, V.HOLD, V.REJECT)}
    for verdict, n, amount, allowed in db.session.execute(q):
        out[verdict] = {"rows": int(n), "amount_fen": int(amount), "allowed_fen": int(allowed)}
    out["all"] = {k: sum(out[v][k] for v in (V.PASS, V.HOLD, V.REJECT))
                  for k in ("rows", "amount_fen", "allowed_fen")}
    return out


# ---- the approval ------------------------------------------------------------------------------------

def approve(pc: Precheck, sc: Scope, *, user: Any, with_hold: bool, now: dt.datetime | None = None) -> dict:
    """Approve ``pc``'s pass rows (and its held rows, ``with_hold``), signed by ``user``; commits.
    ``ApprovalError`` (nothing written) if it is approved already or has no row to approve."""
    chosen = [V.PASS, V.HOLD] if with_hold else [V.PASS]
    t = totals(pc, sc)
    if pc.status != "draft":
        raise ApprovalError(f"发放前校验第 {pc.id} 号已于 {_when(pc.approved_at)} 由 "
                            f"{pc.approved_name or pc.approved_by} 审批，不能再次审批或更改。")
    rows_ok = sum(t[v]["rows"] for v in chosen)
    if not rows_ok:
        raise ApprovalError("没有可批准发放的行：" + (
            "本表没有可发放或暂缓发放的行。" if with_hold
            else "本表没有可发放的行（如需批准暂缓发放的行，请选择一并批准）。"))
    now = (now or dt.datetime.now()).replace(microsecond=0)
    name = (getattr(user, "display_name", None) or user.username)[:64]
    try:
        done = db.session.execute(
            update(Precheck).where(Precheck.id == pc.id, Precheck.status == "draft")
            .values(status="approved", approved_by=user.username, approved_at=now, approved_verdicts=chosen,
                    approved_name=name)
            .execution_options(synchronize_session=False)).rowcount
        if done != 1:
            raise ApprovalError(f"发放前校验第 {pc.id} 号已由他人审批，不能再次审批或更改。")
        amount = sum(t[v]["amount_fen"] for v in chosen)
        record(APPROVE, table="prechecks", row_id=pc.id, ref=f"{pc.file_name[:80]} {pc.as_of.isoformat()}",
               old={"status": "draft"},
               new={"status": "approved", "file": pc.file_name, "as_of": pc.as_of.isoformat(),
                    "verdicts": chosen, "rows": rows_ok, "amount_fen": amount, "signed": name,
                    "not_approved": t["all"]["rows"] - rows_ok})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(pc)
    return {"rows": rows_ok, "amount_fen": amount, "verdicts": chosen}


def _when(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "—"


def run_check(draft: Draft, *, as_of: dt.date, pii: PiiCodec) -> CheckResult:
    """The check of an uploaded draft (``services.check``, on its own connection; it writes
    nothing): the session's transaction — the scope's reads — ends before the check takes its own
    connection."""
    db.session.commit()
    return check(db.engine, draft, as_of=as_of, pii=pii)


@unit_of_work
def log_export(pc: Precheck, fmt: str, rows_n: int) -> None:
    """The download's log entry, as the findings export's (committed: one unit of work)."""
    record(EXPORT, table="prechecks", row_id=pc.id, ref=f"{pc.file_name[:80]} {pc.as_of.isoformat()}",
           new={"format": fmt, "rows": rows_n, "full_identifiers": False, "file": pc.file_name})
