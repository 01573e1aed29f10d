"""The tamper-evident change log: every ``change_log`` entry is chained to the one before it.

Each entry has ``seq`` (its position in the chain, 1, 2, 3, … with no gaps), ``prev_hash`` (the
previous entry's hash; 64 zeros for the first) and ``hash`` = SHA-256 of ``prev_hash`` followed by
the canonical JSON of the entry's fields (``entry_hash``). Editing an entry in the database changes
its hash; deleting one leaves a gap in ``seq``; both are found by ``verify`` (``audit verify-log``).

``append`` is the only way entries are written. It serialises writers so the chain never forks:
on PostgreSQL with a transaction-scoped advisory lock, on SQLite with the database's write lock
(taken by a write before the last entry is read; see ``_sqlite_write_lock`` in audit/__init__.py).
Both are held until the caller's transaction ends, so the entries are committed or rolled back with
what they describe. Nothing in the application updates or deletes entries."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import click
from sqlalchemy import Connection, insert, select

from models import ChangeLog
from models.types import mask_deep

GENESIS = "0" * 64
LOCK_KEY = 0x6C6F67636861696E  # "logchain": the advisory lock of the change log's writers
FIELDS = ("at", "actor", "action", "table_name", "row_id", "row_ref", "old", "new", "batch_id", "seq")
CHUNK = 5000


def _json_value(v: Any) -> Any:
    """The value as it reads back from a JSON column (tuples become lists, keys strings, …)."""
    return None if v is None else json.loads(json.dumps(v, ensure_ascii=False))


def _at_text(at: Any) -> str:
    if isinstance(at, dt.datetime):
        return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return str(at)


def canonical(entry: dict[str, Any]) -> str:
    """The canonical JSON of an entry's chained fields (sorted keys, no spaces, UTF-8 text)."""
    doc = {
        "at": _at_text(entry["at"]), "actor": entry.get("actor"), "action": entry.get("action"),
        "table_name": entry.get("table_name"), "row_id": entry.get("row_id"), "row_ref": entry.get("row_ref"),
        "old": _json_value(entry.get("old")), "new": _json_value(entry.get("new")),
        "batch_id": entry.get("batch_id"), "seq": entry["seq"],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode("utf-8")).hexdigest()


def _lock(conn: Connection) -> None:
    """Take the chain's writer lock for the rest of the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    elif conn.dialect.name == "sqlite":
        # A write that writes nothing: the transaction holds (or now takes, BEGIN IMMEDIATE) the
        # database's write lock, so the last entry read next is the last one there is.
        conn.exec_driver_sql("INSERT INTO change_log (id) SELECT NULL WHERE 0")


def last(conn: Connection) -> tuple[int, str]:
    t = ChangeLog.__table__
    row = conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def append(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Chain and insert these entries (dicts of ChangeLog columns; ``at`` defaults to now), in
    order, in the caller's transaction."""
    if not entries:
        return
    _lock(conn)
    seq, prev = last(conn)
    now = dt.datetime.now()
    rows = []
    for e in entries:
        seq += 1
        row = {k: e.get(k) for k in FIELDS if k != "seq"}
        # nothing that looks like an ID or account number is kept in clear, whatever a caller passed
        row["row_ref"], row["old"], row["new"] = mask_deep(row["row_ref"]), mask_deep(row["old"]), mask_deep(row["new"])
        row["at"] = row["at"] or now
        row["seq"] = seq
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    t = ChangeLog.__table__
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(t), rows[i:i + CHUNK])


# ---- verification ----------------------------------------------------------------------------

@dataclass
class Verdict:
    ok: bool
    count: int  # entries checked
    last: dict[str, Any] | None = None  # the last good entry: seq, id, at, actor, action, hash
    break_seq: int | None = None  # where the chain breaks
    reason: str | None = None  # 内容被修改 / 缺少记录 / 顺序错乱
    detail: str | None = None

    def message(self) -> str:
        if self.ok:
            if not self.last:
                return "日志链完整：共 0 条（日志为空）"
            x = self.last
            return (f"日志链完整：共 {self.count} 条，最后一条 第 {x['seq']} 条（记录 id {x['id']}，"
                    f"{_at_text(x['at'])[:19]} {x['actor']} {x['action']}），哈希 {x['hash']}")
        return f"日志链在第 {self.break_seq} 条处断开：{self.detail}（{self.reason}）"


def _rows(conn: Connection) -> Iterator[Any]:
    """Every entry in ``seq`` order, read in chunks (keyset paging: constant memory)."""
    t = ChangeLog.__table__
    cols = [t.c.id, t.c.prev_hash, t.c.hash, *[t.c[f] for f in FIELDS]]
    after = None
    while True:
        q = select(*cols).order_by(t.c.seq).limit(CHUNK)
        if after is not None:
            q = q.where(t.c.seq > after)
        batch = conn.execute(q).all()
        yield from batch
        if len(batch) < CHUNK:
            return
        after = batch[-1].seq


def _who(r: Any) -> str:
    return f"记录 id {r.id}，{_at_text(r.at)[:19]} {r.actor} {r.action}"


def verify(conn: Connection, rows: Iterable[Any] | None = None) -> Verdict:
    """Walk the chain from the first entry and stop at the first break."""
    expected, prev, n, good = 1, GENESIS, 0, None
    for r in (_rows(conn) if rows is None else rows):
        if r.seq is None or r.seq != expected:
            if r.seq is not None and r.seq > expected:
                gap = f"第 {expected} 条" if r.seq == expected + 1 else f"第 {expected} 至 {r.seq - 1} 条"
                return Verdict(False, n, good, expected, "缺少记录", f"{gap}不存在，其后是第 {r.seq} 条（{_who(r)}）")
            return Verdict(False, n, good, expected, "顺序错乱", f"序号为 {r.seq}（{_who(r)}）")
        if r.prev_hash != prev:
            return Verdict(False, n, good, r.seq, "顺序错乱", f"所记的前一条哈希与第 {r.seq - 1} 条不符（{_who(r)}）"
                           if r.seq > 1 else f"第一条的前一条哈希不是全零（{_who(r)}）")
        if entry_hash(prev, r._mapping) != r.hash:
            return Verdict(False, n, good, r.seq, "内容被修改", f"重新计算的哈希与所记不符（{_who(r)}）")
        n, expected, prev = n + 1, expected + 1, r.hash
        good = {"seq": r.seq, "id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "hash": r.hash}
    return Verdict(True, n, good)


def register(cli: click.Group) -> None:
    from flask.cli import with_appcontext

    @cli.command("verify-log")
    @click.option("--expect", "anchors", multiple=True, metavar="序号:哈希",
                  help="此前记下的某一条（如上次校验输出的最后一条）：它必须仍在链中且哈希不变。"
                       "链本身查不出末尾被整段删除，保存在别处的这一对能查出。可重复。")
    @with_appcontext
    def verify_log_command(anchors: tuple[str, ...]) -> None:
        """校验变更日志的哈希链：逐条重算，报告第一处断开（内容被修改、缺少记录或顺序错乱）。"""
        from audit.database import ensure_schema
        from models import db

        wanted = []
        for a in anchors:
            seq, _, digest = a.partition(":")
            if not seq.strip().isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest.strip()):
                raise click.BadParameter(f"「{a}」应为 序号:64位十六进制哈希", param_hint="--expect")
            wanted.append((int(seq), digest.strip()))
        ensure_schema()
        with db.engine.connect() as conn:
            verdict = verify(conn)
            problems = check_anchors(conn, wanted) if verdict.ok else []
        click.echo(verdict.message(), err=not verdict.ok)
        for p in problems:
            click.echo(p, err=True)
        if not verdict.ok or problems:
            raise click.exceptions.Exit(1)


def check_anchors(conn: Connection, anchors: list[tuple[int, str]]) -> list[str]:
    """What is wrong with the entries recorded earlier (seq, hash): gone (the log was cut back) or
    changed (the chain was rebuilt from there)."""
    t = ChangeLog.__table__
    out = []
    for seq, digest in anchors:
        got = conn.execute(select(t.c.hash).where(t.c.seq == seq)).scalar_one_or_none()
        if got is None:
            out.append(f"日志被截断：此前记下的第 {seq} 条已不存在（末尾的记录被删除）")
        elif got != digest:
            out.append(f"日志被改写：第 {seq} 条的哈希与此前记下的不同（链从此处或更早被重建）")
    return out
