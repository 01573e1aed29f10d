"""Audit runs, findings and rule parameters."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .enums import ACTIVE_FINDING, FindingStatus
from .types import MaskedJSON, MaskedString, MaskedText

# Where a finding stands: models/enums.py (FindingStatus, with its labels).


class AuditRun(Base):
    __tablename__ = "audit_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    as_of: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64))  # a user, "cli:<name>" or "job:<id>"
    status: Mapped[str] = mapped_column(String(16))  # running / finished / failed
    # {rule code: {"status": "ran"|"not_run", "reason": str, "rows_scanned": n, "findings": n,
    #              "seconds": s, "params": {...}}}
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"new": n, "still": n, "reopened": n, "resolved": n, "by_category": {category: n}}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the process that runs it: a run left "running" by a process that is gone is marked failed
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class Finding(Base):
    """One finding of one rule. ``id`` is stable: the same facts give the same id on a re-run.
    ID and account numbers appear in ``evidence`` and ``subject_label`` only masked; the people
    concerned are ``person_ids`` (and the export decrypts their numbers for authorised use)."""

    __tablename__ = "findings"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(8), index=True)
    category: Mapped[str] = mapped_column(String(24), index=True)
    severity: Mapped[str] = mapped_column(String(8))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_label: Mapped[str] = mapped_column(MaskedString(128))  # masked ID, workshop code, masked account…
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), index=True)
    periods: Mapped[list[str]] = mapped_column(JSON, default=list)
    period_start: Mapped[dt.date | None] = mapped_column(Date, index=True)  # the first of ``periods``
    amount_at_risk_fen: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(MaskedText)
    evidence: Mapped[dict[str, Any]] = mapped_column(MaskedJSON, default=dict)
    basis: Mapped[str] = mapped_column(Text)
    # where the finding belongs: the unit that must rectify (a workshop's code, an employing unit's key
    # ``models.unit_key``), and its region (for scoping)
    unit: Mapped[str | None] = mapped_column(String(260), index=True)
    district: Mapped[str | None] = mapped_column(String(64), index=True)
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=FindingStatus.OPEN, index=True)
    facts_hash: Mapped[str] = mapped_column(String(32))
    first_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"))
    last_run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), index=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    review_note: Mapped[str | None] = mapped_column(MaskedText)  # the reason of a dismissal, …
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_findings_status_category", "status", "category"),)

    @hybrid_property
    def is_active(self) -> bool:
        """Still standing against its unit (models/enums.py ``ACTIVE_FINDING``); in a query,
        ``Finding.is_active`` is the SQL condition."""
        return self.status in ACTIVE_FINDING

    @is_active.inplace.expression
    @classmethod
    def _is_active_expression(cls) -> ColumnElement[bool]:
        return cls.status.in_(ACTIVE_FINDING)


class FindingMoney(Base):
    """What one finding claims of one payment (audit/engine/money.py): ``payment`` names the
    payment the money belongs to — ``wage:<person>:<post>:<YYYY-MM-DD>`` (the month's wages of a
    person on a post), ``owed:…`` (wages owed, not paid), ``subsidy:<post>:<YYYY-MM-DD>`` (a
    workshop's subsidy claim for a month) or ``finding:<id>`` (money no other finding can share).
    Totals take, per payment, the largest claim of the findings counted: a payment is counted
    once, however many findings cover it, and never above what was paid."""

    __tablename__ = "finding_money"
    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"), index=True)
    payment: Mapped[str] = mapped_column(String(80), index=True)
    month: Mapped[dt.date | None] = mapped_column(Date)  # the payment's month (None for ``finding:``)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class RuleParameter(Base):
    """A parameter value that differs from the rule's default, from ``effective_from`` on, for a
    region (a district, or a township in it) or everywhere (both empty)."""

    __tablename__ = "rule_parameters"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSON)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(MaskedText)
