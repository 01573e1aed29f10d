"""The tables the synthetic county writes from its people and posts: persons, posts and workshops,
the daily attendance and the monthly wages, the workshops' reported figures, and the comparison
lists of other departments (deaths, social insurance, pensions, businesses, cadres, migrant work).
A part of the generator's ``Bundle`` (:mod:`audit.demo.generator`): it works on the bundle's state."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, timedelta

from .county import (
    BUSINESS_TRADES,
    FIRM_WORDS,
    HEADERS,
    MIGRANT_PLACES,
    POVERTY,
    SHOP_KINDS,
    SUBSIDY_FEN,
    WORKABLE,
)
from .synthetic import (
    ONE,
    add_months,
    add_years,
    age_on,
    iso,
    month_end,
    rand_date,
    yuan,
)

_TIME_STR = [f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)]


class Records:
    """Writes every table of the bundle (``write``) and counts its rows in ``counts``."""

    # -- writing ---------------------------------------------------------------------------
    def write(self, table: str, rows: Iterable[Iterable]) -> None:
        path = self.out / f"{table}.csv"
        count = 0
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADERS[table])
            if isinstance(rows, list):
                w.writerows(rows)
                count = len(rows)
            else:
                for chunk in rows:  # an iterator of row lists
                    w.writerows(chunk)
                    count += len(chunk)
        self.counts[table] = count

    def write_persons(self) -> None:
        self.write("persons", [
            (p.idn, p.name, p.phone, p.hh, self.district, self.towns[p.town]["name"],
             self.towns[p.town]["villages"][p.vil][0], ";".join(p.cats), p.ability, p.bank)
            for p in self.people])

    def write_posts(self) -> None:
        self.write("positions", [
            (pos["code"], pos["title"], pos["kind"], pos["employer"], self.district,
             self.towns[pos["town"]]["name"],
             self.towns[pos["town"]]["villages"][pos["vil"]][0], yuan(pos["wage"]), pos["required"],
             iso(pos["created"]))
            for pos in self.positions])
        self.write("placements", [(p.idn, pos["code"], iso(s), iso(e)) for p, pos, s, e in self.placements])
        self.write("workshops", [
            (ws["code"], ws["name"], ws["operator"], ws["credit"], self.district,
             self.towns[ws["town"]]["name"],
             self.towns[ws["town"]]["villages"][ws["vil"]][0], iso(ws["certified"]), ws["baseline"])
            for ws in self.workshops])
        self.write("workshop_staff", [(ws["code"], p.idn, iso(s), iso(e), yuan(w))
                                      for ws, p, s, e, w in self.staff])

    # -- attendance and wages --------------------------------------------------------------
    def _segments(self, start: date, end: date | None):
        """(month index, first day index, last day index) of a holding inside the period."""
        lo = max(start, self.pstart)
        hi = min(end or self.pend, self.pend)
        if lo > hi:
            return
        i0 = (lo - self.pstart).days
        i1 = (hi - self.pstart).days
        for mi in range(self.months):
            a = max(i0, self.m_lo[mi])
            b = min(i1, self.m_hi[mi])
            if a <= b:
                yield mi, a, b

    def _month_statuses(self, a: int, b: int, full: bool, required: int | None) -> list[str]:
        rng = self.rng
        seg = self.base_status[a:b + 1]
        work = [k for k, s in enumerate(seg) if s == "出勤"]
        if work:
            if rng.random() < 0.22:
                for k in rng.sample(work, min(len(work), rng.choice((1, 1, 2)))):
                    seg[k] = "请假"
            if rng.random() < 0.07:
                seg[rng.choice(work)] = "缺勤"
            if "出勤" not in seg:
                seg[work[0]] = "出勤"
        if required is not None and full and rng.random() < 0.85:
            short = required - seg.count("出勤")
            if short > 0:  # rural posts make up the days on Saturdays
                for k in range(len(seg)):
                    if short <= 0:
                        break
                    if self.wday[a + k] == 5 and seg[k] == "休息":
                        seg[k] = "出勤"
                        short -= 1
        return seg

    def attendance_and_wages(self) -> None:
        rng = self.rng
        dstr = self.dstr

        def pay_days() -> list[str]:
            """Pay dates of one paying unit: the 10th–15th of the month after each month."""
            return [add_months(mf, 1).replace(day=rng.randint(10, 15)).isoformat()
                    for mf in self.month_firsts]

        # one pay date per township (public posts) and per workshop, per month

        pay_public = [pay_days() for _ in self.towns]
        pay_ws = [pay_days() for _ in self.workshops]
        batches = [f"{per}-1" for per in self.periods]
        wages: list[tuple] = []
        self.ws_wages = {(ws["code"], mi): 0 for ws in self.workshops for mi in range(self.months)}
        self.held_months = []  # (person, employer, credit code, month index) for social insurance

        def gen():
            for p, pos, start, end in self.placements:
                code = pos["code"]
                idn = p.idn
                if p.phone and rng.random() < 0.3:
                    method, dev, ver = "小程序定位", p.phone, ""
                else:
                    terminal = "KQJ-" + self.towns[pos["town"]]["villages"][pos["vil"]][1]
                    method, dev, ver = "人脸识别", terminal, "通过"
                base = rng.randint(450, 505)
                pool = _TIME_STR[base:base + 31]
                required = pos["required"]
                wage = pos["wage"]
                rows = []
                for mi, a, b in self._segments(start, end):
                    full = a == self.m_lo[mi] and b == self.m_hi[mi]
                    seg = self._month_statuses(a, b, full, required)
                    times = rng.choices(pool, k=len(seg))
                    present = 0
                    for k, s in enumerate(seg):
                        if s == "出勤":
                            present += 1
                            rows.append((idn, code, dstr[a + k], s, times[k], method, dev, ver))
                        else:
                            rows.append((idn, code, dstr[a + k], s, "", "", "", ""))
                    if present:
                        # wage due: monthly_wage × min(1, present ÷ required), half-up to the fen
                        amount = wage if present >= required else \
                            (2 * wage * present + required) // (2 * required)
                        wages.append((idn, code, self.periods[mi], yuan(amount), pay_public[pos["town"]][mi],
                                      p.bank, p.name, batches[mi]))
                    if pos["urban"]:
                        office_code = self.towns[pos["town"]]["office_code"]
                        self.held_months.append((p, pos["employer"], office_code, mi))
                yield rows
            for ws, p, start, end, wage in self.staff:
                code = ws["code"]
                idn = p.idn
                n_dev = 2 if len(ws["staff"]) > 35 else 1
                dev = f"ZW-CJ{ws['num']:03d}-{rng.randint(1, n_dev):02d}"
                base = rng.randint(450, 505)
                pool = _TIME_STR[base:base + 31]
                si = rng.random() < 0.35
                rows = []
                for mi, a, b in self._segments(start, end):
                    full = a == self.m_lo[mi] and b == self.m_hi[mi]
                    seg = self._month_statuses(a, b, full, None)
                    times = rng.choices(pool, k=len(seg))
                    present = 0
                    for k, s in enumerate(seg):
                        if s == "出勤":
                            present += 1
                            rows.append((idn, code, dstr[a + k], s, times[k], "指纹", dev, ""))
                        else:
                            rows.append((idn, code, dstr[a + k], s, "", "", "", ""))
                    if present:
                        if full:
                            amount = wage
                        else:  # joined or left this month: pro rata of the month's working days
                            wd = self.m_weekdays[mi]
                            amount = min(wage, (2 * wage * present + wd) // (2 * wd))
                        wages.append((idn, code, self.periods[mi], yuan(amount), pay_ws[ws["num"] - 1][mi],
                                      p.bank, p.name, batches[mi]))
                        self.ws_wages[(code, mi)] += amount
                    if si:
                        self.held_months.append((p, ws["operator"], ws["credit"], mi))
                yield rows

        self.write("attendance", gen())
        self.write("wages", wages)

    def write_reports(self) -> None:
        rows = []
        for ws in self.workshops:
            staff = [(s, e, bool(POVERTY.intersection(p.cats))) for _, p, s, e, _ in ws["staff"]]
            for mi, mf in enumerate(self.month_firsts):
                me = month_end(mf)
                three = add_months(mf, -2)
                on_roster = [(s, e, pv) for s, e, pv in staff if s <= me and (e is None or e >= me)]
                pov = sum(1 for _, _, pv in on_roster if pv)
                stable = sum(1 for s, e, pv in on_roster if pv and s <= three)
                per = self.periods[mi]
                rows.append((ws["code"], per, "poverty_headcount", pov))
                rows.append((ws["code"], per, "total_headcount", len(on_roster)))
                rows.append((ws["code"], per, "wages_total", yuan(self.ws_wages[(ws["code"], mi)])))
                rows.append((ws["code"], per, "subsidy_claimed", yuan(SUBSIDY_FEN * stable)))
        self.write("reports", rows)

    # -- comparison data -------------------------------------------------------------------
    def comparison(self) -> None:
        rng = self.rng
        pstart, pend = self.pstart, self.pend
        free = [p for p in self.people if not p.role and p.hh not in self.official_households]
        rng.shuffle(free)

        # deaths: residents with no post (mostly old), and people not in persons at all
        n_dead = max(2, round(self.n * 0.003))
        n_in = max(1, round(n_dead * 0.65))
        deaths = []
        elderly = [p for p in free if age_on(p.birth, pstart) >= 60]
        others = [p for p in free if age_on(p.birth, pstart) < 60]
        for p in (elderly + others)[:n_in]:
            p.role = "dead"
            deaths.append((p.idn, rand_date(rng, pstart - timedelta(days=365), pend).isoformat()))
        for _ in range(n_dead - len(deaths)):
            male = rng.random() < 0.55
            idn = self.new_id(self.code, self.birth_for_age(rng.randint(55, 95)), male)
            deaths.append((idn, rand_date(rng, pstart - timedelta(days=730), pend).isoformat()))
        self.write("deaths", deaths)
        free = [p for p in free if not p.role]
        adults = [p for p in free if 18 <= age_on(p.birth, pstart) <= 57 and p.ability in WORKABLE]

        # social insurance: post holders' own employers, workshop operators, and other jobs of non-holders
        si = [(p.idn, self.periods[mi], emp, code) for p, emp, code, mi in self.held_months]
        n_si = max(1, round(len(adults) * 0.05))
        si_people = adults[:n_si]
        for p in si_people:
            p.role = "other"
            emp = f"重庆{rng.choice(FIRM_WORDS)}{rng.choice(BUSINESS_TRADES)}有限公司"
            code = self.company_code(emp)
            m0 = rng.randrange(self.months)
            m1 = rng.randrange(m0, self.months)
            for mi in range(m0, m1 + 1):
                si.append((p.idn, self.periods[mi], emp, code))
        self.write("social_insurance", si)

        # pensions
        pensions = []
        seen = set()
        for p, _, _, _ in self.placements:  # residents' basic pension does not disqualify
            since = add_months(add_years(p.birth, 60), 1)
            if p.idn not in seen and since <= pend and rng.random() < 0.5:
                seen.add(p.idn)
                pensions.append((p.idn, "城乡居民基本养老保险", since.isoformat()))
        old = [p for p in free if not p.role and age_on(p.birth, pstart) >= 61]
        n_old = len(old)
        n_res = max(1, n_old // 10)
        for p in old[:n_res]:
            pensions.append((p.idn, "城乡居民基本养老保险",
                             add_months(add_years(p.birth, 60), 1).isoformat()))
            p.role = "other"
        for p in old[n_res: n_res + max(1, round(self.n * 0.002))]:
            kind = "城镇职工基本养老金" if rng.random() < 0.85 else "机关事业单位养老金"
            retire = add_years(p.birth, 60 if p.male else 55)
            pensions.append((p.idn, kind, add_months(retire, 1).isoformat()))
            p.role = "other"
        self.write("pensions", pensions)

        # businesses
        biz = []
        holders = []
        seen = set()
        for p, _, _, _ in self.placements:
            if p.idn not in seen:
                seen.add(p.idn)
                holders.append(p)
        for p in rng.sample(holders, min(len(holders), max(1, round(len(holders) * 0.01)))):
            firm = f"{self.district}{rng.choice(FIRM_WORDS)}{rng.choice(BUSINESS_TRADES)}有限公司"
            biz.append((p.idn, firm, "股东",
                        rand_date(rng, date(2012, 1, 1), pstart - ONE).isoformat(), ""))
        biz_free = [p for p in adults if not p.role]
        operators = set()
        for ws in self.workshops:  # every workshop operator has a legal representative
            if not biz_free:
                break
            if ws["operator"] in operators:
                continue
            operators.add(ws["operator"])
            p = biz_free.pop()
            p.role = "other"
            biz.append((p.idn, ws["operator"], "法定代表人",
                        rand_date(rng, add_months(ws["certified"], -36), ws["certified"]).isoformat(), ""))
        for _ in range(max(1, round(self.n * 0.004))):
            if not biz_free:
                break
            p = biz_free.pop()
            p.role = "other"
            reg = rand_date(rng, date(2010, 1, 1), pend - timedelta(days=30))
            dereg = rand_date(rng, reg + timedelta(days=200), pend).isoformat() \
                if rng.random() < 0.15 and reg + timedelta(days=200) <= pend else ""
            if rng.random() < 0.35:
                name = f"{self.district}{rng.choice(FIRM_WORDS)}{rng.choice(BUSINESS_TRADES)}有限公司"
                while name in self.companies:  # one legal representative per company
                    words = rng.choice(FIRM_WORDS) + rng.choice(FIRM_WORDS)
                    name = f"{self.district}{words}{rng.choice(BUSINESS_TRADES)}有限公司"
                self.company_code(name)
                biz.append((p.idn, name, "法定代表人", reg.isoformat(), dereg))
            else:
                name = f"{self.district}{self.towns[p.town]['name']}{p.name}{rng.choice(SHOP_KINDS)}"
                biz.append((p.idn, name, "个体工商户经营者", reg.isoformat(), dereg))
        self.write("businesses", biz)

        self.write("officials", self.officials)

        # migrant work spells of people with no post
        mig = []
        for p in [p for p in adults if not p.role][: max(1, round(len(adults) * 0.12))]:
            p.role = "other"
            s = rand_date(rng, add_months(pstart, -24), pend - timedelta(days=30))
            e = ""
            if rng.random() < 0.45:
                ed = s + timedelta(days=rng.randint(60, 400))
                if ed <= pend:
                    e = ed.isoformat()
            mig.append((p.idn, s.isoformat(), e, rng.choice(MIGRANT_PLACES)))
        self.write("migrant_work", mig)
