"""Payroll pre-checks (发放前校验, shared/docs/precheck.md): a draft payroll judged by the audit's
rules before the bank pays it.

A pre-check is stored as it was judged: the file, the check date, the units whose posts it pays,
who checked it and when, and each draft row with its verdict (``pass`` / ``hold`` / ``reject``),
the rules that fired, their Chinese reasons and the amount the rules allow. It starts as a
``draft``; the township auditor's approval on the web turns it ``approved`` and records who, when
and which verdicts' rows it lets be paid. The closing-the-loop rules (PC01, PC02) compare the wages
paid later with an approved pre-check's rows by person, post and month: the rows keep
``persons.id``, ``posts.id`` and the period for that.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import MaskedJSON

PRECHECK_STATUSES = ("draft", "approved")
VERDICTS = ("pass", "hold", "reject")


class Precheck(Base):
    """One draft payroll checked. ``units``: the employing units (``models.unit_key``) and workshop
    codes of the posts its rows pay, for scoping it to a region; ``districts`` and ``townships``
    of those posts likewise. ``rules``: each rule's status in the check (as ``audit_runs.rules``:
    a rule not run for want of a table is said so). ``summary``: rows and amounts by verdict."""

    __tablename__ = "prechecks"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    as_of: Mapped[dt.date] = mapped_column(Date)  # the check date: the rows are judged as paid on it
    units: Mapped[list[str]] = mapped_column(JSON, default=list)
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    townships: Mapped[list[str]] = mapped_column(JSON, default=list)
    periods: Mapped[list[str]] = mapped_column(JSON, default=list)  # the months the rows pay, YYYY-MM
    created_by: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # the approval (migration 0020): the verdicts whose rows it lets be paid — ["pass"] or
    # ["pass", "hold"], never "reject" — and the approver's name as signed (their display name)
    approved_verdicts: Mapped[list[str] | None] = mapped_column(JSON)
    approved_name: Mapped[str | None] = mapped_column(String(64))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (CheckConstraint("status IN ('draft', 'approved')", name="status"),)


class PrecheckRow(Base):
    """A row of the draft as judged. The person and post are ids without foreign keys (as a replay's
    findings): a pre-check is a record of a day and never holds back a change of the ledger. The ID
    number is kept masked only; the account as the wages table keeps it (hash and mask)."""

    __tablename__ = "precheck_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    precheck_id: Mapped[int] = mapped_column(ForeignKey("prechecks.id", ondelete="CASCADE"))
    row_no: Mapped[int] = mapped_column(Integer)  # the row as the file numbers it (header = its own row)
    person_id: Mapped[int] = mapped_column(Integer)
    id_masked: Mapped[str] = mapped_column(String(18))
    post_id: Mapped[int] = mapped_column(Integer)
    post_code: Mapped[str] = mapped_column(String(64))
    period: Mapped[dt.date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    account_hash: Mapped[str | None] = mapped_column(String(64))
    account_masked: Mapped[str | None] = mapped_column(String(40))
    account_name: Mapped[str | None] = mapped_column(String(64))
    batch: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))
    rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(MaskedJSON, default=list)
    allowed_fen: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("verdict IN ('pass', 'hold', 'reject')", name="verdict"),
        Index("ix_precheck_rows_precheck_id_row_no", "precheck_id", "row_no"),
        Index("ix_precheck_rows_person_id_post_id_period", "person_id", "post_id", "period"),
    )
