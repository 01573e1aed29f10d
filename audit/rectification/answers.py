"""The unit's answer to a notice: item by item (已清退 / 已追回 / 已更正台账 / 情况说明), kept as a draft
or submitted, with its evidence files (checked by their first bytes, stored under names of their own).
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

from models import (
    ITEM_ACTIONS,
    NOTICE_STATUSES,
    EvidenceFile,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeResponse,
    NoticeStatus,
    Recovery,
    db,
)
from models.rectification import WAITING_FOR_UNIT

from ..auditlog import record
from ..transaction import unit_of_work
from .services import (
    FILE_TYPES,
    MAX_FILES,
    MAX_NOTE,
    MIN_TEXT,
    RectificationError,
    evidence_root,
    item_labels,
    item_state,
    latest_answers,
)


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


def checked_file(up: Upload) -> tuple[str, str]:
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
        raise RectificationError(f"附件「{name}」的类型不允许或与扩展名不符："
                                 "只接受 PDF、JPG、PNG、XLSX、DOCX")
    return name, ctype


def store_file(notice: Notice, up: Upload, name: str, ctype: str) -> EvidenceFile:
    folder = evidence_root() / str(notice.id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{notice.id}/{secrets.token_hex(16)}.bin"  # never the client's name, never executable
    (evidence_root() / stored).write_bytes(up.data)
    return EvidenceFile(notice_id=notice.id, name=name, stored=stored, content_type=ctype, size=len(up.data),
                        sha256=hashlib.sha256(up.data).hexdigest())


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


def parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def to_answer(notice: Notice) -> list[NoticeFinding]:
    """The items the unit is to answer now: not closed, and never answered or sent back since."""
    latest = latest_answers(notice)
    return [i for i in notice.items
            if item_state(i, latest.get(i.id, {}).get("submitted")) in ("waiting", "returned")]


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
    checked) or submitted (every item to answer needs its action). Errors come all at once, by field.
    One unit of work; if it fails once files were written, they are removed: no file is left behind
    without its row."""
    written: list[Path] = []
    try:
        return _save_answer(notice, inputs, text, files, by=by, submit=submit, today=today, written=written)
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        raise


@unit_of_work
def _save_answer(notice: Notice, inputs: dict[int, ItemInput], text: str, files: list[Upload], *, by: str,
                 submit: bool, today: dt.date | None, written: list[Path]) -> NoticeResponse:
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
        row = {"action": action, "amount_fen": None, "on_date": None,
               "text": (got.text or "").strip()[:MAX_NOTE] or None, "file": None, "keep_file": None}
        if got.file is not None and (got.file.name or got.file.data):
            try:
                row["file"] = (got.file, *checked_file(got.file))
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
                    errors[field(item.id, "amount")] = (f"{label}：追回金额应为大于 0 的元数，"
                                                        "最多两位小数，例如 800.00")
                else:
                    row["amount_fen"] = fen
            if not (got.date or "").strip():
                if submit:
                    errors[field(item.id, "date")] = f"{label}：已追回须填写追回日期"
            else:
                day = parse_date(got.date)
                if day is None:
                    errors[field(item.id, "date")] = f"{label}：追回日期格式应为 年-月-日，例如 2026-03-31"
                elif day > today:
                    errors[field(item.id, "date")] = f"{label}：追回日期不能晚于今天"
                else:
                    row["on_date"] = day
            if submit and row["file"] is None and row["keep_file"] is None \
                    and field(item.id, "file") not in errors:
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
            general.append((f, *checked_file(f)))
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
        ef = store_file(notice, up, name, ctype)
        written.append(evidence_path(ef))
        draft.files.append(ef)
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
            ef = store_file(notice, up, name, ctype)
            written.append(evidence_path(ef))
            draft.files.append(ef)
            db.session.flush()
            file_id = ef.id
        a = ItemAnswer(notice_id=notice.id, item_id=item.id, response_id=draft.id, action=row["action"],
                       amount_fen=row["amount_fen"], on_date=row["on_date"], text=row["text"],
                       file_id=file_id, state="draft", by=by, at=now)
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
    notice.status, notice.answered_at = NoticeStatus.ANSWERED, now
    db.session.flush()
    record("notice.answer", table="notices", row_id=notice.id, ref=notice.number, who=by, old={"status": old},
           new={"status": NoticeStatus.ANSWERED,
                "items": {labels[a.item_id]: ITEM_ACTIONS[a.action] for a in answers},
                "recovered_fen": recovered,
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in draft.files]})
    return draft


def evidence_path(f: EvidenceFile) -> Path:
    path = (evidence_root() / f.stored).resolve()
    if evidence_root().resolve() not in path.parents:
        raise RectificationError("附件路径无效")
    return path


@unit_of_work
def log_download(notice: Notice, f: EvidenceFile) -> None:
    """An evidence file handed out: its log entry, committed before the file is sent."""
    record("evidence.download", table="evidence_files", row_id=f.id, ref=f"{notice.number} {f.name}",
           new={"notice_id": notice.id, "name": f.name, "sha256": f.sha256, "size": f.size})
