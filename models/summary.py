"""The findings' figures as the screens show them, summed by the audit run (issue 15).

The dashboard, the run pages and the findings list read these tables instead of scanning
``findings`` and ``finding_money`` on each request (audit/engine/summary.py builds and keeps them):

- ``summary_runs``: the run that built the current summary, and whether money sums of it are exact
  for any scope (every payment is claimed by findings of one unit and region: see
  audit/engine/summary.py);
- ``summary_counts``: how many findings per region, unit, rule, category, status, first month, last
  run and whether that run found them first;
- ``summary_money``: money counted once (audit/engine/money.py) per ``basis`` — the set of findings
  among which each payment's largest claim is taken — and the region, unit and the columns that basis
  splits by.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class SummaryRun(Base):
    __tablename__ = "summary_runs"
    run_id: Mapped[int] = mapped_column(ForeignKey("audit_runs.id"), primary_key=True)
    built_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # every payment claimed within one (district, township, village, unit): sums by scope are exact
    exact: Mapped[bool] = mapped_column(Boolean)


class SummaryCount(Base):
    __tablename__ = "summary_counts"
    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(260))
    rule: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    new: Mapped[bool] = mapped_column(Boolean)  # first found by its last run
    n: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_summary_counts_district_unit", "district", "unit"),)


class SummaryMoney(Base):
    __tablename__ = "summary_money"
    id: Mapped[int] = mapped_column(primary_key=True)
    basis: Mapped[str] = mapped_column(String(24))
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(260))
    rule: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str | None] = mapped_column(String(16))
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    month: Mapped[dt.date | None] = mapped_column(Date)  # the payment's month
    owed: Mapped[int] = mapped_column(Integer)  # 1: wages owed (应补发), 0: money paid
    fen: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_summary_money_basis_district", "basis", "district"),)
