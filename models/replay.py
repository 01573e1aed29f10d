"""Replays: what the audit rules found as of an earlier date, kept apart from the current findings.

A replay (``audit run --as-of DATE --replay``, or the web's 审计回放) runs every rule as of a date
and stores what they found here, never in ``audit_runs``, ``findings`` or ``finding_money``: no
page that reads "the latest run" or the current findings can see a replay, and a replay changes
no finding's state. A replayed finding keeps the id the same facts give a current finding
(``audit.engine.runner.finding_id``), so that the two can be compared.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import MaskedJSON, MaskedString, MaskedText


class ReplayRun(Base):
    """One replay: its as-of date, who asked and when, each rule's status and the summary (findings
    and money per category, each payment counted once). Written with its findings in one
    transaction once the rules are done: a replay is never half stored, and one cut off by a
    crash leaves no row."""

    __tablename__ = "replay_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    as_of: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64), index=True)  # a user, "cli:<name>"
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as ``audit_runs.rules``
    # {"total": n, "by_category": {category: n}, "amount_by_category_fen": {category: fen}, "seconds": s}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReplayFinding(Base):
    """A finding of a replay: the columns of ``findings`` but its state (status, runs, review)."""

    __tablename__ = "replay_findings"
    replay_id: Mapped[int] = mapped_column(ForeignKey("replay_runs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the finding's stable id
    rule: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(8))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_label: Mapped[str] = mapped_column(MaskedString(128))
    # persons.id and posts.id, without foreign keys: a replay is a record of a day and never holds
    # back a change of the ledger
    person_id: Mapped[int | None] = mapped_column(Integer)
    person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    post_id: Mapped[int | None] = mapped_column(Integer)
    periods: Mapped[list[str]] = mapped_column(JSON, default=list)
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    amount_at_risk_fen: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(MaskedText)
    evidence: Mapped[dict[str, Any]] = mapped_column(MaskedJSON, default=dict)
    basis: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(260))
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    facts_hash: Mapped[str] = mapped_column(String(32))
    __table_args__ = (Index("ix_replay_findings_replay_id_category", "replay_id", "category"),)


class ReplayMoney(Base):
    """What a replayed finding claims of one payment (as ``finding_money``, see
    audit/engine/money.py): the replay's totals count each payment once."""

    __tablename__ = "replay_money"
    id: Mapped[int] = mapped_column(primary_key=True)
    replay_id: Mapped[int] = mapped_column(ForeignKey("replay_runs.id", ondelete="CASCADE"))
    finding_id: Mapped[str] = mapped_column(String(32))
    payment: Mapped[str] = mapped_column(String(80))
    month: Mapped[dt.date | None] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_replay_money_replay_id_payment", "replay_id", "payment"),
                      Index("ix_replay_money_replay_id_finding_id", "replay_id", "finding_id"))
