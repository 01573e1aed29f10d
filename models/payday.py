"""发放前预警 (payday warnings, issue 17): the persons whose pay this month would be held or
rejected on the data so far, per unit, as the ``payday_warnings`` job found them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import MaskedJSON


class PaydayWarning(Base):
    """A person and post whose pay for ``period`` would be held or rejected, judged on ``as_of``
    (from the month's N-th day, ``PAYDAY_WARNING_DAY``) over the expected payroll
    (audit/precheck/warnings.py) by the pre-check's own rules. A later run for the month replaces
    the month's rows: what is shown is the latest judgement. ``unit``: the post's unit as findings
    name it (``models.unit_key`` or a workshop code), with the post's region for scoping. Person and
    post are ids without foreign keys, as in ``precheck_rows``; the ID number is kept masked only."""

    __tablename__ = "payday_warnings"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date)  # the month whose pay is warned about
    as_of: Mapped[dt.date] = mapped_column(Date)  # the day it was judged
    unit: Mapped[str] = mapped_column(String(260))
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(Integer)
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[int] = mapped_column(Integer)
    post_code: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # the expected pay
    verdict: Mapped[str] = mapped_column(String(8))
    rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(MaskedJSON, default=list)
    allowed_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("verdict IN ('hold', 'reject')", name="verdict"),
        Index("ix_payday_warnings_period_unit", "period", "unit"),
    )
