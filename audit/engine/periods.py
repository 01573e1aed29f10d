"""Dates of holdings, months and ages, as the rules count them (SQL expressions unless said).

A holding is judged up to its end date, or up to the as-of date when it is still open (or ends
after the as-of date). A month counts for a period only when wholly inside it. Ages are whole
years (or months) with the same day-of-month rule in SQL and in Python, and the statutory
retirement age follows the 2025 gradual reform.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, Integer, case, cast, extract, literal, or_

# 法定退休年龄 (national law, not a local threshold): the original age in months, and the 2025 gradual
# reform — people born from ``from_year``-01 retire 1 month later for every ``step`` months of birth
# after December of the year before, up to ``cap`` months. Men: 60 → 63; women (50 group): 50 → 55.
STATUTORY_RETIREMENT = {"M": {"base_months": 60 * 12, "from_year": 1965, "step": 4, "cap": 36},
                        "F": {"base_months": 50 * 12, "from_year": 1975, "step": 2, "cap": 60}}


# ---- holdings and months --------------------------------------------------------------------------

def held_until(ctx, placement):
    """The last day of the holding judged: its end date, or the as-of date when it is still open
    (or ends after the as-of date)."""
    still_held = or_(placement.c.end_date.is_(None), placement.c.end_date > ctx.as_of)
    return case((still_held, literal(ctx.as_of, Date)), else_=placement.c.end_date)


def first_month_from(ctx, day):
    """The first month that begins on or after ``day`` (a month partly before it is not counted)."""
    return ctx.add_months(ctx.month(ctx.add_days(day, -1)), 1)


def last_month_to(ctx, day):
    """The last month that ends on or before ``day``."""
    return ctx.add_months(ctx.month(ctx.add_days(day, 1)), -1)


# ---- dates of birth, ages, retirement ------------------------------------------------------------

def _year_month_day(col):
    return (cast(extract("year", col), Integer), cast(extract("month", col), Integer),
            cast(extract("day", col), Integer))


def age_in_months(birth, at):
    """Whole months of age at a date (the same day-of-month rule as ``ctx.age``)."""
    birth_year, birth_month, birth_day = _year_month_day(birth)
    year, month, day = _year_month_day(at)
    return (year - birth_year) * 12 + (month - birth_month) - case((day < birth_day, 1), else_=0)


def retirement_age_months(person):
    """The statutory retirement age of a person, in months, after the 2025 gradual reform."""
    birth_year, birth_month, _ = _year_month_day(person.c.birth_date)

    def reformed(scheme):
        # 1 = born in January of the first year concerned
        months_born_after = (birth_year - scheme["from_year"]) * 12 + birth_month
        delay = (months_born_after + (scheme["step"] - 1)) // scheme["step"]
        return scheme["base_months"] + case((months_born_after <= 0, 0),
                                            (delay > scheme["cap"], scheme["cap"]), else_=delay)

    return case((person.c.sex == "F", reformed(STATUTORY_RETIREMENT["F"])),
                else_=reformed(STATUTORY_RETIREMENT["M"]))


# ---- in Python (a finding's text) ------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` + ``months``; a day that month lacks moves to the 1st of the next (as ``age_in_months``)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    try:
        return dt.date(year, month, day.day)
    except ValueError:
        return dt.date(year + (month == 12), month % 12 + 1, 1)


def age_text(months: int) -> str:
    years, rest = divmod(int(months), 12)
    return f"{years}岁{rest}个月" if rest else f"{years}岁"


def as_date(value: Any) -> dt.date:
    """A date from a row's value (a date, or its ISO text as SQLite returns computed dates)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
