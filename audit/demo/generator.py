"""Synthetic ledger bundle (台账) for one fictional county of Chongqing.

``generate_bundle`` writes a folder of CSV files in the format of
``shared/docs/ledger-format.md``: persons, public-welfare posts (公益性岗位) and their
placements, employment-assistance workshops (就业帮扶车间) and their rosters, a DAILY
attendance record for every holding, monthly wage payments, the figures the workshops
reported upward, and the comparison lists of other departments.

The base data is *clean*: every post holder is eligible, every month worked is paid in
full (per the wage-due definition of ``rules.md``) before its due date, the reported
workshop figures equal their definitions, and the comparison lists contain nothing that
contradicts a holding.  Tests and demos inject violations on top of it.

Everything is synthetic: names are random surname + given-name characters, ID numbers are
random but valid (GB 11643 check character, real birth dates, real Chongqing region
codes), bank accounts and phone numbers are random.  Output is a pure function of the
arguments (one ``random.Random(seed)``; no global random state, no wall clock).

Money is handled in integer fen throughout and written as yuan with two decimals.

Usage::

    python -m audit.demo.generator /tmp/bundle --persons 10000 --months 12 --start 2025-01-01
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import uscc

from .county import (
    COMMUNITY_STEMS,
    COUNTY_UNITS,
    DISTRICT,
    DISTRICT_CODE,
    GIVEN_FEMALE,
    GIVEN_MALE,
    HEADERS,
    SURNAMES,
    TABLES,
    TOWNSHIPS,
    VILLAGE_STEMS,
)
from .population import Population
from .records import Records
from .synthetic import (
    ONE,
    Taken,
    add_months,
    add_years,
    bank_account,
    make_id_number,
    month_end,
    rand_date,
)

__all__ = ["generate_bundle", "make_id_number", "HEADERS", "TABLES", "Taken"]
# ---------------------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------------------
class _Bundle(Population, Records):
    def __init__(self, outdir: Path, persons: int, start: date, months: int, seed: int,
                 district: str = DISTRICT, district_code: str = DISTRICT_CODE, taken: Taken | None = None):
        if persons < 1:
            raise ValueError("persons must be at least 1")
        if months < 1:
            raise ValueError("months must be at least 1")
        self.out = outdir
        self.n = persons
        self.rng = random.Random(seed)
        self.pstart = start.replace(day=1)
        self.months = months
        self.month_firsts = [add_months(self.pstart, i) for i in range(months)]
        self.pend = month_end(self.month_firsts[-1])
        self.periods = [f"{d.year:04d}-{d.month:02d}" for d in self.month_firsts]
        ndays = (self.pend - self.pstart).days + 1
        self.days = [self.pstart + timedelta(days=i) for i in range(ndays)]
        self.dstr = [d.isoformat() for d in self.days]
        self.wday = [d.weekday() for d in self.days]
        self.base_status = ["出勤" if w < 5 else "休息" for w in self.wday]
        self.m_lo = [(d - self.pstart).days for d in self.month_firsts]
        self.m_hi = [(month_end(d) - self.pstart).days for d in self.month_firsts]
        self.m_weekdays = [sum(1 for i in range(a, b + 1) if self.wday[i] < 5)
                           for a, b in zip(self.m_lo, self.m_hi, strict=True)]
        if len(district_code) != 6 or not district_code.isdigit():
            raise ValueError(f"district code must be 6 digits: {district_code!r}")
        self.district = district
        self.code = district_code
        self.county_units = tuple(u.replace(DISTRICT, district, 1) for u in COUNTY_UNITS)
        taken = taken or Taken()
        # shared with the other districts of a city (audit/demo/city.py): no two of them draw the same
        # ID number, phone, bank account or credit code, and one company name has one credit code
        self.ids = taken.ids
        self.phones = taken.phones
        self.banks = taken.banks
        self.codes = taken.codes
        self.companies = taken.companies
        self.counts: dict[str, int] = {}

    # -- identifiers ---------------------------------------------------------------------
    def new_id(self, region: str, birth: date, male: bool) -> str:
        while True:
            idn = make_id_number(self.rng, region, birth, male)
            if idn not in self.ids:
                self.ids.add(idn)
                return idn

    def new_phone(self) -> str:
        rng = self.rng
        while True:
            p = rng.choice(("13", "15", "18")) + str(rng.choice((0, 1, 2, 3, 5, 6, 7, 8, 9))) + \
                f"{rng.randrange(10 ** 8):08d}"
            if p not in self.phones:
                self.phones.add(p)
                return p

    def new_bank(self) -> str:
        rng = self.rng
        while True:
            acct = bank_account(rng, rng.choice(("622848", "621700", "622845", "621799")))
            if acct not in self.banks:
                self.banks.add(acct)
                return acct

    def new_credit_code(self, kind: str) -> str:
        """A valid GB 32100 code: kind ("91" company, "93" cooperative, "11" state organ)."""
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            org = "".join(self.rng.choice(alphabet) for _ in range(9))
            body = kind + self.code + org
            code = body + uscc.calc_check_digit(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def company_code(self, name: str, kind: str = "91") -> str:
        """The credit code of a named company (one code per name, however often it appears)."""
        code = self.companies.get(name)
        if code is None:
            code = self.companies[name] = self.new_credit_code(kind)
        return code

    def name(self, male: bool, surname: str | None = None) -> str:
        rng = self.rng
        pool = GIVEN_MALE if male else GIVEN_FEMALE
        given = rng.choice(pool) if rng.random() < 0.3 else rng.choice(pool) + rng.choice(pool)
        return (surname or rng.choice(SURNAMES)) + given

    def birth_for_age(self, age: int) -> date:
        """A birth date such that the age at the period start is ``age``."""
        hi = add_years(self.pstart, -age)
        lo = add_years(self.pstart, -age - 1) + ONE
        return rand_date(self.rng, lo, hi)

    # -- geography ---------------------------------------------------------------------
    def build_geography(self) -> None:
        rng = self.rng
        stems = list(VILLAGE_STEMS)
        rng.shuffle(stems)
        comms = list(COMMUNITY_STEMS)
        rng.shuffle(comms)
        self.towns = []  # dicts: name, code, urban, weight, villages [(name, code)]
        for name, code, urban, weight in TOWNSHIPS:
            vils = []
            if urban:
                for k in range(rng.randint(5, 6)):
                    vils.append((comms.pop() + "社区", f"{self.code}{code}{k + 1:03d}"))
            else:
                vils.append((name[:-1] + "场镇社区", f"{self.code}{code}001"))
                for k in range(rng.randint(6, 8)):
                    vils.append((stems.pop() + "村", f"{self.code}{code}{201 + k:03d}"))
            self.towns.append({"name": name, "code": code, "urban": urban, "weight": weight, "villages": vils,
                               "office": f"{self.district}{name}办事处" if urban else f"{name}人民政府"})
        for t in self.towns:
            t["office_code"] = self.new_credit_code("11")

    def employer(self, town: int, vil: int) -> str:
        t = self.towns[town]
        if t["urban"]:
            return t["office"]
        vname = t["villages"][vil][0]
        return vname + ("居民委员会" if vname.endswith("社区") else "村民委员会")

    # -- all -----------------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.build_geography()
        self.build_persons()
        self.build_public_posts()
        self.build_officials()
        self.build_workshops()
        self.write_persons()
        self.write_posts()
        self.attendance_and_wages()
        self.write_reports()
        self.comparison()
        return {t: self.counts[t] for t in TABLES}


def generate_bundle(outdir: str | os.PathLike, *, persons: int = 10_000,
                    start: datetime.date = date(2025, 1, 1), months: int = 12,
                    seed: int = 2026, district: str = DISTRICT, district_code: str = DISTRICT_CODE,
                    taken: Taken | None = None) -> dict[str, int]:
    """Write the bundle's CSV files into outdir (created if missing); return {table_name: row_count}.

    The period covers ``months`` calendar months from the month of ``start`` (a start in
    mid-month is taken as the first of its month).  Row counts exclude the header row.
    ``district``/``district_code`` name the county (its 6-digit code starts its ID numbers,
    households, villages, posts and workshops); ``taken`` holds the identifiers other
    districts of the same city already use (added to as this one draws its own).
    """
    return _Bundle(Path(outdir), persons, start, months, seed, district, district_code, taken).run()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write a synthetic ledger bundle (CSV folder) for a fictional county.")
    ap.add_argument("outdir", help="folder to write the CSV files into (created if missing)")
    ap.add_argument("--persons", type=int, default=10_000, help="number of persons (default 10000)")
    ap.add_argument("--months", type=int, default=12,
                    help="number of months of attendance and wages (default 12)")
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1),
                    help="first month of the period, YYYY-MM-DD (default 2025-01-01)")
    ap.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    args = ap.parse_args(argv)
    counts = generate_bundle(args.outdir, persons=args.persons, start=args.start, months=args.months,
                             seed=args.seed)
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        print(f"{table:<{width}}  {n:>9,}")
    print(f"{'total':<{width}}  {sum(counts.values()):>9,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
