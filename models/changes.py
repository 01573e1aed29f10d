"""Import batches and the append-only change log."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import MaskedJSON, MaskedString, MaskedText


class ImportBatch(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(MaskedString(255))  # file or folder name, no path
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # committed / no_change
    # {table: {"added": n, "changed": n, "unchanged": n}}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[str]] = mapped_column(MaskedJSON, default=list)


class ChangeLog(Base):
    """Who changed which row, when, from what to what. Values are display-safe (ID and account
    numbers appear masked).

    Append-only and tamper-evident: rows are only ever inserted, and only through
    ``audit.logchain.append``, which chains each entry to the one before it (``seq``, ``prev_hash``,
    ``hash`` = HMAC-SHA256, under a key kept outside the database, of the previous hash and the
    entry's canonical JSON); ``audit verify-log`` recomputes the chain and checks it against the
    anchors kept outside the instance folder. No code path of the application deletes a row; the
    only UPDATEs are migration 0006 and the one-time upgrade of an old plain SHA-256 chain
    (``audit verify-log --upgrade``), which rewrite ``prev_hash`` and ``hash`` only.
    Retention: entries are kept at least 180 days — in fact nothing in the application deletes them
    at all; any future pruning must keep 180 days and would have to re-anchor the chain."""

    __tablename__ = "change_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # e.g. import.update
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int | None] = mapped_column(Integer)
    row_ref: Mapped[str | None] = mapped_column(Text)  # readable key, masked
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)  # position in the chain: 1, 2, 3, …
    prev_hash: Mapped[str] = mapped_column(String(64))  # the previous entry's hash (64 zeros for the first)
    hash: Mapped[str] = mapped_column(String(64))  # see audit.logchain.entry_hash


class Job(Base):
    """A long task started from the web (a large upload's check or load, an audit run) and run in
    the background; its state is in the database, so any web worker can report its progress."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # upload.check / upload.commit / audit.run
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued / running / done / failed
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # per cent
    message: Mapped[str | None] = mapped_column(MaskedText)  # what it is doing now, in Chinese
    # names masked before they are stored on disk
    params: Mapped[dict[str, Any]] = mapped_column(MaskedJSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(MaskedJSON)
    # the process that runs it, and when it last said it was alive: a job whose process is gone
    # (this host, pid not alive; or no heartbeat for a while) is marked failed (audit.uploads.jobs)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
