"""The rectification workflow's state changes. Each function checks what it may do, changes the
rows and writes the audit log; the caller commits (or rolls back on an error, whose message is
for the user, in Chinese).

    issue(unit, finding_ids, deadline, by=…, scope_clause=…) -> Notice (auditor)
    save_answer(notice, inputs, text, files, by=…, submit=…) -> NoticeResponse (the unit's operator:
        an answer per item — 已清退 / 已追回 / 已更正台账 / 情况说明 — kept as a draft or submitted;
        a submitted 已追回 records the money actually recovered)
    close_item(notice, item, by=…, basis='data'|'override', reason=…)   (auditor: 销号 of one item)
    send_back_item(notice, item, reason, by=…)              (auditor: 退回 one item)
    record_recovery(notice, item, on_date, amount_fen, voucher, by=…)    (auditor: 实际追回)
    close(notice, verdict, by=…)          (auditor: 销号 of the notice — every item confirmed by the
                                           data or closed by an override with a reason)
    send_back(notice, verdict, by=…)      (auditor: 退回 every answered item, the unit answers again)
    data_check(notice)                    -> what the latest audit says per finding
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
    ITEM_ACTIONS,
    NOTICE_STATUSES,
    AuditRun,
    EvidenceFile,
    Finding,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Person,
    Position,
    Post,
    Recovery,
    Workshop,
    db,
    unit_display,
)
from models.rectification import CLOSE_BASES, WAITING_FOR_UNIT

from ..auditlog import record
from ..engine.rule import VIOLATIONS
from ..findings.money import RECOVERABLE, total_fen
from ..money import yuan

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
        raise RectificationError("所选问题中有的不属于该单位、不在您的管辖范围内、已排除或已在其他整改通知书中")
    region = region_of(found)
    if region is None:
        raise RectificationError("所选问题分属不同区县，一份整改通知书只能发往一个区县的单位：请按区县分别选择问题下发")
    district, township, village = region
    year = today.year
    seq = (db.session.scalar(select(func.max(Notice.seq)).where(Notice.year == year,
                                                                Notice.district == district)) or 0) + 1
    notice = Notice(number=f"{number_prefix(district)}〔{year}〕{seq}号", year=year, seq=seq, unit=unit,
                    unit_kind=facts["kind"], unit_name=facts["name"], district=district,
                    township=township, village=village, issuer=issuer_of(district),
                    status="issued", deadline=deadline, requirements=(requirements or "").strip() or None,
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
        if f.status == "open":  # issuing a notice on a finding confirms it
            f.status, f.reviewed_by, f.reviewed_at = "confirmed", by, dt.datetime.now()
            record("finding.confirm", table="findings", ref=f.id, who=by, old={"status": "open"},
                   new={"status": "confirmed", "note": f"随整改通知书 {notice.number} 下发", "rule": f.rule})
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
    return EvidenceFile(notice_id=notice.id, name=name, stored=stored, content_type=ctype, size=len(up.data),
                        sha256=hashlib.sha256(up.data).hexdigest())


ITEM_STATES = {"waiting": "待单位回复", "answered": "单位已回复，待核验", "returned": "已退回，待重新整改",
               "closed": "已销号"}


class AnswerInvalid(RectificationError):
    """An answer with errors: ``errors`` maps each form field to its message (in the page's order)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(errors.values()))
        self.errors = errors


@dataclass
class ItemInput:
    """What the form gives for one item: the action, and for 已追回 the amount (yuan), the date and
    the voucher; for 情况说明 the text; an optional file."""

    action: str = ""
    amount: str = ""
    date: str = ""
    text: str = ""
    file: Upload | None = None


def field(item_id: int, name: str) -> str:
    """The form field (and its element id) of one item's answer: ``a-<item>-<name>``."""
    return f"a-{item_id}-{name}"


def parse_yuan(text: str) -> int | None:
    """``1,200.5`` / ``¥1200`` / ``1200元`` -> fen; None when it is not an amount of yuan (a comma only
    between groups of three digits)."""
    t = unicodedata.normalize("NFKC", text or "").strip().replace("¥", "").removesuffix("元").strip()
    m = re.fullmatch(r"(\d{1,3}(?:,\d{3})+|\d{1,12})(?:\.(\d{1,2}))?", t)
    if not m:
        return None
    return int(m[1].replace(",", "")) * 100 + int((m[2] or "0").ljust(2, "0"))


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


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


def to_answer(notice: Notice) -> list[NoticeFinding]:
    """The items the unit is to answer now: not closed, and never answered or sent back since."""
    latest = latest_answers(notice)
    return [i for i in notice.items if item_state(i, latest.get(i.id, {}).get("submitted")) in ("waiting", "returned")]


def item_labels(notice: Notice) -> dict[int, str]:
    """「第 1 条（PS01 王大山）」 per item, for messages."""
    ids = [i.finding_id for i in notice.items]
    rows = dict(db.session.execute(select(Finding.id, func.coalesce(Person.name, Finding.subject_label))
                                   .outerjoin(Person, Person.id == Finding.person_id)
                                   .where(Finding.id.in_(ids))).all()) if ids else {}
    rules = dict(db.session.execute(select(Finding.id, Finding.rule).where(Finding.id.in_(ids))).all()) if ids else {}
    return {i.id: f"第 {n} 条（{rules.get(i.finding_id, '')} {rows.get(i.finding_id, '')}）"
            for n, i in enumerate(notice.items, 1)}


def _draft(notice: Notice, by: str) -> NoticeResponse:
    """The notice's draft answer (one per notice), made when missing."""
    draft = next((r for r in notice.responses if r.state == "draft"), None)
    if draft is None:
        draft = NoticeResponse(by=by, at=dt.datetime.now(), text="", state="draft")
        notice.responses.append(draft)
    return draft


def save_answer(notice: Notice, inputs: dict[int, ItemInput], text: str, files: list[Upload], *, by: str,
                submit: bool, today: dt.date | None = None) -> NoticeResponse:
    """The unit's answer, item by item: kept as a draft (``submit=False``: only what was filled in is
    checked) or submitted (every item to answer needs its action). Errors come all at once, by field."""
    if notice.status not in WAITING_FOR_UNIT:
        raise RectificationError(f"该通知书当前为「{NOTICE_STATUSES[notice.status]}」，不能再回复")
    today = today or dt.date.today()
    open_items = to_answer(notice)
    if not open_items:
        raise RectificationError("该通知书没有待回复的问题")
    labels = item_labels(notice)
    previous = latest_answers(notice)
    errors: dict[str, str] = {}
    checked: dict[int, dict] = {}
    for item in open_items:
        got = inputs.get(item.id) or ItemInput()
        label = labels[item.id]
        kept_draft = previous.get(item.id, {}).get("draft")
        action = (got.action or "").strip()
        if not action:
            if submit:
                errors[field(item.id, "action")] = f"{label}：请选择整改措施"
            continue
        if action not in ITEM_ACTIONS:
            errors[field(item.id, "action")] = f"{label}：整改措施无效"
            continue
        row = {"action": action, "amount_fen": None, "on_date": None, "text": (got.text or "").strip()[:MAX_NOTE] or None,
               "file": None, "keep_file": None}
        if got.file is not None and (got.file.name or got.file.data):
            try:
                row["file"] = (got.file, *_checked(got.file))
            except RectificationError as exc:
                errors[field(item.id, "file")] = f"{label}：{exc}"
        elif kept_draft is not None and kept_draft.file_id is not None:
            row["keep_file"] = kept_draft.file_id  # the file saved with the draft stays
        if action == "recovered":
            if not (got.amount or "").strip():
                if submit:
                    errors[field(item.id, "amount")] = f"{label}：已追回须填写追回金额（元）"
            else:
                fen = parse_yuan(got.amount)
                if fen is None or fen <= 0:
                    errors[field(item.id, "amount")] = f"{label}：追回金额应为大于 0 的元数，最多两位小数，例如 800.00"
                else:
                    row["amount_fen"] = fen
            if not (got.date or "").strip():
                if submit:
                    errors[field(item.id, "date")] = f"{label}：已追回须填写追回日期"
            else:
                day = _date(got.date)
                if day is None:
                    errors[field(item.id, "date")] = f"{label}：追回日期格式应为 年-月-日，例如 2026-03-31"
                elif day > today:
                    errors[field(item.id, "date")] = f"{label}：追回日期不能晚于今天"
                else:
                    row["on_date"] = day
            if submit and row["file"] is None and row["keep_file"] is None and field(item.id, "file") not in errors:
                errors[field(item.id, "file")] = f"{label}：已追回须上传缴款凭证（PDF、JPG、PNG）"
        if action == "explained" and len(row["text"] or "") < MIN_TEXT and (submit or row["text"]):
            errors[field(item.id, "text")] = f"{label}：情况说明至少 {MIN_TEXT} 个字"
        checked[item.id] = row
    text = (text or "").strip()
    files = [f for f in files if f.name or f.data]
    if len(files) > MAX_FILES:
        errors["files"] = f"一次最多上传 {MAX_FILES} 个附件"
    general = []
    for f in files[:MAX_FILES]:
        try:
            general.append((f, *_checked(f)))
        except RectificationError as exc:
            errors["files"] = str(exc)
    if errors:
        raise AnswerInvalid(errors)

    # every check passed: the files are written, the draft is updated, and perhaps submitted
    draft = _draft(notice, by)
    now = dt.datetime.now()
    draft.at, draft.by = now, by
    if text or submit:
        draft.text = text
    for up, name, ctype in general:
        draft.files.append(_store_file(notice, up, name, ctype))
    db.session.flush()
    answers: list[ItemAnswer] = []
    for item in open_items:
        row = checked.get(item.id)
        old = previous.get(item.id, {}).get("draft")
        if row is None:
            continue
        if old is not None:
            db.session.delete(old)
        file_id = row["keep_file"]
        if row["file"] is not None:
            up, name, ctype = row["file"]
            ef = _store_file(notice, up, name, ctype)
            draft.files.append(ef)
            db.session.flush()
            file_id = ef.id
        a = ItemAnswer(notice_id=notice.id, item_id=item.id, response_id=draft.id, action=row["action"],
                       amount_fen=row["amount_fen"], on_date=row["on_date"], text=row["text"], file_id=file_id,
                       state="draft", by=by, at=now)
        db.session.add(a)
        answers.append(a)
    db.session.flush()
    if not submit:
        record("notice.draft", table="notices", row_id=notice.id, ref=notice.number, who=by,
               new={"draft_items": len(answers), "draft_files": len(draft.files)})
        return draft
    # submitted: the draft becomes the answer; 已追回 is money actually recovered
    draft.state = "submitted"
    if not draft.text:
        draft.text = "；".join(f"{labels[a.item_id]}{ITEM_ACTIONS[a.action]}" for a in answers)
    recovered = 0
    for a in answers:
        a.state = "submitted"
        if a.action == "recovered":
            recovered += a.amount_fen or 0
            db.session.add(Recovery(notice_id=notice.id, item_id=a.item_id, recovered_on=a.on_date,
                                    amount_fen=a.amount_fen, voucher_id=a.file_id, note="单位回复",
                                    recorded_by=by, recorded_at=now))
    old = notice.status
    notice.status, notice.answered_at = "answered", now
    db.session.flush()
    record("notice.answer", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": "answered", "items": {labels[a.item_id]: ITEM_ACTIONS[a.action] for a in answers},
                "recovered_fen": recovered,
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in draft.files]})
    return draft


def evidence_path(f: EvidenceFile) -> Path:
    path = (evidence_root() / f.stored).resolve()
    if evidence_root().resolve() not in path.parents:
        raise RectificationError("附件路径无效")
    return path


# ---- verification ---------------------------------------------------------------------------------

def _auditable(notice: Notice, item: NoticeFinding) -> None:
    if item.notice_id != notice.id:
        raise RectificationError("该问题不属于这份通知书")
    if notice.status == "closed":
        raise RectificationError("该通知书已销号")
    if item.close_basis:
        raise RectificationError("该问题已销号")


def confirmed_by_data(item: NoticeFinding, finding: Finding | None, answered_at: dt.datetime | None) -> bool:
    """An audit run no longer finds the finding: it is ``resolved`` (the latest run did not find it),
    or its facts were found gone after the unit's answer."""
    if finding is None:
        return False
    if finding.status == "resolved":
        return True
    return finding.resolved_at is not None and answered_at is not None and finding.resolved_at >= answered_at


def _close_item(notice: Notice, item: NoticeFinding, f: Finding | None, basis: str, reason: str | None,
                by: str, label: str) -> None:
    item.close_basis, item.close_reason, item.closed_by, item.closed_at = basis, reason, by, dt.datetime.now()
    if f is not None and f.status not in ("dismissed", "closed"):
        record("finding.close", table="findings", ref=f.id, who=by, old={"status": f.status},
               new={"status": "closed", "note": f"整改通知书 {notice.number} {label} 销号", "rule": f.rule})
        f.status = "closed"
    record("notice.item_close", table="notices", row_id=notice.id, ref=notice.number, who=by,
           new={"item": label, "basis": basis, "basis_zh": CLOSE_BASES[basis], "reason": reason})


def close_item(notice: Notice, item: NoticeFinding, *, by: str, basis: str = "data",
               reason: str | None = None) -> bool:
    """销号 of one item: by the data (an audit run no longer finds it) or by an override with a
    written reason. Closing the last item closes the notice. True when the notice was closed."""
    _auditable(notice, item)
    label = item_labels(notice)[item.id]
    f = _findings_of(notice).get(item.finding_id)
    if basis == "data":
        submitted = latest_answers(notice).get(item.id, {}).get("submitted")
        if not confirmed_by_data(item, f, submitted.at if submitted else notice.answered_at):
            raise RectificationError(f"{label}：审计数据尚未确认整改到位（需在单位回复后重新运行审计且不再发现该问题），"
                                     f"不能按数据销号；如确需销号，请人工销号并写明理由")
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


def send_back_item(notice: Notice, item: NoticeFinding, reason: str, *, by: str) -> None:
    """退回 one answered item: the unit answers it again (the deadline stays)."""
    _auditable(notice, item)
    label = item_labels(notice)[item.id]
    submitted = latest_answers(notice).get(item.id, {}).get("submitted")
    if item_state(item, submitted) != "answered":
        raise RectificationError(f"{label}：单位尚未回复该问题，不能退回")
    reason = (reason or "").strip()
    if len(reason) < MIN_VERDICT:
        raise RectificationError(f"{label}：退回必须写明理由（至少 {MIN_VERDICT} 个字）")
    item.returned_reason, item.returned_by, item.returned_at = reason[:MAX_NOTE], by, dt.datetime.now()
    old = notice.status
    notice.status = "returned"
    record("notice.item_return", table="notices", row_id=notice.id, ref=notice.number, who=by,
           old={"status": old}, new={"status": "returned", "item": label, "verdict": reason})


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
        name, ctype = _checked(voucher)
        ef = _store_file(notice, voucher, name, ctype)
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
    notice.status, notice.closed_by, notice.closed_at = "closed", by, dt.datetime.now()
    notice.verdict = verdict
    record("notice.close", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": "closed", "verdict": notice.verdict})


def close(notice: Notice, verdict: str, *, by: str) -> None:
    """销号 of the notice: every item not yet closed must be confirmed by the data (they are closed
    as 数据已消除); an item the data does not confirm is named, and nothing changes."""
    if notice.status != "answered":
        raise RectificationError("只有单位已回复的通知书才能销号")
    findings = _findings_of(notice)
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
        raise RectificationError(f"以下问题尚未经审计数据确认整改到位，也未人工销号，不能销号：{'、'.join(blocked)}。"
                                 f"请在单位整改后重新运行审计，或逐条人工销号并写明理由")
    for item in pending:
        _close_item(notice, item, findings.get(item.finding_id), "data", None, by, labels[item.id])
    _close_notice(notice, (verdict or "").strip()[:MAX_NOTE] or "整改到位，准予销号", by)


def send_back(notice: Notice, verdict: str, *, by: str) -> None:
    """退回: the answer is not enough; every answered item not closed goes back to the unit (the
    deadline stays)."""
    if notice.status != "answered":
        raise RectificationError("只有单位已回复的通知书才能退回")
    verdict = (verdict or "").strip()
    if len(verdict) < MIN_VERDICT:
        raise RectificationError(f"退回必须写明理由（至少 {MIN_VERDICT} 个字）")
    now = dt.datetime.now()
    for item in notice.items:
        if not item.close_basis:
            item.returned_reason, item.returned_by, item.returned_at = verdict[:MAX_NOTE], by, now
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
