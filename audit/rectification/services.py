"""The rectification workflow's state changes. Each function checks what it may do, changes the
rows and writes the audit log; the caller commits (or rolls back on an error, whose message is
for the user, in Chinese).

    issue(unit, finding_ids, deadline, by=…, scope_clause=…) -> Notice (auditor)
    answer(notice, text, files, by=…)                     -> NoticeResponse (the unit's operator)
    close(notice, verdict, by=…)                          (auditor: 销号; the findings are closed)
    send_back(notice, verdict, by=…)                      (auditor: 退回, the unit answers again)
    data_check(notice)                                    -> what the latest audit says per finding
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from models import (
    ACTIONS,
    NOTICE_STATUSES,
    AuditRun,
    EvidenceFile,
    Finding,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Position,
    Post,
    Workshop,
    db,
)

from ..auditlog import record
from ..engine.rule import VIOLATIONS

REVIEWABLE = ("open", "confirmed")
MIN_TEXT = 10
MIN_VERDICT = 4
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
        Notice.status != "closed")
    return list(db.session.scalars(
        select(Finding).where(Finding.unit == unit, Finding.status.in_(REVIEWABLE),
                              Finding.category.in_(VIOLATIONS), Finding.id.not_in(busy), scope_clause)
        .order_by(Finding.rule, Finding.period_start, Finding.id)))


def unit_facts(unit: str) -> dict:
    """Kind, addressee and region of a unit: an employing unit (``Position.employer``) or a workshop
    (its code); None when no such unit is known."""
    ws = db.session.execute(select(Workshop.name, Workshop.operator, Workshop.district, Workshop.township,
                                   Workshop.village).join(Post, Post.id == Workshop.id)
                            .where(Post.code == unit)).first()
    if ws is not None:
        return {"kind": "workshop", "name": f"{ws.operator}（{ws.name}，{unit}）", "district": ws.district,
                "township": ws.township, "village": ws.village}
    pos = db.session.execute(select(Position.district, Position.township, Position.village)
                             .where(Position.employer == unit).limit(1)).first()
    if pos is not None:
        return {"kind": "employer", "name": unit, "district": pos.district, "township": pos.township,
                "village": pos.village}
    return {}


def issuer_of(district: str | None) -> str:
    return current_app.config.get("NOTICE_ISSUER") or f"{district or ''}人力资源和社会保障局"


def number_prefix(district: str | None) -> str:
    """渝 + the district's first character + 人社审, e.g. 渝奉人社审 (config NOTICE_PREFIX overrides)."""
    return current_app.config.get("NOTICE_PREFIX") or f"渝{(district or '市')[0]}人社审"


def issue(unit: str, finding_ids: list[str], deadline: dt.date, *, by: str, scope_clause,
          actions: dict[str, list[str]] | None = None, requirements: str | None = None,
          today: dt.date | None = None) -> Notice:
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
        raise RectificationError("所选问题中有的不属于该单位、不在您的管辖范围内、已排除或已在其他整改通知书中")
    year = today.year
    seq = (db.session.scalar(select(func.max(Notice.seq)).where(Notice.year == year,
                                                                Notice.district == facts["district"])) or 0) + 1
    notice = Notice(number=f"{number_prefix(facts['district'])}〔{year}〕{seq}号", year=year, seq=seq, unit=unit,
                    unit_kind=facts["kind"], unit_name=facts["name"], district=facts["district"],
                    township=facts["township"], village=facts["village"], issuer=issuer_of(facts["district"]),
                    status="issued", deadline=deadline, requirements=(requirements or "").strip() or None,
                    issued_by=by, issued_at=dt.datetime.now(), amount_to_recover_fen=0)
    total = 0
    for f in found:
        acts = [a for a in (actions or {}).get(f.id, default_actions(f)) if a in ACTIONS]
        if not acts:
            if actions is not None and f.id in actions:
                raise RectificationError(f"请为问题「{f.title}（{f.subject_label}）」至少选择一项整改要求")
            acts = default_actions(f)
        fen = recover_amount(f, acts)
        total += fen
        notice.items.append(NoticeFinding(finding_id=f.id, actions=acts, recover_fen=fen))
        if f.status == "open":  # issuing a notice on a finding confirms it
            f.status, f.reviewed_by, f.reviewed_at = "confirmed", by, dt.datetime.now()
            record("finding.confirm", table="findings", ref=f.id, who=by, old={"status": "open"},
                   new={"status": "confirmed", "note": f"随整改通知书 {notice.number} 下发", "rule": f.rule})
    notice.amount_to_recover_fen = total
    db.session.add(notice)
    db.session.flush()
    record("notice.issue", table="notices", row_id=notice.id, ref=notice.number, who=by,
           new={"unit": unit, "deadline": deadline.isoformat(), "findings": len(found), "recover_fen": total})
    return notice


# ---- the unit's answer ------------------------------------------------------------------------------

@dataclass
class Upload:
    """A file as the web form gives it: its name and its bytes."""

    name: str
    data: bytes


def clean_name(name: str) -> str:
    """The file's own name, without any folder, control characters or odd spacing (≤ 100 chars)."""
    name = unicodedata.normalize("NFKC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    name = re.sub(r"\s+", " ", name)
    if len(name) > 100:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:90] + dot + ext) if dot else name[:100]
    return name or "附件"


def sniff(data: bytes, ext: str) -> str | None:
    """The content type of a file from its first bytes, if it is of an allowed type and its
    extension says the same."""
    if data.startswith(b"%PDF-"):
        kind = "pdf"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "jpg"
    elif data.startswith(b"PK\x03\x04") and ext in ("xlsx", "docx"):
        import io
        import zipfile

        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        kind = "xlsx" if any(n.startswith("xl/") for n in names) else "docx" if any(
            n.startswith("word/") for n in names) else None
        if kind is None:
            return None
    else:
        return None
    same = {"jpg": ("jpg", "jpeg"), "jpeg": ("jpg", "jpeg")}.get(kind, (kind,))
    return FILE_TYPES[kind] if ext in same else None


def evidence_root() -> Path:
    return Path(current_app.instance_path) / "evidence"


def _checked(up: Upload) -> tuple[str, str]:
    """(clean name, content type) of an allowed file, or an error naming it."""
    limit = int(current_app.config.get("EVIDENCE_MAX_BYTES", 10 << 20))
    name = clean_name(up.name)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not up.data:
        raise RectificationError(f"附件「{name}」是空文件")
    if len(up.data) > limit:
        raise RectificationError(f"附件「{name}」超过 {max(limit // (1 << 20), 1)} MB")
    ctype = sniff(up.data, ext)
    if ctype is None:
        raise RectificationError(f"附件「{name}」的类型不允许或与扩展名不符：只接受 PDF、JPG、PNG、XLSX、DOCX")
    return name, ctype


def _store_file(notice: Notice, up: Upload, name: str, ctype: str) -> EvidenceFile:
    folder = evidence_root() / str(notice.id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{notice.id}/{secrets.token_hex(16)}.bin"  # never the client's name, never executable
    (evidence_root() / stored).write_bytes(up.data)
    return EvidenceFile(name=name, stored=stored, content_type=ctype, size=len(up.data),
                        sha256=hashlib.sha256(up.data).hexdigest())


def answer(notice: Notice, text: str, files: list[Upload], *, by: str) -> NoticeResponse:
    if notice.status not in ("issued", "returned"):
        raise RectificationError(f"该通知书当前为「{NOTICE_STATUSES[notice.status]}」，不能再回复")
    text = (text or "").strip()
    if len(text) < MIN_TEXT:
        raise RectificationError(f"请写明整改情况（至少 {MIN_TEXT} 个字）")
    files = [f for f in files if f.name or f.data]
    if len(files) > MAX_FILES:
        raise RectificationError(f"一次最多上传 {MAX_FILES} 个附件")
    checked = [_checked(f) for f in files]  # every file checked before any is written
    stored = [_store_file(notice, f, name, ctype) for f, (name, ctype) in zip(files, checked)]
    response = NoticeResponse(by=by, at=dt.datetime.now(), text=text, files=stored)
    notice.responses.append(response)
    old = notice.status
    notice.status, notice.answered_at = "answered", response.at
    db.session.flush()
    record("notice.answer", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": "answered", "files": [{"name": f.name, "sha256": f.sha256, "size": f.size}
                                                for f in stored]})
    return response


def evidence_path(f: EvidenceFile) -> Path:
    path = (evidence_root() / f.stored).resolve()
    if evidence_root().resolve() not in path.parents:
        raise RectificationError("附件路径无效")
    return path


# ---- verification ---------------------------------------------------------------------------------

def close(notice: Notice, verdict: str, *, by: str) -> None:
    """销号: the answer and the data were verified; the notice's findings are closed."""
    if notice.status != "answered":
        raise RectificationError("只有单位已回复的通知书才能销号")
    old = notice.status
    notice.status, notice.closed_by, notice.closed_at = "closed", by, dt.datetime.now()
    notice.verdict = (verdict or "").strip() or "整改到位，准予销号"
    findings = _findings_of(notice)
    for item in notice.items:
        f = findings.get(item.finding_id)
        if f is not None and f.status != "dismissed":
            record("finding.close", table="findings", ref=f.id, who=by, old={"status": f.status},
                   new={"status": "closed", "note": f"整改通知书 {notice.number} 销号", "rule": f.rule})
            f.status = "closed"
    record("notice.close", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": "closed", "verdict": notice.verdict})


def send_back(notice: Notice, verdict: str, *, by: str) -> None:
    """退回: the answer is not enough; the unit must answer again (the deadline stays)."""
    if notice.status != "answered":
        raise RectificationError("只有单位已回复的通知书才能退回")
    verdict = (verdict or "").strip()
    if len(verdict) < MIN_VERDICT:
        raise RectificationError(f"退回必须写明理由（至少 {MIN_VERDICT} 个字）")
    notice.status, notice.verdict = "returned", verdict
    record("notice.return", table="notices", row_id=notice.id, ref=notice.number, who=by,
           old={"status": "answered"}, new={"status": "returned", "verdict": verdict})


def _findings_of(notice: Notice) -> dict[str, Finding]:
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
    findings = _findings_of(notice)
    for item in notice.items:
        f = findings.get(item.finding_id)
        if f is None:
            continue
        if f.status == "resolved" or (f.status == "closed" and f.resolved_at is not None):
            # a resolved finding names the run that no longer found it; a closed one keeps the last
            # run that did, so name the run under way when its facts were found gone
            run = f.last_run_id if f.status == "resolved" else db.session.scalar(
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
