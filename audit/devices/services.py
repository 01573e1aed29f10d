"""Device tokens and the check-ins devices push (shared/docs/precheck.md, "Attendance from
devices — 考勤接口").

Tokens
- A token is ``secrets.token_urlsafe(32)``, shown once when it is made; only its SHA-256 is kept
  (a random secret of 256 bits needs no salt or slow hash), with its first characters for display.
- A token is bound to one unit as an operator is (``models.UserScope``): a workshop by its code, or
  an employing unit by its key (``models.unit_key``, ``奉节县/白帝镇/白帝村村民委员会``). The unit must
  be in the loaded ledgers. Revoking is for good (a device that needs one again gets a new token).
- Making and revoking a token are in the audit log (``device.create``, ``device.revoke``).

Records (``receive``), set-based: one batch of at most ``MAX_RECORDS`` records is parsed with the
importer's own cell parsers (``ledger.schema``, table ``attendance``), its persons (by the keyed
hash of the ID number) and posts are looked up at once, then written with one executemany per
table, in one transaction with one ``device.attendance`` audit-log entry (counts only, no ID).
Each record is answered in order:
- ``stored``: written to ``attendance`` as a machine record (its ``method`` must be one of the
  machines' methods, 人脸识别 / 指纹 / 小程序定位: a device may not send 手工登记, which is what
  would let an operator overwrite the day later). A day entered by hand (手工登记, or without a
  method) is replaced by the machine's record (``"replaced": true``): the machine's check-in is the
  evidence, the hand entry was a stand-in for it.
- ``duplicate``: the device sent this ``record_id`` before (ids are unique per device, stored in
  ``device_records``), or twice in this batch, or the day (person, post, date) already holds a
  machine record — from this device, another device or an imported ledger: the first record is
  kept, never overwritten (it may already be evidence in a finding).
- ``error`` with ``status`` and a Chinese ``reason``: 422 for a record that cannot be read (a bad or
  missing value, an unknown person or post, a day after the as-of date), 403 for a post that is not
  of the token's unit. A record in error is not remembered: the device may send it again, fixed,
  under the same ``record_id``.
A person need not hold the post that day to be stored: a check-in is evidence either way, and the
audit's rules (PS03 and others) judge it, as they judge an imported ledger.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from models import (
    Attendance,
    DeviceCall,
    DeviceRecord,
    DeviceToken,
    Person,
    Position,
    Post,
    Workshop,
    db,
    unit_display,
)

from ..attendance.services import METHOD as HAND_METHOD
from ..attendance.services import machine_record
from ..auditlog import record
from ..engine.asof import as_of_date
from ..ledger import values as v
from ..ledger.schema import BY_NAME
from ..pii import mask_id
from ..transaction import unit_of_work
from ..vocab import CHECK_IN_METHODS

MAX_RECORDS = 1000
TOKEN_PREFIX = 6  # characters of the token kept for display
# the check-in methods of machines (vocab.CHECK_IN_METHODS but 手工登记)
MACHINE_METHODS = tuple(m for m in CHECK_IN_METHODS if m != HAND_METHOD)
RECORD_ID_MAX = 64
KEEP_CALLS = dt.timedelta(days=1)
ACTOR_PREFIX = "device:"


class DeviceError(ValueError):
    """A request about device tokens that cannot be done; the message is for people, in Chinese."""


# ---- tokens --------------------------------------------------------------------------------------

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_of(name: str) -> str:
    return (ACTOR_PREFIX + name)[:64]


def parse_unit(text: str) -> tuple[str, str]:
    """``(unit_kind, unit)`` of a unit as people write it: a workshop's code (``CJ-A1``,
    ``workshop:CJ-A1``), or an employing unit's key (``奉节县/白帝镇/白帝村村民委员会``; also
    ``employer:`` followed by the key or by a name that only one unit bears). It must be in the
    loaded ledgers."""
    from ..auth.services import UserError, employer_key

    text = (text or "").strip().replace("：", ":")
    if not text:
        raise DeviceError("请指定设备所属单位：车间编号，或用工单位（区县/乡镇/单位名称）")
    kind = None
    if ":" in text:
        prefix, _, rest = text.partition(":")
        kind = {"workshop": "workshop", "车间": "workshop", "employer": "employer",
                "用工单位": "employer"}.get(prefix.strip())
        if kind is None or not rest.strip():
            raise DeviceError(f"单位「{text[:40]}」应写作 车间编号 或 区县/乡镇/用工单位名称"
                              "（也可写 workshop:车间编号、employer:用工单位）")
        text = rest.strip()
    if kind is None:
        kind = "employer" if "/" in text.replace("／", "/") else "workshop"
    if len(text) > 200:
        raise DeviceError("单位名称过长")
    if kind == "workshop":
        code = v.code(text)
        found = db.session.scalar(select(Post.code).where(Post.code == code, Post.kind == "workshop"))
        if found is None:
            raise DeviceError(f"没有编号为「{code}」的就业帮扶车间（请先导入车间台账，或核对编号）")
        return "workshop", found
    try:
        key = employer_key(text)
    except UserError as exc:
        raise DeviceError(str(exc)) from None
    found = db.session.scalar(select(Position.id).where(Position.unit_key == key).limit(1))
    if found is None:
        raise DeviceError(f"已导入的岗位中没有用工单位「{text}」：请写作 区县/乡镇/单位名称"
                          "（如 奉节县/白帝镇/白帝村村民委员会），或先导入岗位台账")
    return "employer", key


def unit_label(kind: str, unit: str) -> str:
    """How people read a token's unit: a workshop by its name and code, an employer by its name."""
    if kind == "workshop":
        name = db.session.scalar(select(Workshop.name).join(Post, Post.id == Workshop.id)
                                 .where(Post.code == unit))
        return f"{name}（{unit}）" if name else unit
    return unit_display(unit)


def _check_name(name: str) -> str:
    name = v.nfkc(name or "")
    if not name:
        raise DeviceError("请填写设备名称")
    if len(name) > 64:
        raise DeviceError("设备名称不超过 64 个字符")
    if v.has_controls(name):
        raise DeviceError("设备名称不能含控制字符")
    return name


@unit_of_work
def create_token(name: str, unit_text: str, *, by: str) -> tuple[DeviceToken, str]:
    """A new token for the device ``name`` (unique) of a unit; returns it and the secret, which is
    never stored and cannot be shown again. Committed with its audit-log entry (one unit of work)."""
    name = _check_name(name)
    if db.session.scalar(select(DeviceToken.id).where(DeviceToken.name == name)) is not None:
        raise DeviceError(f"已有名为「{name}」的设备（名称不能重复；吊销的设备也占用名称）")
    kind, unit = parse_unit(unit_text)
    secret = secrets.token_urlsafe(32)
    tok = DeviceToken(name=name, unit_kind=kind, unit=unit, token_hash=token_hash(secret),
                      token_prefix=secret[:TOKEN_PREFIX], created_at=dt.datetime.now(), created_by=by[:64])
    db.session.add(tok)
    db.session.flush()
    record("device.create", table="device_tokens", row_id=tok.id, ref=name, who=by,
           new={"name": name, "unit_kind": kind, "unit": unit, "prefix": tok.token_prefix})
    return tok, secret


def tokens() -> list[DeviceToken]:
    """Every token, the live ones first, newest first."""
    return list(db.session.scalars(select(DeviceToken).order_by(DeviceToken.revoked_at.is_not(None),
                                                                DeviceToken.created_at.desc(),
                                                                DeviceToken.id.desc())))


def by_name(name: str) -> DeviceToken | None:
    return db.session.scalar(select(DeviceToken).where(DeviceToken.name == v.nfkc(name or "")))


@unit_of_work
def revoke(tok: DeviceToken, *, by: str) -> None:
    """Revoke a token for good (from its next call on: 401). One unit of work."""
    if tok.revoked_at is not None:
        raise DeviceError(f"设备「{tok.name}」的令牌已于 {tok.revoked_at:%Y-%m-%d %H:%M} 吊销")
    tok.revoked_at = dt.datetime.now()
    tok.revoked_by = by[:64]
    record("device.revoke", table="device_tokens", row_id=tok.id, ref=tok.name, who=by,
           new={"name": tok.name, "unit_kind": tok.unit_kind, "unit": tok.unit})


def authenticate(header: str | None) -> tuple[DeviceToken | None, str]:
    """The live token an ``Authorization: Bearer …`` header carries, or None and why not
    (``missing``, ``malformed``, ``unknown``, ``revoked``)."""
    if not header:
        return None, "missing"
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 256:
        return None, "malformed"
    tok = db.session.scalar(select(DeviceToken).where(DeviceToken.token_hash == token_hash(secret)))
    if tok is None:
        return None, "unknown"
    if tok.revoked_at is not None:
        return tok, "revoked"
    return tok, "ok"


# ---- records -------------------------------------------------------------------------------------

ATT = BY_NAME["attendance"]
# the record's fields: the attendance table's columns (the importer's parsers), device_id bounded
# by its column's width (PostgreSQL would refuse a longer one)
FIELDS = {c.key: (c.zh, v.within(v.code, 64) if c.key == "device_id" else c.parse, c.required)
          for c in ATT.columns}


class RecordError(ValueError):
    def __init__(self, reason: str, status: int = 422):
        super().__init__(reason)
        self.status = status


@dataclass
class Parsed:
    i: int
    record_id: str
    id_number: str
    post_code: str
    work_date: dt.date
    status: str
    check_in_time: dt.time | None
    method: str
    device_id: str | None
    verified: str | None


def _record_id(value) -> str:
    if isinstance(value, bool) or value is None:
        raise RecordError("缺少 record_id（设备为每条记录取的唯一编号）")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RecordError("record_id 应为非空字符串")
    value = value.strip()
    if len(value) > RECORD_ID_MAX or v.has_controls(value):
        raise RecordError(f"record_id 最长 {RECORD_ID_MAX} 个字符，且不能含控制字符")
    return value


def parse_record(i: int, raw: Any) -> Parsed:
    """One record of the request, each field by the importer's parser; raises ``RecordError``."""
    if not isinstance(raw, dict):
        raise RecordError("每条记录应为一个 JSON 对象")
    rid = _record_id(raw.get("record_id"))
    out: dict[str, Any] = {}
    for key, (zh, parse, required) in FIELDS.items():
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required or key == "method":
                raise RecordError(f"缺少 {key}（{zh}）")
            out[key] = None
            continue
        if not isinstance(value, str):
            raise RecordError(f"{key}（{zh}）应为字符串")
        try:
            out[key] = parse(value)
        except v.CellError as exc:
            raise RecordError(f"{key}（{zh}）：{v.nfkc(str(exc))}") from None
    if out["method"] not in MACHINE_METHODS:
        raise RecordError(f"method（签到方式）应为设备的签到方式（{'、'.join(MACHINE_METHODS)}）："
                          f"{HAND_METHOD}只能由经办人在考勤填报页面录入")
    return Parsed(i, rid, **out)


@dataclass
class Receipt:
    results: list[dict] = field(default_factory=list)
    stored: int = 0
    replaced: int = 0
    duplicate: int = 0
    error: int = 0

    def counts(self) -> dict[str, int]:
        return {"received": len(self.results), "stored": self.stored, "replaced": self.replaced,
                "duplicate": self.duplicate, "error": self.error}


class Busy(RuntimeError):
    """The database stayed busy or a concurrent call wrote the same records: nothing was stored."""


def _posts(codes: set[str]) -> dict[str, tuple[int, str, str]]:
    """``{code: (post id, unit kind, unit)}``: a workshop's unit is its code, a position's its
    employing unit's key (unit kinds as a token's: 'workshop', 'employer')."""
    if not codes:
        return {}
    q = (select(Post.id, Post.code, Post.kind, Position.unit_key.label("unit"))
         .outerjoin(Position, Position.id == Post.id).where(Post.code.in_(sorted(codes))))
    return {r.code: (r.id, "workshop", r.code) if r.kind == "workshop" else (r.id, "employer", r.unit)
            for r in db.session.execute(q)}


def receive(tok: DeviceToken, raw_records: list, *, now: dt.datetime | None = None) -> Receipt:
    """Store a batch of records of a device (see the module's docstring); one transaction, committed
    here with its call and its audit-log entry. A concurrent call that wrote the same record or day
    first makes the batch run once more (it then reads them as duplicates); ``Busy`` after that."""
    for _attempt in range(3):
        try:
            return _receive(tok, raw_records, now or dt.datetime.now())
        except (IntegrityError, OperationalError):
            db.session.rollback()
            tok = db.session.get(DeviceToken, tok.id)
    raise Busy("数据库繁忙，本次未写入任何记录，请稍后重试")


def _receive(tok: DeviceToken, raw_records: list, now: dt.datetime) -> Receipt:
    pii = current_app.extensions["pii"]
    as_of = as_of_date()
    out = Receipt(results=[{} for _ in raw_records])

    def error(i: int, rid, reason: str, status: int = 422) -> None:
        out.results[i] = {"record_id": rid, "result": "error", "status": status, "reason": reason}
        out.error += 1

    def duplicate(i: int, rid: str, reason: str) -> None:
        out.results[i] = {"record_id": rid, "result": "duplicate", "reason": reason}
        out.duplicate += 1

    parsed: list[Parsed] = []
    for i, raw in enumerate(raw_records):
        try:
            parsed.append(parse_record(i, raw))
        except RecordError as exc:
            rid = raw.get("record_id") if isinstance(raw, dict) else None
            usable = isinstance(rid, (str, int)) and not isinstance(rid, bool)
            rid = str(rid)[:RECORD_ID_MAX] if usable else None
            error(i, rid, str(exc), exc.status)

    digests = {p.id_number: pii.digest(p.id_number) for p in parsed}
    persons: dict[str, int] = {}
    hashes = sorted(set(digests.values()))
    for start in range(0, len(hashes), 900):
        chunk = hashes[start:start + 900]
        persons.update(db.session.execute(select(Person.id_hash, Person.id)
                                          .where(Person.id_hash.in_(chunk))).tuples().all())
    posts = _posts({p.post_code for p in parsed})
    ids = sorted({p.record_id for p in parsed})
    seen: set[str] = set()
    for start in range(0, len(ids), 900):
        seen.update(db.session.scalars(select(DeviceRecord.record_id).where(
            DeviceRecord.token_id == tok.id, DeviceRecord.record_id.in_(ids[start:start + 900]))))

    good: list[tuple[Parsed, int, int]] = []
    for p in parsed:
        person_id = persons.get(digests[p.id_number])
        post = posts.get(p.post_code)
        if person_id is None:
            error(p.i, p.record_id, f"身份证号 {mask_id(p.id_number)} 不在人员台账中（请先导入该人员）")
        elif post is None:
            error(p.i, p.record_id, f"没有编号为「{p.post_code}」的岗位或车间")
        elif (post[1], post[2]) != (tok.unit_kind, tok.unit):
            error(p.i, p.record_id, f"岗位「{p.post_code}」不属于本设备所属单位，不能写入其考勤", 403)
        elif p.work_date > as_of:
            error(p.i, p.record_id, f"日期 {p.work_date.isoformat()} 晚于今天"
                                    f"（审计基准日 {as_of.isoformat()}），不能提交未来的考勤")
        else:
            good.append((p, person_id, post[0]))

    existing: dict[tuple[int, int, dt.date], tuple[str, str | None]] = {}
    if good:
        att = Attendance.__table__
        people = sorted({g[1] for g in good})
        post_ids = sorted({g[2] for g in good})
        days = sorted({g[0].work_date for g in good})
        months = sorted({d.replace(day=1) for d in days})
        for start in range(0, len(people), 900):
            q = select(att.c.person_id, att.c.post_id, att.c.work_date, att.c.status, att.c.method).where(
                att.c.person_id.in_(people[start:start + 900]), att.c.post_id.in_(post_ids),
                att.c.work_month.in_(months), att.c.work_date.in_(days))
            for r in db.session.execute(q):
                existing[(r.person_id, r.post_id, r.work_date)] = (r.status, r.method)

    new_rows, replaced_rows, device_rows = [], [], []
    batch_ids: set[str] = set()
    batch_days: set[tuple[int, int, dt.date]] = set()
    for p, person_id, post_id in good:
        key = (person_id, post_id, p.work_date)
        if p.record_id in seen or p.record_id in batch_ids:
            duplicate(p.i, p.record_id, "该 record_id 的记录已接收过，未重复写入")
            continue
        if key in batch_days:
            duplicate(p.i, p.record_id, "本次提交中已有同一人员、岗位、日期的记录，保留第一条")
            continue
        machine = machine_record(existing.get(key))
        if machine:
            duplicate(p.i, p.record_id, f"该日已有{machine}签到记录（{existing[key][0]}），保留先到的记录")
            continue
        batch_ids.add(p.record_id)
        batch_days.add(key)
        values = {"status": p.status, "check_in_time": p.check_in_time, "method": p.method,
                  "device_id": p.device_id, "verified": p.verified}
        result = {"record_id": p.record_id, "result": "stored"}
        if key in existing:
            replaced_rows.append({"b_person": person_id, "b_post": post_id,
                                  "b_month": p.work_date.replace(day=1), "b_date": p.work_date,
                                  **{f"v_{k}": x for k, x in values.items()}})
            result["replaced"] = True
            out.replaced += 1
        else:
            new_rows.append({"person_id": person_id, "post_id": post_id,
                             "work_month": p.work_date.replace(day=1), "work_date": p.work_date, **values})
        device_rows.append({"token_id": tok.id, "record_id": p.record_id, "person_id": person_id,
                            "post_id": post_id, "work_date": p.work_date, "received_at": now})
        out.results[p.i] = result
        out.stored += 1

    att = Attendance.__table__
    if new_rows:
        db.session.execute(insert(att), new_rows)
    if replaced_rows:
        by_key = update(att).where(
            att.c.person_id == bindparam("b_person"), att.c.post_id == bindparam("b_post"),
            att.c.work_month == bindparam("b_month"), att.c.work_date == bindparam("b_date"),
            # only a day still entered by hand: a machine record written meanwhile is kept
            (att.c.method.is_(None) | (att.c.method == HAND_METHOD)))
        db.session.execute(by_key.values(**{k: bindparam(f"v_{k}") for k in
                                            ("status", "check_in_time", "method", "device_id", "verified")}),
                           replaced_rows)
    if device_rows:
        db.session.execute(insert(DeviceRecord.__table__), device_rows)
    note_call(tok, now)
    log_call(tok, out.counts(), errors=[r for r in out.results if r.get("result") == "error"])
    db.session.commit()
    return out


def note_call(tok: DeviceToken, now: dt.datetime) -> None:
    """An accepted call (in the caller's transaction): counted for the rate limit; the token's last
    use; the calls older than a day forgotten."""
    calls = DeviceCall.__table__
    db.session.execute(delete(calls).where(calls.c.token_id == tok.id, calls.c.at < now - KEEP_CALLS))
    db.session.execute(insert(calls).values(token_id=tok.id, at=now))
    db.session.execute(update(DeviceToken.__table__).where(DeviceToken.__table__.c.id == tok.id)
                       .values(last_used_at=now))


@unit_of_work
def refuse_call(tok: DeviceToken, status: int, message: str, now: dt.datetime) -> None:
    """A call with a good token but a bad body: whatever the request did is dropped, then the call
    is counted (for the rate limit) and logged, and that is committed."""
    db.session.rollback()
    note_call(tok, now)
    log_call(tok, {"received": 0, "refused": status, "reason": message})


def log_call(tok: DeviceToken, counts: dict[str, Any], errors: list[dict] = ()) -> None:
    """The call's audit-log entry: the device, its unit, the counts and the first errors' reasons
    (they name people by masked ID only)."""
    record("device.attendance", table="device_tokens", row_id=tok.id, ref=tok.name, who=actor_of(tok.name),
           new={"device": tok.name, "unit_kind": tok.unit_kind, "unit": tok.unit, **counts,
                "errors": [{"record_id": e.get("record_id"), "reason": e["reason"]} for e in errors[:20]]})
