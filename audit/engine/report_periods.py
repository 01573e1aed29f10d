"""Which findings lie in a report period: one definition for the 审计报告 and the findings export.

A finding is in the period when any of its months falls in it. A finding without a month
(安置不符合条件人员, 优亲厚友: judged per person and post over a whole holding) stands as of the
audit date, so it is placed in every period (its money counts only the payments of the period's
months: ``audit.engine.money``)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Text, and_, cast, or_, true
from sqlalchemy.sql import ColumnElement

from models import Finding

MAX_MONTHS = 120


def months_between(first: dt.date, last: dt.date) -> list[str]:
    """``YYYY-MM`` of every month from ``first`` to ``last`` (ValueError, in Chinese, if backwards or
    too long)."""
    if last < first:
        raise ValueError("报告期不正确：结束月份早于开始月份。")
    out, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        if len(out) > MAX_MONTHS:
            raise ValueError(f"报告期过长：最多 {MAX_MONTHS} 个月。")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def in_period(months: list[str]) -> ColumnElement[bool]:
    """Findings in the period of ``months`` (``YYYY-MM``, in order); see the module's docstring."""
    last = dt.date.fromisoformat(months[-1] + "-01")
    text = cast(Finding.periods, Text)
    return or_(Finding.period_start.is_(None),
               and_(Finding.period_start <= last, or_(*[text.like(f'%"{m}"%') for m in months])))


def in_region(district: str | None) -> ColumnElement[bool]:
    return Finding.district == district if district else true()
