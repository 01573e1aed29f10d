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

from .generator import (
    DISTRICT,
    DISTRICT_CODE,
    FIRM_WORDS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    HEADERS,
    SURNAMES,
    Taken,
    bank_account,
    make_id_number,
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

_ONE = timedelta(days=1)
SUBSIDY_FEN = 50_000  # subsidy_per_person, 500 yuan a month


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def _add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 February
        return d.replace(year=d.year + n, day=28)


def _month_end(d: date) -> date:
    return _add_months(d, 1) - _ONE


def _yuan(fen: int | None) -> str | None:
    if fen is None:
        return None
    return f"{fen // 100}.{fen % 100:02d}"


def _ym(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def as_of_for(start: date, months: int) -> date:
    """The audit date at which every planted case is judged: the day after the end of the month
    that follows the last generated month (all pay made, all due dates passed)."""
    return _add_months(start.replace(day=1), months + 1)


def _wage_due(wage: int, present: int, required: int) -> int:
    """monthly_wage × min(1, present ÷ required), half up to the fen (rules.md, Wage due)."""
    days = min(present, required)
    return (2 * wage * days + required) // (2 * required)


class _P:
    """A planted person."""

    def __init__(self, idn, name, male, birth, hh, phone, bank, cats, ability):
        self.idn, self.name, self.male, self.birth, self.hh = idn, name, male, birth, hh
        self.phone, self.bank, self.cats, self.ability = phone, bank, cats, ability


class _Planter:
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
        self.M = [_add_months(self.p0, i) for i in range(months)]
        self.as_of = as_of_for(self.p0, months)
        self.rows: dict[str, list[tuple]] = {t: [] for t in HEADERS}
        self.manifest: list[dict] = []
        self.lookalikes: list[dict] = []
        self.case = ""
        self.positions: dict[str, dict] = {}
        self.workshops: dict[str, dict] = {}
        self.roster: list[tuple[str, _P, date, date | None]] = []  # (workshop, person, start, end)
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
        return _add_years(at, -age) - timedelta(days=self.rng.randint(20, 330))

    # -- rows ------------------------------------------------------------------------------------------
    def person(self, *, age: int | None = None, at: date | None = None, male: bool | None = None,
               cats: str = "脱贫人口", ability: str = "普通劳动力", hh: str | None = None,
               name: str | None = None) -> _P:
        male = self.rng.random() < 0.6 if male is None else male
        at = at or self.p0
        birth = self.born(self.rng.randint(30, 52) if age is None else age, at)
        p = _P(self._new_id(birth, male), name or self.name(male), male, birth, hh or self._new_household(),
               self._new_phone(), self._new_bank(), cats, ability)
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
        title = title or ("公共服务协管员" if urban else self.rng.choice(("保洁员", "护林员", "护路员", "水管员")))
        self.positions[code] = {"wage": wage, "required": required, "employer": employer,
                                "terminal": self.device("KQJ")}
        self.rows["positions"].append((code, title, kind, employer, self.district, town, village, _yuan(wage),
                                       required, (self.p0 - timedelta(days=1300)).isoformat()))
        return code

    def place(self, p: _P, code: str, start: date, end: date | None = None) -> None:
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

    def staff(self, ws: str, p: _P, start: date, end: date | None = None, wage: int = 250_000) -> None:
        self.roster.append((ws, p, start, end))
        self.workshops[ws].setdefault("wage", {})[p.idn] = wage
        self.rows["workshop_staff"].append((ws, p.idn, start.isoformat(), end.isoformat() if end else "",
                                            _yuan(wage)))

    def attend(self, p: _P, post: str, mi: int, *, lo: date | None = None, hi: date | None = None,
               present: int | None = None, absent: bool = False, failed: int = 0, method: str = "人脸识别",
               device: str | None = None, by_day=None) -> int:
        """Daily rows of month ``mi`` between lo and hi (default: the whole month): weekdays 出勤
        (only the first ``present`` of them if given, the other weekdays 请假; every weekday 缺勤 if
        ``absent``), weekends 休息. The last ``failed`` present days fail face recognition.
        ``by_day(day) -> (method, device)`` overrides the check-in of a present day. Returns the
        number of present days."""
        first = self.M[mi]
        last = _month_end(first)
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

    def pay(self, p: _P, post: str, mi: int, fen: int, *, paid_on: date | None = None,
            account: str | None = None, account_name: str | None = None, copies: int = 1) -> None:
        paid_on = paid_on or _add_months(self.M[mi], 1).replace(day=10)
        row = (p.idn, post, _ym(self.M[mi]), _yuan(fen), paid_on.isoformat(), account or p.bank,
               p.name if account_name is None else account_name, f"{_ym(self.M[mi])}-Z")
        self.rows["wages"].extend([row] * copies)
        if post in self.workshops:
            self.ws_paid[(post, mi)] = self.ws_paid.get((post, mi), 0) + fen * copies

    def due(self, post: str, present: int) -> int:
        pos = self.positions[post]
        return _wage_due(pos["wage"], present, pos["required"])

    def public_month(self, p: _P, post: str, mi: int, **kw) -> int:
        """A clean month of a public post: attendance, and the wage due paid on the 10th of the
        next month. Returns the amount paid."""
        present = self.attend(p, post, mi, **kw)
        if present:
            self.pay(p, post, mi, self.due(post, present))
            return self.due(post, present)
        return 0

    def public_months(self, p: _P, post: str, mis, **kw) -> int:
        return sum(self.public_month(p, post, mi, **kw) for mi in mis)

    def ws_month(self, p: _P, ws: str, mi: int, *, lo: date | None = None, hi: date | None = None,
                 pay: bool = True, copies: int = 1) -> int:
        present = self.attend(p, ws, mi, lo=lo, hi=hi, method="指纹")
        wage = self.workshops[ws]["wage"][p.idn]
        full = lo is None and hi is None
        if present and pay:
            if full:
                amount = wage
            else:  # pro rata of the month's working days, as the generator pays
                wd = sum(1 for i in range(_month_end(self.M[mi]).day)
                         if (self.M[mi] + timedelta(days=i)).weekday() < 5)
                amount = min(wage, (2 * wage * present + wd) // (2 * wd))
            self.pay(p, ws, mi, amount, copies=copies)
        return present

    def before(self, months: int, day: int = 1) -> date:
        return _add_months(self.p0, -months).replace(day=day)

    def day(self, mi: int, d: int) -> date:
        return self.M[mi].replace(day=d)

    # -- manifest ----------------------------------------------------------------------------------------
    def months_named(self, text: str) -> str:
        """"M3" -> "2025-04", "M1-15" -> "2025-02-15" (the cases are written in period months)."""
        return re.sub(r"(?<![A-Za-z0-9])M(\d+)", lambda m: _ym(self.M[int(m.group(1))]), text)

    def expect(self, rule: str, subject: str, post: str | None, mis, amount: int | None) -> None:
        cat = RULE_CATEGORY[rule]
        self.manifest.append({"rule": rule, "category": cat, "subject": subject, "post": post,
                              "periods": [_ym(self.M[i]) for i in mis], "amount": _yuan(amount),
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
                end = _month_end(first)
                three = _add_months(first, -2)
                on = [(p, s, e) for p, s, e in staff if s <= end and (e is None or e >= end)]
                poor = [(p, s, e) for p, s, e in on if {"脱贫人口", "防止返贫监测对象"} & set(p.cats.split(";"))]
                values = {
                    "poverty_headcount": len(poor) * 100,
                    "total_headcount": len(on) * 100,
                    "wages_total": self.ws_paid.get((ws, mi), 0),
                    "subsidy_claimed": SUBSIDY_FEN * sum(1 for _, s, _ in poor if s <= three),
                }
                for metric, x100 in values.items():
                    x100 = self.report_override.get((ws, mi, metric), x100)
                    value = _yuan(x100) if metric in ("wages_total", "subsidy_claimed") else str(x100 // 100)
                    self.rows["reports"].append((ws, _ym(first), metric, value))

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

    # =====================================================================================================
    # The cases. Month indices are 0-based within the period (M0 = the first generated month).
    # =====================================================================================================
    def plant(self) -> list[dict]:
        for name in sorted(n for n in dir(self) if n.startswith("case_")):
            getattr(self, name)()
        self.reports()
        self.write()
        return self.manifest

    def all_months(self):
        return range(self.n)

    # ---- 吃空饷 ----
    def case_ps01(self):
        self.case = "PS01：M2 全月缺勤却照发全额工资"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(8, 3))
        self.public_months(p, x, [m for m in self.all_months() if m != 2])
        self.attend(p, x, 2, absent=True)
        self.pay(p, x, 2, self.positions[x]["wage"])
        self.expect("PS01", p.idn, x, [2], self.positions[x]["wage"])

    def case_ps02(self):
        self.case = "PS02：月标准 810.50 元、规定 20 天，M3 出勤 15 天却发全额（应发 607.88，四舍五入到分）"
        p, x = self.person(), self.position(wage=81_050, required=20)
        self.place(p, x, self.before(9, 2))
        self.public_months(p, x, [m for m in self.all_months() if m != 3])
        present = self.attend(p, x, 3, present=15)
        self.pay(p, x, 3, 81_050)
        self.expect("PS02", p.idn, x, [3], 81_050 - self.due(x, present))

    def case_ps03(self):
        self.case = "PS03：M1-15 离岗（当月按天发放），M2、M3 仍发全额且无考勤（同时 PS01）"
        p, x = self.person(), self.position()
        end = self.day(1, 15)
        self.place(p, x, self.before(6, 5), end)
        self.public_month(p, x, 0)
        self.public_month(p, x, 1, hi=end)
        wage = self.positions[x]["wage"]
        for m in (2, 3):
            self.pay(p, x, m, wage)
            self.expect("PS03", p.idn, x, [m], wage)
            self.expect("PS01", p.idn, x, [m], wage)

    def case_ps04(self):
        self.case = "PS04：M2-20 死亡，当月按天发放；M3、M4 仍发全额且无考勤（同时 PS01）"
        p, x = self.person(age=58), self.position()
        death = self.day(2, 20)
        self.place(p, x, self.before(10, 1))
        self.public_months(p, x, [0, 1])
        self.public_month(p, x, 2, hi=death - _ONE)
        self.rows["deaths"].append((p.idn, death.isoformat()))
        wage = self.positions[x]["wage"]
        for m in (3, 4):
            self.pay(p, x, m, wage)
            self.expect("PS04", p.idn, x, [m], wage)
            self.expect("PS01", p.idn, x, [m], wage)

    def case_ps05(self):
        self.case = "PS05：外出务工 M1-25 至 M4-05，其间手工登记照常“出勤”、照发工资；整月在外的 M2、M3"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(14, 6))
        register = self.device("DJB")
        paid = {m: self.public_month(p, x, m, method="手工登记", device=register) for m in self.all_months()}
        self.rows["migrant_work"].append((p.idn, self.day(1, 25).isoformat(), self.day(4, 5).isoformat(),
                                          "广东省东莞市"))
        for m in (2, 3):
            self.expect("PS05", p.idn, x, [m], paid[m])

    def case_ps06(self):
        self.case = "PS06：M3、M4 由无关企业缴纳社保（在别处就业），同月照发岗位工资"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(5, 8))
        paid = {m: self.public_month(p, x, m) for m in self.all_months()}
        firm = f"重庆{self.rng.choice(FIRM_WORDS)}建筑工程有限公司"
        code = self._credit_code()
        for m in (3, 4):
            self.rows["social_insurance"].append((p.idn, _ym(self.M[m]), firm, code))
            self.expect("PS06", p.idn, x, [m], paid[m])

    def case_ps07_wa01_workshop(self):
        """A clean planted workshop with three staff: one paid twice for M2 (PS07), one whose M3
        was worked and never paid (WA01, amount unknown for workshops), one clean."""
        self.case = "车间 A"
        ws = self.workshop(baseline=3, certified=self.before(24, 9))
        dup, unpaid, clean = self.person(), self.person(), self.person()
        for p in (dup, unpaid, clean):
            self.staff(ws, p, self.before(12, 4))
        for m in self.all_months():
            self.ws_month(dup, ws, m, copies=2 if m == 2 else 1)
            self.ws_month(unpaid, ws, m, pay=m != 3)
            self.ws_month(clean, ws, m)
        self.case = "PS07：车间工人 M2 工资同日同额同账户发放两次"
        self.expect("PS07", dup.idn, ws, [2], self.workshops[ws]["wage"][dup.idn])
        self.case = "WA01（车间）：M3 有出勤、到期未发工资（车间应发数未知，金额为空）"
        self.expect("WA01", unpaid.idn, ws, [3], None)

    # ---- 变相发钱 ----
    def case_dp01(self):
        self.case = "DP01：从未在该岗位的人在别人的岗位上领 M3 工资（无考勤，同时 PS01）"
        holder, outsider, x = self.person(), self.person(), self.position()
        self.place(holder, x, self.before(7, 7))
        self.public_months(holder, x, self.all_months())
        wage = self.positions[x]["wage"]
        self.pay(outsider, x, 3, wage)
        self.expect("DP01", outsider.idn, x, [3], wage)
        self.expect("PS01", outsider.idn, x, [3], wage)

    def case_dp02(self):
        self.case = "DP02：月标准 800，M4 一笔发放 1200（全勤，同时 PS02 多发 400）"
        p, x = self.person(), self.position(wage=80_000)
        self.place(p, x, self.before(11, 3))
        self.public_months(p, x, [m for m in self.all_months() if m != 4])
        self.attend(p, x, 4)
        self.pay(p, x, 4, 120_000)
        self.expect("DP02", p.idn, x, [4], 40_000)
        self.expect("PS02", p.idn, x, [4], 40_000)

    # ---- 未按时足额发放 ----
    def case_wa01(self):
        self.case = "WA01：M2 到期后才补发 500（少于应发），M3 有出勤始终未发"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(9, 9))
        self.public_months(p, x, [m for m in self.all_months() if m not in (2, 3)])
        due2 = self.due(x, self.attend(p, x, 2))
        self.pay(p, x, 2, 50_000, paid_on=self.day(4, 5))  # due date: the end of M3
        due3 = self.due(x, self.attend(p, x, 3))
        self.expect("WA01", p.idn, x, [2], due2 - 50_000)
        self.expect("WA01", p.idn, x, [3], due3)

    # ---- 冒名顶替 ----
    def case_im01(self):
        self.case = "IM01：M2 人脸识别不通过 8 次（≥3 且 ≥30%）；M3 不通过 5 次（<30%，不应报）"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(8, 6))
        paid = {m: self.public_month(p, x, m, failed={2: 8, 3: 5}.get(m, 0)) for m in self.all_months()}
        self.expect("IM01", p.idn, x, [2], paid[2])

    def case_im02(self):
        self.case = "IM02：一部个人手机 M3 每个工作日为 3 人签到"
        phone = self._new_phone()
        trio = [(self.person(), self.position()) for _ in range(3)]
        for p, x in trio:
            self.place(p, x, self.before(10, 2))
            paid = {m: self.public_month(p, x, m, method="小程序定位",
                                         device=phone if m == 3 else None) for m in self.all_months()}
            self.expect("IM02", p.idn, x, [3], paid[3])

    def case_im03(self):
        self.case = "IM03：M3、M4 工资打入户名为他人（村文书）的账户"
        p, x = self.person(), self.position()
        clerk_account, clerk_name = self._new_bank(), self.name(False, 2)
        self.place(p, x, self.before(13, 4))
        for m in self.all_months():
            present = self.attend(p, x, m)
            other = m in (3, 4)
            self.pay(p, x, m, self.due(x, present), account=clerk_account if other else None,
                     account_name=clerk_name if other else None)
            if other:
                self.expect("IM03", p.idn, x, [m], self.due(x, present))

    def case_im04(self):
        self.case = "IM04：M4 两人的工资打入同一账户（户名照填本人姓名）"
        shared = self._new_bank()
        for _ in range(2):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(7, 1))
            for m in self.all_months():
                due = self.due(x, self.attend(p, x, m))
                self.pay(p, x, m, due, account=shared if m == 4 else None)
                if m == 4:
                    self.expect("IM04", p.idn, x, [4], due)

    def case_im05(self):
        self.case = "IM05：M2-10 死亡，此后 M2、M3 仍有手工登记的出勤并发放（M3 同时 PS04）"
        p, x = self.person(age=57), self.position()
        death = self.day(2, 10)
        register = self.device("DJB")
        self.place(p, x, self.before(16, 3))
        self.rows["deaths"].append((p.idn, death.isoformat()))
        paid = {m: self.public_month(p, x, m, method="手工登记" if m >= 2 else "人脸识别",
                                     device=register if m >= 2 else None) for m in range(4)}
        self.expect("IM05", p.idn, x, [2], paid[2])
        self.expect("IM05", p.idn, x, [3], paid[3])
        self.expect("PS04", p.idn, x, [3], paid[3])

    # ---- 安置不符合条件人员 (per placement, no month; amount = all pay on that post) ----
    def _ineligible(self, rule: str, case: str, p: _P, start: date, **pos) -> str:
        self.case = case
        x = self.position(**pos)
        self.place(p, x, start)
        paid = self.public_months(p, x, self.all_months())
        self.expect(rule, p.idn, x, [], paid)
        return x

    def case_ip01(self):
        start = self.before(7, 1)
        self._ineligible("IP01", "IP01：人员类别为空（不属于任何安置对象类别）", self.person(cats=""), start)

    def case_ip02(self):
        start = self.before(7, 1)
        p = self.person(age=66, at=start, male=True)
        self._ineligible("IP02", "IP02：乡村公益性岗位上岗时 66 岁（上限 65）", p, start)

    def case_ip03(self):
        start = self.before(6, 1)
        p = self.person(age=62, at=start, male=True)
        since = _add_months(_add_years(p.birth, 60), 1)  # retired at 60, two years before the post
        self.rows["pensions"].append((p.idn, "城镇职工基本养老金", since.isoformat()))
        self._ineligible("IP03", "IP03：上岗前已领取城镇职工基本养老金", p, start)

    def case_ip04(self):
        start = self.before(5, 1)
        p = self.person()
        self.rows["businesses"].append((p.idn, f"{self.district}{self.rng.choice(FIRM_WORDS)}商贸有限公司", "法定代表人",
                                        self.before(48, 15).isoformat(), ""))
        self._ineligible("IP04", "IP04：在岗期间是一家存续企业的法定代表人", p, start)

    def case_ip05(self):
        start = self.before(9, 1)
        p = self.person(age=45)
        town, village = self.rural
        self.rows["officials"].append((p.idn, p.name, "村两委成员", f"{village}村民委员会", self.district, town,
                                       village,
                                       p.hh))
        self._ineligible("IP05", "IP05：村两委成员本人占用公益性岗位", p, start)

    def case_ip06(self):
        self.case = "IP06：同户两人，甲在岗期间乙于 M1-01 上岗（一户一岗）"
        hh = self._new_household()
        a, b = self.person(hh=hh, male=True), self.person(hh=hh, male=False)
        xa, xb = self.position(), self.position(wage=90_000)
        self.place(a, xa, self.before(10, 6))
        self.public_months(a, xa, self.all_months())
        self.place(b, xb, self.day(1, 1))
        paid = self.public_months(b, xb, range(1, self.n))
        self.expect("IP06", hh, xb, [], paid)

    def case_ip07(self):
        self.case = "IP07：城镇公益性岗位连续在岗超过 36 个月（M3 起为期满后的月份）"
        start = _add_months(self.p0, -33)
        p = self.person(age=40, at=start, male=True, cats="登记失业人员")
        x = self.position(urban=True, wage=190_000)
        self.place(p, x, start)
        paid = {m: self.public_month(p, x, m) for m in self.all_months()}
        self.expect("IP07", p.idn, x, [], sum(paid[m] for m in range(3, self.n)))

    def case_ip08(self):
        start = self.before(8, 1)
        self._ineligible("IP08", "IP08：劳动能力为丧失劳动力", self.person(ability="丧失劳动力"), start)

    # ---- 优亲厚友 ----
    def case_fv01(self):
        self.case = "FV01：与村委会主任同户的家庭成员占用公益性岗位"
        hh = self._new_household()
        p = self.person(hh=hh)
        cadre_birth = self.born(50, self.p0)
        cadre = make_id_number(self.rng, self.code, cadre_birth, True)
        while cadre in self.ids:
            cadre = make_id_number(self.rng, self.code, cadre_birth, True)
        self.ids.add(cadre)
        town, village = self.rural
        self.rows["officials"].append((cadre, self.name(True), "村委会主任", f"{village}村民委员会", self.district,
                                       town,
                                       village, hh))
        x = self.position()
        self.place(p, x, self.before(6, 1))
        paid = self.public_months(p, x, self.all_months())
        self.expect("FV01", p.idn, x, [], paid)

    # ---- 账实不符 (workshops) ----
    def case_lm(self):
        self.case = "车间 LM：6 名脱贫人口 + 2 名其他人员全年在册"
        ws = self.workshop(baseline=6, certified=self.before(30, 12))
        staff = [self.person() for _ in range(6)] + [self.person(cats="登记失业人员") for _ in range(2)]
        for p in staff:
            self.staff(ws, p, self.before(7, 2), wage=230_000)
            for m in self.all_months():
                self.ws_month(p, ws, m)
        # mis-reports, one metric a month (x100 for headcounts, fen for money)
        self.report_override[(ws, 1, "poverty_headcount")] = 8 * 100  # 6 on the roster
        self.report_override[(ws, 2, "total_headcount")] = 10 * 100  # 8 on the roster
        self.report_override[(ws, 3, "wages_total")] = self.ws_paid[(ws, 3)] + 100_000
        self.report_override[(ws, 4, "subsidy_claimed")] = 8 * SUBSIDY_FEN  # 6 stable poverty staff: 3000.00
        self.case = "LM01：M1 上报吸纳脱贫人口 8 人，实为 6 人"
        self.expect("LM01", ws, ws, [1], None)
        self.case = "LM02：M2 上报用工总人数 10 人，实为 8 人"
        self.expect("LM02", ws, ws, [2], None)
        self.case = "LM03：M3 上报工资总额比实发多 1000.00 元"
        self.expect("LM03", ws, ws, [3], None)
        self.case = "LM04：M4 申领奖补 4000.00 元，按规定应为 3000.00 元"
        self.expect("LM04", ws, ws, [4], 100_000)
        self.case = "LM05：M5 花名册上有 2 名脱贫人口全月无出勤、无工资（数字就业）"
        for _ in range(2):
            self.staff(ws, self.person(), self.M[5], _month_end(self.M[5]), wage=230_000)
        self.expect("LM05", ws, ws, [5], None)

    def case_ts01(self):
        self.case = "TS01：基数 5 人，一名脱贫人口 M3-12 离职、M4-01 才补上，M3 月末只有 4 人"
        certified = self.before(20, 1)
        ws = self.workshop(baseline=5, certified=certified)
        staff = [self.person() for _ in range(5)]
        leave = self.day(3, 12)
        for i, p in enumerate(staff):
            self.staff(ws, p, certified, leave if i == 0 else None, wage=220_000)
            for m in self.all_months():
                if i == 0 and m > 3:
                    break
                self.ws_month(p, ws, m, hi=leave if i == 0 and m == 3 else None)
        late = self.person()
        self.staff(ws, late, self.M[4], wage=220_000)
        for m in range(4, self.n):
            self.ws_month(late, ws, m)
        self.expect("TS01", ws, ws, [3], None)

    # ---- 数据质量 ----
    def case_dq01(self):
        self.case = "DQ01：公益性岗位每月发放工资，但该岗位没有任何考勤记录"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(6, 1))
        for m in self.all_months():
            self.pay(p, x, m, self.positions[x]["wage"])
        self.expect("DQ01", x, x, [], None)

    def case_dq02(self):
        self.case = "DQ02：帮扶车间未填上年末吸纳脱贫人口基数（TS01 无法判断）"
        ws = self.workshop(baseline=None, certified=self.before(18, 1))
        for _ in range(2):
            p = self.person()
            self.staff(ws, p, self.before(10, 1), wage=210_000)
            for m in self.all_months():
                self.ws_month(p, ws, m)
        self.expect("DQ02", ws, ws, [], None)

    # =====================================================================================================
    # Look-alikes: each in its own person and post; none may produce a violation finding.
    # =====================================================================================================
    def case_z_register(self):
        register = "1" + f"{self.rng.randrange(10 ** 11):011d}"  # a 12-digit serial: not a mobile number
        note = f"村文书的考勤登记簿（设备号 {register}，非手机号）每天为全村 6 人签到"
        for _ in range(6):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(12, 1))
            self.public_months(p, x, self.all_months(), method="手工登记", device=register)
            self.lookalike(p.idn, x, note)

    def case_z_neighbour_phone(self):
        phone = self._new_phone()
        note = "邻居的手机在 M2 的两天里为 2 人签到"
        for _ in range(2):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(9, 1))
            first_two = [d for d in (self.M[2] + timedelta(days=i) for i in range(10)) if d.weekday() < 5][:2]
            for m in self.all_months():
                self.public_month(p, x, m, method="小程序定位",
                                  by_day=lambda d, first_two=first_two: ("小程序定位", phone if d in first_two else None))
            self.lookalike(p.idn, x, note)

    def case_z_residents_pension(self):
        start = self.before(8, 1)
        p = self.person(age=61, at=start, male=False)
        since = _add_months(_add_years(p.birth, 60), 1)
        self.rows["pensions"].append((p.idn, "城乡居民基本养老保险", since.isoformat()))
        x = self.position()
        self.place(p, x, start)
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "在岗人员领取城乡居民基本养老保险（不影响安置）")

    def case_z_death_after_last_pay(self):
        p, x = self.person(age=59), self.position()
        death = self.day(4, 3)
        self.place(p, x, self.before(9, 1), death)
        self.public_months(p, x, range(4))
        self.rows["deaths"].append((p.idn, death.isoformat()))
        self.lookalike(p.idn, x, "M4-03 死亡，最后一次发放的是 M3 工资")

    def case_z_own_employer_insurance(self):
        p, x = self.person(), self.position()
        self.place(p, x, self.before(10, 1))
        self.public_months(p, x, self.all_months())
        for m in self.all_months():
            self.rows["social_insurance"].append((p.idn, _ym(self.M[m]), self.positions[x]["employer"], ""))
        self.lookalike(p.idn, x, "社保由本岗位的用工单位缴纳")

    def case_z_spaced_account_name(self):
        p = self.person(name=None)
        spaced = p.name[0] + " " + p.name[1:]
        x = self.position()
        self.place(p, x, self.before(7, 1))
        for m in self.all_months():
            self.pay(p, x, m, self.due(x, self.attend(p, x, m)), account_name=spaced)
        self.lookalike(p.idn, x, f"收款户名录成“{spaced}”（中间有空格）")

    def case_z_rural_62(self):
        start = self.before(4, 1)
        p, x = self.person(age=62, at=start, male=True), self.position()
        self.place(p, x, start)
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "乡村公益性岗位上岗时 62 岁（未超过 65）")

    def case_z_shareholder(self):
        p, x = self.person(), self.position()
        self.rows["businesses"].append((p.idn, f"{self.district}{self.rng.choice(FIRM_WORDS)}农业开发有限公司", "股东",
                                        self.before(30, 20).isoformat(), ""))
        self.place(p, x, self.before(6, 1))
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "企业股东（非法定代表人）")

    def case_z_household_no_overlap(self):
        hh = self._new_household()
        c, d = self.person(hh=hh, male=True), self.person(hh=hh, male=False)
        xc, xd = self.position(), self.position()
        self.place(c, xc, self.before(8, 1), _month_end(self.M[2]))
        self.public_months(c, xc, range(3))
        self.place(d, xd, self.M[3])
        self.public_months(d, xd, range(3, self.n))
        self.lookalike(hh, None, "同户两人先后上岗：一人 M2 月末离岗，另一人 M3-01 上岗，时间不重叠")

    def case_z_left_mid_month(self):
        p, x = self.person(), self.position()
        end = self.day(2, 14)
        self.place(p, x, self.before(11, 1), end)
        self.public_months(p, x, range(2))
        self.public_month(p, x, 2, hi=end)
        self.lookalike(p.idn, x, "M2-14 离岗，当月按出勤天数折算发放，此后不再发放")


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
