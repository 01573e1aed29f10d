"""Small synthetic values and the calendar arithmetic the generator and the planter share: valid ID
numbers and bank card numbers, yuan written from fen, ages, month arithmetic, random dates, and
``Taken`` (the identifiers already used across the districts of a city)."""
from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from stdnum.cn import ric

ONE = timedelta(days=1)


def make_id_number(rng: random.Random, region: str, birth: datetime.date, male: bool) -> str:
    """A valid 18-char GB 11643 ID number.

    region (6 digits) + YYYYMMDD + 3-digit sequence (odd last digit for men, even for
    women) + the check character from ``stdnum.cn.ric.calc_check_digit``.  Uniqueness is
    the caller's business.
    """
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region code must be 6 digits: {region!r}")
    seq = rng.randrange(0, 500) * 2 + 1 if male else rng.randrange(1, 500) * 2
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
    # stdnum's calc_check_digit takes the full number and ignores its last character.
    return body + ric.calc_check_digit(body + "0")


def bank_account(rng: random.Random, prefix: str) -> str:
    """A synthetic 19-digit card number: ``prefix``, random digits, a Luhn check digit (as on real cards)."""
    n = 18 - len(prefix)
    body = prefix + f"{rng.randrange(10 ** n):0{n}d}"  # one draw: the same random sequence as ever
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        total += v
    return body + str((10 - total % 10) % 10)


def yuan(fen: int | None) -> str | None:
    """Fen written as yuan with two decimals (None stays None)."""
    if fen is None:
        return None
    return f"{fen // 100}.{fen % 100:02d}"


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def add_months(d: date, months: int) -> date:
    """First day of the month ``months`` after d's month."""
    k = d.year * 12 + d.month - 1 + months
    return date(k // 12, k % 12 + 1, 1)


def month_end(d: date) -> date:
    return add_months(d, 1) - ONE


def rand_date(rng: random.Random, lo: date, hi: date) -> date:
    if hi < lo:
        hi = lo
    return lo + timedelta(days=rng.randrange((hi - lo).days + 1))


def rand_weekday(rng: random.Random, lo: date, hi: date) -> date:
    """A Monday–Friday date in [lo, hi] (lo itself moved to a weekday if the range has none)."""
    d = rand_date(rng, lo, hi)
    while d.weekday() >= 5:
        d += ONE
    if d > hi:
        d -= ONE
        while d.weekday() >= 5:
            d -= ONE
        if d < lo:
            d = lo
            while d.weekday() >= 5:
                d += ONE
    return d


def iso(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


@dataclass
class Taken:
    """Identifiers already used: by default none; a city passes one ``Taken`` to all its districts."""
    ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    banks: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)  # credit codes
    companies: dict[str, str] = field(default_factory=dict)  # company name -> credit code


def ym(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


class PlantedPerson:
    """A person the planter (:mod:`audit.demo.plant`) adds for one case."""

    def __init__(self, idn, name, male, birth, hh, phone, bank, cats, ability):
        self.idn, self.name, self.male, self.birth, self.hh = idn, name, male, birth, hh
        self.phone, self.bank, self.cats, self.ability = phone, bank, cats, ability
