"""The auditor's verification of a notice: 销号 or 退回 of one item, the money actually recovered,
销号 or 退回 of the whole notice, and what the latest audit run says of each finding (``data_check``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from models import (
    AuditRun,
    Finding,
    FindingStatus,
    Notice,
    NoticeFinding,
    NoticeStatus,
    Recovery,
    db,
)
from models.rectification import CLOSE_BASES

from ..auditlog import record
from ..money import yuan
from ..transaction import unit_of_work
from .answers import Upload, checked_file, store_file
from .services import (
    MAX_NOTE,
    MIN_OVERRIDE,
    MIN_VERDICT,
    RectificationError,
    item_labels,
    item_state,
    latest_answers,
)


def auditable(notice: Notice, item: NoticeFinding) -> None:
    if item.notice_id != notice.id:
        raise RectificationError("该问题不属于这份通知书")
    if notice.status == NoticeStatus.CLOSED:
        raise RectificationError("该通知书已销号")
    if item.close_basis:
        raise RectificationError("该问题已销号")


def confirmed_by_data(item: NoticeFinding, finding: Finding | None, answered_at: dt.datetime | None) -> bool:
    """An audit run no longer finds the finding: it is ``resolved`` (the latest run did not find it),
    or its facts were found gone after the unit's answer."""
    if finding is None:
        return False
    if finding.status == FindingStatus.RESOLVED:
        return True
    return finding.resolved_at is not None and answered_at is not None and finding.resolved_at >= answered_at


def _close_item(notice: Notice, item: NoticeFinding, f: Finding | None, basis: str, reason: str | None,
                by: str, label: str) -> None:
    item.close_basis, item.close_reason, item.closed_by, item.closed_at = basis, reason, by, dt.datetime.now()
    if f is not None and f.status not in (FindingStatus.DISMISSED, FindingStatus.CLOSED):
        record("finding.close", table="findings", ref=f.id, who=by, old={"status": f.status},
               new={"status": FindingStatus.CLOSED, "note": f"整改通知书 {notice.number} {label} 销号",
                    "rule": f.rule})
        f.status = FindingStatus.CLOSED
    record("notice.item_close", table="notices", row_id=notice.id, ref=notice.number, who=by,
           new={"item": label, "basis": basis, "basis_zh": CLOSE_BASES[basis], "reason": reason})


@unit_of_work
def close_item(notice: Notice, item: NoticeFinding, *, by: str, basis: str = "data",
               reason: str | None = None) -> bool:
    """销号 of one item: by the data (an audit run no longer finds it) or by an override with a
    written reason. Closing the last item closes the notice. True when the notice was closed."""
    auditable(notice, item)
    label = item_labels(notice)[item.id]
    f = findings_of(notice).get(item.finding_id)
    if basis == "data":
        submitted = latest_answers(notice).get(item.id, {}).get("submitted")
        if not confirmed_by_data(item, f, submitted.at if submitted else notice.answered_at):
            raise RectificationError(f"{label}：审计数据尚未确认整改到位"
                                     "（需在单位回复后重新运行审计且不再发现该问题），"
                                     "不能按数据销号；如确需销号，请人工销号并写明理由")
        reason = None
    elif basis == "override":
        reason = (reason or "").strip()
        if len(reason) < MIN_OVERRIDE:
            raise RectificationError(f"{label}：人工销号必须写明理由（至少 {MIN_OVERRIDE} 个字）")
        reason = reason[:MAX_NOTE]
    else:
        raise RectificationError("销号依据无效")
    _close_item(notice, item, f, basis, reason, by, label)
    if all(i.close_basis for i in notice.items):
        _close_notice(notice, "全部问题已销号", by)
        return True
    return False


@unit_of_work
def send_back_item(notice: Notice, item: NoticeFinding, reason: str, *, by: str) -> None:
    """退回 one answered item: the unit answers it again (the deadline stays)."""
    auditable(notice, item)
    label = item_labels(notice)[item.id]
    submitted = latest_answers(notice).get(item.id, {}).get("submitted")
    if item_state(item, submitted) != "answered":
        raise RectificationError(f"{label}：单位尚未回复该问题，不能退回")
    reason = (reason or "").strip()
    if len(reason) < MIN_VERDICT:
        raise RectificationError(f"{label}：退回必须写明理由（至少 {MIN_VERDICT} 个字）")
    item.returned_reason, item.returned_by, item.returned_at = reason[:MAX_NOTE], by, dt.datetime.now()
    old = notice.status
    notice.status = NoticeStatus.RETURNED
    record("notice.item_return", table="notices", row_id=notice.id, ref=notice.number, who=by,
           old={"status": old}, new={"status": NoticeStatus.RETURNED, "item": label, "verdict": reason})


@unit_of_work
def record_recovery(notice: Notice, item: NoticeFinding, on_date: dt.date | None, amount_fen: int | None,
                    voucher: Upload | None, *, by: str, note: str | None = None,
                    today: dt.date | None = None) -> Recovery:
    """实际追回 recorded by the auditor for one item: date, amount, voucher file."""
    if item.notice_id != notice.id:
        raise RectificationError("该问题不属于这份通知书")
    label = item_labels(notice)[item.id]
    if amount_fen is None or amount_fen <= 0:
        raise RectificationError(f"{label}：追回金额应为大于 0 的元数，最多两位小数")
    if on_date is None:
        raise RectificationError(f"{label}：请填写追回日期（年-月-日）")
    if on_date > (today or dt.date.today()):
        raise RectificationError(f"{label}：追回日期不能晚于今天")
    voucher_id = None
    if voucher is not None and (voucher.name or voucher.data):
        name, ctype = checked_file(voucher)
        ef = store_file(notice, voucher, name, ctype)
        db.session.add(ef)
        db.session.flush()
        voucher_id = ef.id
    r = Recovery(notice_id=notice.id, item_id=item.id, recovered_on=on_date, amount_fen=amount_fen,
                 voucher_id=voucher_id, note=(note or "").strip()[:MAX_NOTE] or None, recorded_by=by,
                 recorded_at=dt.datetime.now())
    db.session.add(r)
    db.session.flush()
    record("notice.recovery", table="notices", row_id=notice.id, ref=notice.number, who=by,
           new={"item": label, "recovered_on": on_date.isoformat(), "amount_fen": amount_fen,
                "amount": f"{yuan(amount_fen)} 元", "voucher": voucher_id is not None})
    return r


def _close_notice(notice: Notice, verdict: str, by: str) -> None:
    old = notice.status
    notice.status, notice.closed_by, notice.closed_at = NoticeStatus.CLOSED, by, dt.datetime.now()
    notice.verdict = verdict
    record("notice.close", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": NoticeStatus.CLOSED, "verdict": notice.verdict})


@unit_of_work
def close(notice: Notice, verdict: str, *, by: str) -> None:
    """销号 of the notice: every item not yet closed must be confirmed by the data (they are closed
    as 数据已消除); an item the data does not confirm is named, and nothing changes."""
    if notice.status != NoticeStatus.ANSWERED:
        raise RectificationError("只有单位已回复的通知书才能销号")
    findings = findings_of(notice)
    labels = item_labels(notice)
    latest = latest_answers(notice)
    pending, blocked = [], []
    for item in notice.items:
        if item.close_basis:
            continue
        sub = latest.get(item.id, {}).get("submitted")
        if confirmed_by_data(item, findings.get(item.finding_id), sub.at if sub else notice.answered_at):
            pending.append(item)
        else:
            blocked.append(labels[item.id])
    if blocked:
        raise RectificationError("以下问题尚未经审计数据确认整改到位，也未人工销号，不能销号："
                                 f"{'、'.join(blocked)}。请在单位整改后重新运行审计，或逐条人工销号并写明理由")
    for item in pending:
        _close_item(notice, item, findings.get(item.finding_id), "data", None, by, labels[item.id])
    _close_notice(notice, (verdict or "").strip()[:MAX_NOTE] or "整改到位，准予销号", by)


@unit_of_work
def send_back(notice: Notice, verdict: str, *, by: str) -> None:
    """退回: the answer is not enough; every answered item not closed goes back to the unit (the
    deadline stays)."""
    if notice.status != NoticeStatus.ANSWERED:
        raise RectificationError("只有单位已回复的通知书才能退回")
    verdict = (verdict or "").strip()
    if len(verdict) < MIN_VERDICT:
        raise RectificationError(f"退回必须写明理由（至少 {MIN_VERDICT} 个字）")
    now = dt.datetime.now()
    for item in notice.items:
        if not item.close_basis:
            item.returned_reason, item.returned_by, item.returned_at = verdict[:MAX_NOTE], by, now
    notice.status, notice.verdict = NoticeStatus.RETURNED, verdict
    record("notice.return", table="notices", row_id=notice.id, ref=notice.number, who=by,
           old={"status": NoticeStatus.ANSWERED}, new={"status": NoticeStatus.RETURNED, "verdict": verdict})


def findings_of(notice: Notice) -> dict[str, Finding]:
    """The notice's findings by id, in one query."""
    ids = [item.finding_id for item in notice.items]
    return {f.id: f for f in db.session.scalars(select(Finding).where(Finding.id.in_(ids)))} if ids else {}


@dataclass
class Check:
    """What the latest audit run says of one finding of a notice."""

    finding: Finding
    item: NoticeFinding
    gone: bool  # the latest run no longer finds its facts
    text: str


def data_check(notice: Notice) -> list[Check]:
    """Per finding: does the latest finished audit run still find its facts? (``resolved`` means it
    no longer does — e.g. no more pay after the person was cleared, or the ledger now matches.)"""
    last = db.session.scalar(select(func.max(AuditRun.id)).where(AuditRun.status == "finished"))
    out = []
    findings = findings_of(notice)
    for item in notice.items:
        f = findings.get(item.finding_id)
        if f is None:
            continue
        if (f.status == FindingStatus.RESOLVED
                or (f.status == FindingStatus.CLOSED and f.resolved_at is not None)):
            # a resolved finding names the run that no longer found it; a closed one keeps the last
            # run that did, so name the run under way when its facts were found gone
            run = f.last_run_id if f.status == FindingStatus.RESOLVED else db.session.scalar(
                select(func.max(AuditRun.id)).where(AuditRun.started_at <= f.resolved_at)) or f.last_run_id
            text = f"第 {run} 次审计已不再发现该问题（数据已消除）"
            gone = True
        elif f.last_run_id == last:
            text = f"最近一次审计（第 {last} 次）仍发现该问题"
            gone = False
        else:
            text = f"最近一次审计未再运行该规则（最后发现于第 {f.last_run_id} 次审计）"
            gone = False
        out.append(Check(f, item, gone, text))
    return out
