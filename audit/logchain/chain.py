"""The chain: the canonical text of an entry, its hash (HMAC-SHA256 under the log key, or the earlier
plain SHA-256), and ``append``, the only way entries are written (see the package's docstring)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert, select

from models import ChangeLog
from models.types import mask_deep

from .key import chain_key

GENESIS = "0" * 64
LOCK_KEY = 0x6C6F67636861696E  # "logchain": the advisory lock of the change log's writers
FIELDS = ("at", "actor", "action", "table_name", "row_id", "row_ref", "old", "new", "batch_id", "seq")
CHUNK = 5000


# ---- hashing ------------------------------------------------------------------------------------

def _json_value(v: Any) -> Any:
    """The value as it reads back from a JSON column (tuples become lists, keys strings, …)."""
    return None if v is None else json.loads(json.dumps(v, ensure_ascii=False))


def at_text(at: Any) -> str:
    if isinstance(at, dt.datetime):
        return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return str(at)


def canonical(entry: Any) -> str:
    """The canonical JSON of an entry's chained fields (sorted keys, no spaces, UTF-8 text)."""
    doc = {
        "at": at_text(entry["at"]), "actor": entry.get("actor"), "action": entry.get("action"),
        "table_name": entry.get("table_name"), "row_id": entry.get("row_id"), "row_ref": entry.get("row_ref"),
        "old": _json_value(entry.get("old")), "new": _json_value(entry.get("new")),
        "batch_id": entry.get("batch_id"), "seq": entry["seq"],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, entry: Any, key: bytes | None = None) -> str:
    """HMAC-SHA256 under the log key (default: the current application's) of the previous hash
    followed by the entry's canonical JSON. Migration 0006 chains the entries already there with
    it, so a database migrated from before 0006 is keyed from the start."""
    msg = (prev_hash + canonical(entry)).encode("utf-8")
    return hmac.new(key if key is not None else chain_key(), msg, hashlib.sha256).hexdigest()


def plain_hash(prev_hash: str, entry: Any) -> str:
    """The earlier format: SHA-256 without a key (only to recognise, check and upgrade old chains)."""
    return hashlib.sha256((prev_hash + canonical(entry)).encode("utf-8")).hexdigest()


def keyed(key: bytes) -> Callable[[str, Any], str]:
    return lambda prev, entry: entry_hash(prev, entry, key)


# ---- appending ----------------------------------------------------------------------------------

def lock(conn: Connection) -> None:
    """Take the chain's writer lock for the rest of the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    elif conn.dialect.name == "sqlite":
        # A write that writes nothing: the transaction holds (or now takes, BEGIN IMMEDIATE) the
        # database's write lock, so the last entry read next is the last one there is.
        conn.exec_driver_sql("INSERT INTO change_log (id) SELECT NULL WHERE 0")


def columns() -> list[Any]:
    t = ChangeLog.__table__
    return [t.c.id, t.c.prev_hash, t.c.hash, *[t.c[f] for f in FIELDS]]


def last(conn: Connection) -> tuple[int, str]:
    t = ChangeLog.__table__
    row = conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def is_plain(row: Any, key: bytes) -> bool:
    """The entry is of the earlier format: its hash is the plain digest, not the HMAC."""
    return (row.hash == plain_hash(row.prev_hash, row._mapping)
            and row.hash != entry_hash(row.prev_hash, row._mapping, key))


def append(conn: Connection, entries: list[dict[str, Any]], key: bytes | None = None) -> None:
    """Chain and insert these entries (dicts of ChangeLog columns; ``at`` defaults to now), in
    order, in the caller's transaction. They are chained in the head's format: with the HMAC,
    unless the head is of the earlier plain format (a database not upgraded yet, see the module's
    docstring)."""
    if not entries:
        return
    key = key if key is not None else chain_key()
    lock(conn)
    t = ChangeLog.__table__
    head = conn.execute(select(*columns()).order_by(t.c.seq.desc()).limit(1)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    digest = plain_hash if head is not None and is_plain(head, key) else keyed(key)
    now = dt.datetime.now()
    rows = []
    for e in entries:
        seq += 1
        row = {k: e.get(k) for k in FIELDS if k != "seq"}
        # nothing that looks like an ID or account number is kept in clear, whatever a caller passed
        for k in ("row_ref", "old", "new"):
            row[k] = mask_deep(row[k])
        row["at"] = row["at"] or now
        row["seq"] = seq
        row["prev_hash"] = prev
        row["hash"] = prev = digest(prev, row)
        rows.append(row)
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(t), rows[i:i + CHUNK])


