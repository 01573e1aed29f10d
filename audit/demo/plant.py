"""Planted cases: one of every rule of ``shared/docs/rules.md`` (and look-alikes that must not fire)
appended to a clean bundle written by :func:`audit.demo.generator.generate_bundle`.

``plant_cases`` adds new synthetic people, posts and workshops, each dedicated to ONE case so
that cases cannot interact with each other or with the generated county, and returns the
manifest of the findings an audit must then produce: one dict per expected finding::

    {"rule": "PS02", "category": "phantom_salary", "subject": "<id_number>", "post": "GW500236-Z003",
     "periods": ["2025-04"], "amount": "202.62", "case": "…how it was planted…"}

Subjects are ID numbers for persons, workshop codes for workshops, the household code for IP06,
the post code for DQ01. Amounts are yuan with two decimals (or None), following the conventions
of the rule modules. Informational entries (TS01, DQ01, DQ02) carry ``"informational": True``.
Where rules.md's definitions overlap, one case yields several findings and the manifest lists
them all (money paid after leaving or after death with no attendance is also PS01; one payment
above the standard on a full month is also PS02; pay for months after death with check-ins
recorded after it is IM05 and PS04).

The same manifest, with the list of look-alikes and the audit date to use, is written to
``expected.json`` next to the CSV files. The audit date is the day after the end of the month
that follows the last generated month (everything is then paid and due), see :func:`as_of_for`.

Everything is synthetic (names from the generator's character lists, valid but random ID
numbers, random accounts and phones); the output is a pure function of the arguments.
"""
from __future__ import annotations

import csv
import json
import random
import re
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import uscc

from .cases import PlantedCases
from .county import (
    DISTRICT,
    DISTRICT_CODE,
    FIRM_WORDS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    HEADERS,
    SUBSIDY_FEN,
    SURNAMES,
)
from .synthetic import (
    PlantedPerson,
    Taken,
    add_months,
    add_years,
    bank_account,
    make_id_number,
    month_end,
    ym,
    yuan,
)

__all__ = ["plant_cases", "as_of_for", "MIN_MONTHS", "RULE_CATEGORY"]

MIN_MONTHS = 6  # the planted timelines use the first six months of the period

# rules.md: the category of every rule code
RULE_CATEGORY: dict[str, str] = {
    **{f"PS0{i}": "phantom_salary" for i in range(1, 8)},
    "DP01": "disguised_payment", "DP02": "disguised_payment",
    "WA01": "wage_arrears",
    **{f"IM0{i}": "impersonation" for i in range(1, 6)},
    **{f"IP0{i}": "ineligible_placement" for i in range(1, 9)},
    "FV01": "favouritism",
    **{f"LM0{i}": "ledger_mismatch" for i in range(1, 6)},
    "TS01": "target_shortfall",
    "DQ01": "data_quality", "DQ02": "data_quality",
}
INFORMATIONAL = frozenset({"target_shortfall", "anomaly", "data_quality"})


def as_of_for(start: date, months: int) -> date:
    """The audit date at which every planted case is judged: the day after the end of the month
    that follows the last generated month (all pay made, all due dates passed)."""
    return add_months(start.replace(day=1), months + 1)


def _wage_due(wage: int, present: int, required: int) -> int:
    """monthly_wage × min(1, present ÷ required), half up to the fen (rules.md, Wage due)."""
    days = min(present, required)
    return (2 * wage * days + required) // (2 * required)



class _Planter(PlantedCases):
    def __init__(self, folder: Path, start: date, months: int, seed: int, district: str = DISTRICT,
                 district_code: str = DISTRICT_CODE, taken: Taken | None = None):
        if months < MIN_MONTHS:
            raise ValueError(f"planting needs at least {MIN_MONTHS} months, got {months}")
        self.folder = folder
        self.district = district
        self.code = district_code
        self.rng = random.Random(seed * 7919 + 17)
        self.n = months
        self.p0 = start.replace(day=1)
        self.M = [add_months(self.p0, i) for i in range(months)]
        self.as_of = as_of_for(self.p0, months)
        self.rows: dict[str, list[tuple]] = {t: [] for t in HEADERS}
        self.manifest: list[dict] = []
        self.lookalikes: list[dict] = []
        self.case = ""
        self.positions: dict[str, dict] = {}
        self.workshops: dict[str, dict] = {}
        self.roster: list[tuple[str, PlantedPerson, date, date | None]] = []  # (workshop, person, start, end)
        self.ws_paid: dict[tuple[str, int], int] = {}
        self.report_override: dict[tuple[str, int, str], int] = {}
        self._n_pos = self._n_ws = self._n_hh = self._n_dev = 0
        self._read_existing()
        if taken is not None:  # what the other districts of a city use (audit/demo/city.py)
            self.ids = taken.ids.union(self.ids)
            self.phones = taken.phones.union(self.phones)
            self.banks = taken.banks.union(self.banks)

    # -- what the generator already used ------------------------------------------------------------
    def _read_existing(self) -> None:
        self.ids: set[str] = set()
        self.phones: set[str] = set()
        self.banks: set[str] = set()
        self.codes: set[str] = set()
        self.households: set[str] = set()
        self.rural = ("白帝镇", "桃园村")
        for table in HEADERS:
            path = self.folder / f"{table}.csv"
            if not path.exists():
                continue
            with open(path, encoding="utf-8-sig", newline="") as fh:
                for row in csv.DictReader(fh):
                    if row.get("id_number"):
                        self.ids.add(row["id_number"])
                    if row.get("phone"):
                        self.phones.add(row["phone"])
                    for k in ("bank_account", "account_number"):
                        if row.get(k):
                            self.banks.add(row[k])
                    for k in ("position_code", "workshop_code", "post_code", "subject_code"):
                        if row.get(k):
                            self.codes.add(row[k])
                    if row.get("household_id"):
                        self.households.add(row["household_id"])
                    if table == "positions" and row.get("kind") == "乡村公益性岗位" and row.get("village"):
                        self.rural = (row["township"], row["village"])

    # -- identifiers -----------------------------------------------------------------------------------
    def _new_id(self, birth: date, male: bool) -> str:
        while True:
            idn = make_id_number(self.rng, self.code, birth, male)
            if idn not in self.ids:
                self.ids.add(idn)
                return idn

    def _new_phone(self) -> str:
        while True:
            p = "199" + f"{self.rng.randrange(10 ** 8):08d}"
            if p not in self.phones:
                self.phones.add(p)
                return p

    def _new_bank(self) -> str:
        while True:
            acct = bank_account(self.rng, "623668")
            if acct not in self.banks:
                self.banks.add(acct)
                return acct

    def _new_household(self) -> str:
        while True:
            self._n_hh += 1
            hh = f"HZ{self.code}{self._n_hh:05d}"
            if hh not in self.households:
                self.households.add(hh)
                return hh

    def _credit_code(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        body = "91" + self.code + "".join(self.rng.choice(alphabet) for _ in range(9))
        return body + uscc.calc_check_digit(body)

    def device(self, prefix: str) -> str:
        self._n_dev += 1
        return f"{prefix}-Z{self._n_dev:03d}"

    def name(self, male: bool, given_len: int | None = None) -> str:
        pool = GIVEN_MALE if male else GIVEN_FEMALE
        k = given_len or (2 if self.rng.random() < 0.7 else 1)
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(pool) for _ in range(k))

    def born(self, age: int, at: date) -> date:
        """A birth date that makes the person exactly ``age`` on ``at``."""
        return add_years(at, -age) - timedelta(days=self.rng.randint(20, 330))

    # -- rows ------------------------------------------------------------------------------------------
    def person(self, *, age: int | None = None, at: date | None = None, male: bool | None = None,
               cats: str = "脱贫人口", ability: str = "普通劳动力", hh: str | None = None,
               name: str | None = None) -> PlantedPerson:
        male = self.rng.random() < 0.6 if male is None else male
        at = at or self.p0
        birth = self.born(self.rng.randint(30, 52) if age is None else age, at)
        p = PlantedPerson(self._new_id(birth, male), name or self.name(male), male, birth,
                          hh or self._new_household(), self._new_phone(), self._new_bank(), cats, ability)
        town, village = self.rural
        self.rows["persons"].append((p.idn, p.name, p.phone, p.hh, self.district, town, village, cats,
                                     ability,
                                     p.bank))
        return p

    def position(self, *, wage: int = 80_000, required: int = 20, urban: bool = False,
                 title: str | None = None) -> str:
        while True:
            self._n_pos += 1
            code = f"GW{self.code}-Z{self._n_pos:03d}"
            if code not in self.codes:
                break
        self.codes.add(code)
        town, village = self.rural
        if urban:
            town, village, employer = "永安街道", "诗城社区", f"{self.district}永安街道办事处"
        else:
            employer = f"{village}村民委员会" if village.endswith("村") else f"{village}居民委员会"
        kind = "城镇公益性岗位" if urban else "乡村公益性岗位"
        title = title or ("公共服务协管员" if urban
                          else self.rng.choice(("保洁员", "护林员", "护路员", "水管员")))
        self.positions[code] = {"wage": wage, "required": required, "employer": employer,
                                "terminal": self.device("KQJ")}
        self.rows["positions"].append((code, title, kind, employer, self.district, town, village, yuan(wage),
                                       required, (self.p0 - timedelta(days=1300)).isoformat()))
        return code

    def place(self, p: PlantedPerson, code: str, start: date, end: date | None = None) -> None:
        self.rows["placements"].append((p.idn, code, start.isoformat(), end.isoformat() if end else ""))

    def workshop(self, *, baseline: int | None, certified: date) -> str:
        while True:
            self._n_ws += 1
            code = f"CJ{self.code}-Z{self._n_ws:02d}"
            if code not in self.codes:
                break
        self.codes.add(code)
        town, village = self.rural
        word = self.rng.choice(FIRM_WORDS)
        operator = f"{self.district}{word}服装加工有限公司"
        self.workshops[code] = {"terminal": self.device("ZW"), "baseline": baseline}
        self.rows["workshops"].append((code, f"{town}{village}服装加工帮扶车间（{code[-3:]}）", operator,
                                       self._credit_code(), self.district, town, village,
                                       certified.isoformat(),
                                       "" if baseline is None else baseline))
        return code

    def staff(self, ws: str, p: PlantedPerson, start: date, end: date | None = None,
              wage: int = 250_000) -> None:
        self.roster.append((ws, p, start, end))
        self.workshops[ws].setdefault("wage", {})[p.idn] = wage
        self.rows["workshop_staff"].append((ws, p.idn, start.isoformat(), end.isoformat() if end else "",
                                            yuan(wage)))

    def attend(self, p: PlantedPerson, post: str, mi: int, *, lo: date | None = None, hi: date | None = None,
               present: int | None = None, absent: bool = False, failed: int = 0, method: str = "人脸识别",
               device: str | None = None, by_day=None) -> int:
        """Daily rows of month ``mi`` between lo and hi (default: the whole month): weekdays 出勤
        (only the first ``present`` of them if given, the other weekdays 请假; every weekday 缺勤 if
        ``absent``), weekends 休息. The last ``failed`` present days fail face recognition.
        ``by_day(day) -> (method, device)`` overrides the check-in of a present day. Returns the
        number of present days."""
        first = self.M[mi]
        last = month_end(first)
        lo, hi = max(lo or first, first), min(hi or last, last)
        days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
        weekdays = [d for d in days if d.weekday() < 5]
        on = [] if absent else weekdays[: len(weekdays) if present is None else present]
        fail_from = len(on) - failed
        for d in days:
            if d in on:
                i = on.index(d)
                m, dev = by_day(d) if by_day else (method, device)
                dev = dev if dev is not None else (p.phone if m == "小程序定位" else self._terminal(post))
                ver = ("不通过" if i >= fail_from else "通过") if m == "人脸识别" else ""
                t = f"{7 + (i % 3 == 0):02d}:{self.rng.randint(0, 59):02d}" if m != "手工登记" else "08:00"
                self.rows["attendance"].append((p.idn, post, d.isoformat(), "出勤", t, m, dev, ver))
            else:
                status = "休息" if d.weekday() >= 5 else ("缺勤" if absent else "请假")
                self.rows["attendance"].append((p.idn, post, d.isoformat(), status, "", "", "", ""))
        return len(on)

    def _terminal(self, post: str) -> str:
        return (self.positions.get(post) or self.workshops[post])["terminal"]

    def pay(self, p: PlantedPerson, post: str, mi: int, fen: int, *, paid_on: date | None = None,
            account: str | None = None, account_name: str | None = None, copies: int = 1) -> None:
        paid_on = paid_on or add_months(self.M[mi], 1).replace(day=10)
        row = (p.idn, post, ym(self.M[mi]), yuan(fen), paid_on.isoformat(), account or p.bank,
               p.name if account_name is None else account_name, f"{ym(self.M[mi])}-Z")
        self.rows["wages"].extend([row] * copies)
        if post in self.workshops:
            self.ws_paid[(post, mi)] = self.ws_paid.get((post, mi), 0) + fen * copies

    def due(self, post: str, present: int) -> int:
        pos = self.positions[post]
        return _wage_due(pos["wage"], present, pos["required"])

    def public_month(self, p: PlantedPerson, post: str, mi: int, **kw) -> int:
        """A clean month of a public post: attendance, and the wage due paid on the 10th of the
        next month. Returns the amount paid."""
        present = self.attend(p, post, mi, **kw)
        if present:
            self.pay(p, post, mi, self.due(post, present))
            return self.due(post, present)
        return 0

    def public_months(self, p: PlantedPerson, post: str, mis, **kw) -> int:
        return sum(self.public_month(p, post, mi, **kw) for mi in mis)

    def ws_month(self, p: PlantedPerson, ws: str, mi: int, *, lo: date | None = None, hi: date | None = None,
                 pay: bool = True, copies: int = 1) -> int:
        present = self.attend(p, ws, mi, lo=lo, hi=hi, method="指纹")
        wage = self.workshops[ws]["wage"][p.idn]
        full = lo is None and hi is None
        if present and pay:
            if full:
                amount = wage
            else:  # pro rata of the month's working days, as the generator pays
                wd = sum(1 for i in range(month_end(self.M[mi]).day)
                         if (self.M[mi] + timedelta(days=i)).weekday() < 5)
                amount = min(wage, (2 * wage * present + wd) // (2 * wd))
            self.pay(p, ws, mi, amount, copies=copies)
        return present

    def before(self, months: int, day: int = 1) -> date:
        return add_months(self.p0, -months).replace(day=day)

    def day(self, mi: int, d: int) -> date:
        return self.M[mi].replace(day=d)

    # -- manifest ----------------------------------------------------------------------------------------
    def months_named(self, text: str) -> str:
        """"M3" -> "2025-04", "M1-15" -> "2025-02-15" (the cases are written in period months)."""
        return re.sub(r"(?<![A-Za-z0-9])M(\d+)", lambda m: ym(self.M[int(m.group(1))]), text)

    def expect(self, rule: str, subject: str, post: str | None, mis, amount: int | None) -> None:
        cat = RULE_CATEGORY[rule]
        self.manifest.append({"rule": rule, "category": cat, "subject": subject, "post": post,
                              "periods": [ym(self.M[i]) for i in mis], "amount": yuan(amount),
                              "informational": cat in INFORMATIONAL, "case": self.months_named(self.case)})

    def lookalike(self, subject: str, post: str | None, note: str) -> None:
        self.lookalikes.append({"subject": subject, "post": post, "case": self.months_named(note)})

    # -- writing ------------------------------------------------------------------------------------------
    def reports(self) -> None:
        """Every planted workshop reports every month its figures as defined in ledger-format.md,
        except the planted mis-reports (``report_override``)."""
        for ws in self.workshops:
            staff = [(p, s, e) for w, p, s, e in self.roster if w == ws]
            for mi, first in enumerate(self.M):
                end = month_end(first)
                three = add_months(first, -2)
                on = [(p, s, e) for p, s, e in staff if s <= end and (e is None or e >= end)]
                poor = [(p, s, e) for p, s, e in on
                        if {"脱贫人口", "防止返贫监测对象"} & set(p.cats.split(";"))]
                values = {
                    "poverty_headcount": len(poor) * 100,
                    "total_headcount": len(on) * 100,
                    "wages_total": self.ws_paid.get((ws, mi), 0),
                    "subsidy_claimed": SUBSIDY_FEN * sum(1 for _, s, _ in poor if s <= three),
                }
                for metric, x100 in values.items():
                    x100 = self.report_override.get((ws, mi, metric), x100)
                    value = yuan(x100) if metric in ("wages_total", "subsidy_claimed") else str(x100 // 100)
                    self.rows["reports"].append((ws, ym(first), metric, value))

    def write(self) -> None:
        for table, rows in self.rows.items():
            if not rows:
                continue
            path = self.folder / f"{table}.csv"
            new = not path.exists() or path.stat().st_size == 0
            if not new:  # the file must end with a line break before rows are appended
                with open(path, "rb") as fh:
                    fh.seek(-1, 2)
                    if fh.read(1) not in (b"\n", b"\r"):
                        with open(path, "a", encoding="utf-8", newline="") as out:
                            out.write("\r\n")
            with open(path, "a", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                if new:
                    w.writerow(HEADERS[table])
                w.writerows(rows)
        with open(self.folder / "expected.json", "w", encoding="utf-8") as fh:
            json.dump({"as_of": self.as_of.isoformat(), "findings": self.manifest,
                       "lookalikes": self.lookalikes}, fh, ensure_ascii=False, indent=1)

    def plant(self) -> list[dict]:
        for name in sorted(n for n in dir(self) if n.startswith("case_")):
            getattr(self, name)()
        self.reports()
        self.write()
        return self.manifest


def plant_cases(folder: str | Path, *, start: date, months: int, seed: int, district: str = DISTRICT,
                district_code: str = DISTRICT_CODE, taken: Taken | None = None) -> list[dict]:
    """Append the planted cases to the bundle in ``folder`` (written by ``generate_bundle`` with the
    same ``start``, ``months``, ``district`` and ``district_code``); write ``expected.json``; return
    the manifest of expected findings (see the module docstring). ``taken``: the ID numbers, phones
    and bank accounts the other districts of a city use, which no planted person may share."""
    planter = _Planter(Path(folder), start, months, seed, district, district_code, taken)
    manifest = planter.plant()
    if taken is not None:
        taken.ids |= planter.ids
        taken.phones |= planter.phones
        taken.banks |= planter.banks
    return manifest
