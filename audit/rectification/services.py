"""The rectification workflow's state changes. Each function checks what it may do, changes the
rows and writes the audit log, as one unit of work (``audit.transaction``): it commits, or rolls
back when it raises (an error whose message is for the user, in Chinese, or anything else).

    issue(unit, finding_ids, deadline, by=…, scope_clause=…) -> Notice (auditor)

``answers.py``:
    save_answer(notice, inputs, text, files, by=…, submit=…) -> NoticeResponse (the unit's operator:
        an answer per item — 已清退 / 已追回 / 已更正台账 / 情况说明 — kept as a draft or submitted;
        a submitted 已追回 records the money actually recovered)

``verification.py``:
    close_item(notice, item, by=…, basis='data'|'override', reason=…)   (auditor: 销号 of one item)
    send_back_item(notice, item, reason, by=…)              (auditor: 退回 one item)
    record_recovery(notice, item, on_date, amount_fen, voucher, by=…)    (auditor: 实际追回)
    close(notice, verdict, by=…)          (auditor: 销号 of the notice — every item confirmed by the
                                           data or closed by an override with a reason)
    send_back(notice, verdict, by=…)      (auditor: 退回 every answered item, the unit answers again)
    data_check(notice)                    -> what the latest audit says per finding

This module also holds what every step reads: the limits, the error, where evidence files live,
and an item's state and latest answers.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from models import (
    ACTIONS,
    Finding,
    FindingStatus,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeStatus,
    Person,
    Position,
    Post,
    Workshop,
    db,
    unit_display,
)

from ..auditlog import record
from ..engine.money import RECOVERABLE, total_fen
from ..engine.rule import VIOLATIONS
from ..transaction import unit_of_work

MIN_TEXT = 10
MIN_VERDICT = 4
MIN_OVERRIDE = 10  # 人工销号 needs a written reason of at least this many characters
MAX_NOTE = 2000
MAX_FILES = 10
# What an evidence file may be, judged from its first bytes (never from the client's word).
FILE_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# Default required actions per finding category.
DEFAULT_ACTIONS = {
    "phantom_salary": ["dismiss_person", "recover"],
    "disguised_payment": ["recover", "correct_ledger"],
    "wage_arrears": ["pay_arrears"],
    "impersonation": ["check_identity", "recover"],
    "ineligible_placement": ["dismiss_person", "recover"],
    "favouritism": ["dismiss_person", "recover"],
    "ledger_mismatch": ["correct_ledger", "recover"],
}


class RectificationError(ValueError):
    """A step of the workflow that cannot be done; the message is for the user."""


# ---- items and answers, as every step reads them -------------------------------------------------

def evidence_root() -> Path:
    return Path(current_app.instance_path) / "evidence"


ITEM_STATES = {"waiting": "待单位回复", "answered": "单位已回复，待核验", "returned": "已退回，待重新整改",
               "closed": "已销号"}


def latest_answers(notice: Notice) -> dict[int, dict[str, ItemAnswer]]:
    """Per item: its latest ``submitted`` answer and its ``draft`` (each when there is one)."""
    out: dict[int, dict[str, ItemAnswer]] = {}
    for a in db.session.scalars(select(ItemAnswer).where(ItemAnswer.notice_id == notice.id)
                                .order_by(ItemAnswer.id)):
        out.setdefault(a.item_id, {})[a.state] = a
    return out


def item_state(item: NoticeFinding, submitted: ItemAnswer | None) -> str:
    """closed (销号) / returned (sent back, not answered since) / answered / waiting."""
    if item.close_basis:
        return "closed"
    if item.returned_at is not None and (submitted is None or submitted.at <= item.returned_at):
        return "returned"
    return "answered" if submitted is not None else "waiting"


def item_labels(notice: Notice) -> dict[int, str]:
    """「第 1 条（PS01 王大山）」 per item, for messages."""
    ids = [i.finding_id for i in notice.items]
    rows = dict(db.session.execute(select(Finding.id, func.coalesce(Person.name, Finding.subject_label))
                                   .outerjoin(Person, Person.id == Finding.person_id)
                                   .where(Finding.id.in_(ids))).all()) if ids else {}
    rules = dict(db.session.execute(select(Finding.id, Finding.rule)
                                    .where(Finding.id.in_(ids))).all()) if ids else {}
    return {i.id: f"第 {n} 条（{rules.get(i.finding_id, '')} {rows.get(i.finding_id, '')}）"
            for n, i in enumerate(notice.items, 1)}


# ---- issuing ---------------------------------------------------------------------------------------

def default_actions(finding: Finding) -> list[str]:
    return list(DEFAULT_ACTIONS.get(finding.category, ["correct_ledger"]))


def recover_amount(finding: Finding, actions: list[str]) -> int:
    """Money to recover for one finding: its amount at risk when recovery is asked for (owed wages
    are paid, not recovered)."""
    return int(finding.amount_at_risk_fen or 0) if "recover" in actions else 0


def candidates(unit: str, scope_clause) -> list[Finding]:
    """The unit's findings that may go into a new notice: violations, open or confirmed, in the
    user's scope, not already in a notice that is not closed."""
    busy = select(NoticeFinding.finding_id).join(Notice, Notice.id == NoticeFinding.notice_id).where(
        Notice.status != NoticeStatus.CLOSED)
    return list(db.session.scalars(
        select(Finding).where(Finding.unit == unit, Finding.is_active,
                              Finding.category.in_(VIOLATIONS), Finding.id.not_in(busy), scope_clause)
        .order_by(Finding.rule, Finding.period_start, Finding.id)))


def unit_facts(unit: str) -> dict:
    """Kind, addressee and region of a unit: an employing unit (``Position.unit_key``) or a workshop
    (its code); None when no such unit is known."""
    ws = db.session.execute(select(Workshop.name, Workshop.operator, Workshop.district, Workshop.township,
                                   Workshop.village).join(Post, Post.id == Workshop.id)
                            .where(Post.code == unit)).first()
    if ws is not None:
        return {"kind": "workshop", "name": f"{ws.operator}（{ws.name}，{unit}）", "district": ws.district,
                "township": ws.township, "village": ws.village}
    pos = db.session.execute(select(Position.district, Position.township, Position.village)
                             .where(Position.unit_key == unit).limit(1)).first()
    if pos is not None:
        return {"kind": "employer", "name": unit_display(unit), "district": pos.district,
                "township": pos.township, "village": pos.village}
    return {}


def region_of(findings: list[Finding]) -> tuple[str, str | None, str | None] | None:
    """The narrowest region the findings share: (district, township, village) — the village when
    they all lie in one village, else their township, else their district; None when they lie in
    different districts (or name none). A notice's region is that of the findings it holds, never
    that of some other post of an employer of the same name."""
    districts = {f.district for f in findings}
    if len(districts) != 1 or None in districts:
        return None
    townships = {f.township for f in findings}
    township = townships.pop() if len(townships) == 1 else None
    villages = {f.village for f in findings}
    village = villages.pop() if township and len(villages) == 1 else None
    return districts.pop(), township, village


def issuer_of(district: str | None) -> str:
    return current_app.config.get("NOTICE_ISSUER") or f"{district or ''}人力资源和社会保障局"


def number_prefix(district: str | None) -> str:
    """渝 + the district's first character + 人社审, e.g. 渝奉人社审 (config NOTICE_PREFIX overrides)."""
    return current_app.config.get("NOTICE_PREFIX") or f"渝{(district or '市')[0]}人社审"


@unit_of_work
def issue(unit: str, finding_ids: list[str], deadline: dt.date, *, by: str, scope_clause,
          notice_clause=None, actions: dict[str, list[str]] | None = None, requirements: str | None = None,
          today: dt.date | None = None) -> Notice:
    """A notice to ``unit`` for the chosen findings (the unit's, in ``scope_clause``, not in another
    open notice). Its region is the narrowest one the findings share (``region_of``); with
    ``notice_clause`` (the issuer's notice scope) the notice must be one the issuer may see."""
    today = today or dt.date.today()
    facts = unit_facts(unit)
    if not facts:
        raise RectificationError(f"没有找到单位「{unit}」")
    if deadline < today:
        raise RectificationError("整改期限不能早于今天")
    wanted = set(finding_ids)
    if not wanted:
        raise RectificationError("请至少选择一条问题")
    found = [f for f in candidates(unit, scope_clause) if f.id in wanted]
    if len(found) != len(wanted):
        raise RectificationError("所选问题中有的不属于该单位、不在您的管辖范围内、"
                                 "已排除或已在其他整改通知书中")
    region = region_of(found)
    if region is None:
        raise RectificationError("所选问题分属不同区县，一份整改通知书只能发往一个区县的单位："
                                 "请按区县分别选择问题下发")
    district, township, village = region
    year = today.year
    seq = (db.session.scalar(select(func.max(Notice.seq)).where(Notice.year == year,
                                                                Notice.district == district)) or 0) + 1
    notice = Notice(number=f"{number_prefix(district)}〔{year}〕{seq}号", year=year, seq=seq, unit=unit,
                    unit_kind=facts["kind"], unit_name=facts["name"], district=district,
                    township=township, village=village, issuer=issuer_of(district),
                    status=NoticeStatus.ISSUED, deadline=deadline,
                    requirements=(requirements or "").strip() or None,
                    issued_by=by, issued_at=dt.datetime.now(), amount_to_recover_fen=0)
    recover_ids = []
    for f in found:
        acts = [a for a in (actions or {}).get(f.id, default_actions(f)) if a in ACTIONS]
        if not acts:
            if actions is not None and f.id in actions:
                raise RectificationError(f"请为问题「{f.title}（{f.subject_label}）」至少选择一项整改要求")
            acts = default_actions(f)
        fen = recover_amount(f, acts)
        if "recover" in acts:
            recover_ids.append(f.id)
        notice.items.append(NoticeFinding(finding_id=f.id, actions=acts, recover_fen=fen))
        if f.status == FindingStatus.OPEN:  # issuing a notice on a finding confirms it
            f.status, f.reviewed_by, f.reviewed_at = FindingStatus.CONFIRMED, by, dt.datetime.now()
            record("finding.confirm", table="findings", ref=f.id, who=by, old={"status": FindingStatus.OPEN},
                   new={"status": FindingStatus.CONFIRMED, "note": f"随整改通知书 {notice.number} 下发",
                        "rule": f.rule})
    # the notice asks for each payment once, however many of its findings cover it (items keep their own)
    total = total_fen(db.session, Finding.id.in_(recover_ids), kind=RECOVERABLE) if recover_ids else 0
    notice.amount_to_recover_fen = total
    db.session.add(notice)
    db.session.flush()
    if notice_clause is not None and db.session.scalar(
            select(Notice.id).where(Notice.id == notice.id, notice_clause)) is None:
        raise RectificationError("所选问题分属您管辖的不同地区，没有一个您管辖的地区能同时包含它们："
                                 "请按乡镇或村分别选择问题下发整改通知书")
    record("notice.issue", table="notices", row_id=notice.id, ref=notice.number, who=by,
           new={"unit": unit, "deadline": deadline.isoformat(), "findings": len(found), "recover_fen": total})
    return notice
