"""The people of the synthetic county and who holds what: households and their categories and labour
ability, the public-welfare posts and their holders (with leavers and refills), the cadres, and the
workshops with their rosters. A part of the generator's ``Bundle`` (:mod:`audit.demo.generator`):
it works on the bundle's state (``rng``, the period, ``towns``, the identifier makers)."""
from __future__ import annotations

from datetime import date, timedelta

from .county import (
    CATEGORY_ORDER,
    FIRM_WORDS,
    OTHER_REGIONS,
    POVERTY,
    PUBLIC_TITLES_RURAL,
    PUBLIC_TITLES_RURAL_W,
    PUBLIC_TITLES_URBAN,
    PUBLIC_TITLES_URBAN_W,
    SURNAMES,
    WORKABLE,
    WORKSHOP_INDUSTRIES,
)
from .synthetic import (
    ONE,
    add_months,
    add_years,
    age_on,
    month_end,
    rand_date,
    rand_weekday,
)

_CAT_RANK = {c: i for i, c in enumerate(CATEGORY_ORDER)}


class Person:
    __slots__ = ("idn", "name", "male", "birth", "hh", "town", "vil", "cats", "ability", "phone", "bank",
                 "role")

    def __init__(self, idn, name, male, birth, hh, town, vil):
        self.idn = idn
        self.name = name
        self.male = male
        self.birth = birth
        self.hh = hh
        self.town = town
        self.vil = vil
        self.cats: list[str] = []
        self.ability = ""
        self.phone = ""
        self.bank = ""
        self.role = ""  # "", "public", "staff", "official", "dead", "other" (business owner etc.)


class Population:
    """Builds ``people``, ``households``, ``positions``/``placements``, ``officials`` and
    ``workshops``/``staff``."""

    # -- persons -----------------------------------------------------------------------
    def build_persons(self) -> None:
        rng = self.rng
        self.people: list[Person] = []
        self.households: list[list[Person]] = []
        tw = [t["weight"] for t in self.towns]
        hh_seq = 0
        while len(self.people) < self.n:
            size = min(rng.choices((1, 2, 3, 4, 5), (22, 30, 24, 14, 10))[0], self.n - len(self.people))
            ti = rng.choices(range(len(self.towns)), tw)[0]
            vi = rng.randrange(len(self.towns[ti]["villages"]))
            hh_seq += 1
            hh = f"H{self.code}{hh_seq:06d}"
            members = self._household_members(size)
            head_surname = rng.choice(SURNAMES)
            household = []
            for k, (age, male) in enumerate(members):
                # children and the head's own parent carry the head's surname
                surname = head_surname if (k == 0 or k >= 2) else None
                region = self.code if rng.random() < 0.96 else rng.choice(OTHER_REGIONS)
                birth = self.birth_for_age(age)
                idn = self.new_id(region, birth, male)
                p = Person(idn, self.name(male, surname), male, birth, hh, ti, vi)
                household.append(p)
                self.people.append(p)
            self._household_categories(household)
            self.households.append(household)
        self.next_hh = hh_seq + 1
        for p in self.people:
            age = age_on(p.birth, self.pstart)
            if age >= 16 and (age < 75 or rng.random() < 0.6):
                p.phone = self.new_phone()
            p.bank = self.new_bank()

    def _household_members(self, size: int) -> list[tuple[int, bool]]:
        rng = self.rng
        if size == 1:
            lo, hi = rng.choices(((20, 39), (40, 59), (60, 85)), (40, 40, 20))[0]
            age = rng.randint(lo, hi)
            return [(age, rng.random() < 0.65)]
        lo, hi = rng.choices(((24, 34), (35, 49), (50, 59), (60, 69), (70, 82)), (22, 38, 24, 10, 6))[0]
        head_age = rng.randint(lo, hi)
        head_male = rng.random() < 0.82
        out = [(head_age, head_male)]
        if rng.random() < 0.88:
            out.append((max(20, min(90, head_age + rng.randint(-5, 4))), not head_male))
        while len(out) < size:
            r = rng.random()
            if head_age <= 58 and r < 0.22 and head_age + 22 <= 92:
                out.append((min(92, head_age + rng.randint(22, 32)), rng.random() < 0.45))
            elif head_age >= 52:
                out.append((max(16, head_age - rng.randint(22, 32)), rng.random() < 0.55))
            else:
                out.append((rng.randint(0, max(0, head_age - 20)), rng.random() < 0.52))
        return out

    def _household_categories(self, household: list[Person]) -> None:
        rng = self.rng
        r = rng.random()
        base: list[str] = []
        if r < 0.76:
            base = ["脱贫人口"]
        elif r < 0.84:
            base = ["防止返贫监测对象"]
        elif r < 0.88:
            base = ["脱贫人口", "防止返贫监测对象"]
        poor = bool(base)
        r = rng.random()
        if r < 0.12:
            base.append("低保对象")
        elif r < 0.16:
            base.append("低保边缘家庭成员")
        zero_job = rng.random() < 0.02
        on = self.pstart
        town_name = self.towns[household[0].town]["name"]
        for p in household:
            cats = list(base)
            age = age_on(p.birth, on)
            disabled = rng.random() < 0.05
            if disabled:
                cats.append("残疾人")
            if zero_job and 16 <= age < 60:
                cats.append("零就业家庭成员")
            if len(household) == 1 and age >= 60 and rng.random() < 0.3:
                cats.append("特困人员")
            if age >= 16:
                older = (age >= 50 if p.male else age >= 40) and age < 60
                if older and rng.random() < (0.5 if not poor else 0.05):
                    cats.append("大龄失业人员")
                if 18 <= age < 60:
                    if rng.random() < (0.35 if not poor else 0.03):
                        cats.append("登记失业人员")
                    if rng.random() < 0.02:
                        cats.append("长期失业人员")
                if 20 <= age <= 24 and rng.random() < 0.15:
                    cats.append("离校未就业高校毕业生")
                if p.male and 25 <= age <= 60 and rng.random() < 0.04:
                    cats.append("退役军人")
                if 20 <= age <= 60:
                    x = rng.random()
                    if x < 0.003:
                        cats.append("刑满释放人员")
                    elif x < 0.004:
                        cats.append("戒毒康复人员")
                    elif x < 0.009:
                        cats.append("化解过剩产能企业职工")
                if town_name in ("白帝镇", "永安街道", "夔门街道") and 30 <= age <= 65 \
                        and rng.random() < 0.03:
                    cats.append("退捕渔民")
            p.cats = sorted(set(cats), key=_CAT_RANK.__getitem__)
            # labour ability
            if age < 18:
                p.ability = "无劳动力"
            elif disabled:
                p.ability = rng.choices(("半劳动力", "弱劳动力", "丧失劳动力"), (40, 30, 30))[0]
            elif age >= 75:
                p.ability = rng.choices(("弱劳动力", "丧失劳动力"), (40, 60))[0]
            elif age >= 65:
                p.ability = rng.choices(("弱劳动力", "半劳动力", "丧失劳动力"), (50, 30, 20))[0]
            else:
                p.ability = rng.choices(("普通劳动力", "弱劳动力", "半劳动力", "丧失劳动力"),
                                        (72, 14, 12, 2))[0]

    # -- public posts ----------------------------------------------------------------------
    def _public_ok(self, p: Person, start: date, urban: bool) -> bool:
        if not p.cats or p.ability not in WORKABLE or p.role:
            return False
        a = age_on(p.birth, start)
        if a < 18:
            return False
        if urban:  # under the statutory retirement age (men 60, women 50) with a margin
            return a <= (57 if p.male else 47)
        return a <= 63

    def _public_start(self, urban: bool) -> date:
        rng = self.rng
        in_period = rng.random() < 0.07 and self.pend - timedelta(days=45) > self.pstart + timedelta(days=5)
        if urban:
            # an urban holding must not run past 36 months: start no earlier than 33 months
            # before the period's end (a few months of margin for the audit's as-of date)
            lo = max(add_months(self.pstart, -24), add_months(self.pend + ONE, -33))
        else:
            lo = add_months(self.pstart, -48)
        hi = self.pstart - ONE
        if in_period or lo > hi:
            lo = max(lo, self.pstart + timedelta(days=5))
            hi = max(lo, self.pend - timedelta(days=45))
        return rand_weekday(rng, lo, hi)

    def _pick_holder(self, household: list[Person], start: date, urban: bool) -> Person | None:
        cands = [p for p in household if self._public_ok(p, start, urban)]
        if not cands:
            return None
        # prefer people of prime working age, as villages do
        weights = [3 if 25 <= age_on(p.birth, start) <= 55 else 1 for p in cands]
        return self.rng.choices(cands, weights)[0]

    def build_public_posts(self) -> None:
        rng = self.rng
        target = round(self.n * 0.32)
        order = list(range(len(self.households)))
        rng.shuffle(order)
        holdings = []  # [person, start, end]
        self.reserve: list[int] = []
        for hi in order:
            hh = self.households[hi]
            if len(holdings) >= target:
                self.reserve.append(hi)
                continue
            urban = self.towns[hh[0].town]["urban"]
            holder = None
            for _ in range(3):
                start = self._public_start(urban)
                holder = self._pick_holder(hh, start, urban)
                if holder is not None:
                    break
            if holder is None:
                self.reserve.append(hi)
                continue
            holder.role = "public"
            holdings.append([holder, start, None])
        self.used_households = {p.hh for p, _, _ in holdings}

        # positions: one per initial holder, coded in geographic order
        holdings.sort(key=lambda h: (h[0].town, h[0].vil, h[1], h[0].idn))
        self.positions = []  # dicts
        self.placements = []  # [person, position, start, end]
        for k, (p, start, _) in enumerate(holdings, 1):
            t = self.towns[p.town]
            urban = t["urban"]
            if urban:
                title = rng.choices(PUBLIC_TITLES_URBAN, PUBLIC_TITLES_URBAN_W)[0]
                wage = rng.randrange(1800, 2101, 50) * 100
            else:
                title = rng.choices(PUBLIC_TITLES_RURAL, PUBLIC_TITLES_RURAL_W)[0]
                wage = rng.randrange(600, 1201, 50) * 100
            pos = {
                "code": f"GW{self.code}-{k:04d}", "title": title,
                "kind": "城镇公益性岗位" if urban else "乡村公益性岗位",
                "employer": self.employer(p.town, p.vil), "town": p.town, "vil": p.vil, "urban": urban,
                "wage": wage, "required": 22 if rng.random() < 0.3 else 20,
                "created": start - timedelta(days=rng.randint(0, 60)),
            }
            self.positions.append(pos)
            self.placements.append([p, pos, start, None])

        # ~5% leave during the period; most of those posts are filled again
        refills = []
        for pl in self.placements:
            p, pos, start, _ = pl
            lo = max(start + timedelta(days=30), self.pstart + timedelta(days=10))
            hi = self.pend - timedelta(days=10)
            if lo <= hi and rng.random() < 0.05:
                end = rand_weekday(rng, lo, hi)
                pl[3] = end
                if rng.random() < 0.6:
                    s = rand_weekday(rng, end + timedelta(days=7), end + timedelta(days=45))
                    if s <= self.pend - timedelta(days=10):
                        refills.append((pos, s))
        for pos, s in refills:
            holder = self._refill_holder(pos, s)
            if holder is not None:
                holder.role = "public"
                self.used_households.add(holder.hh)
                self.placements.append([holder, pos, s, None])
        self.placements.sort(key=lambda pl: (pl[1]["code"], pl[2]))

    def _refill_holder(self, pos: dict, start: date) -> Person | None:
        for rank in (0, 1):  # same village first, then the same township
            for k, hi in enumerate(self.reserve):
                hh = self.households[hi]
                if hh[0].town != pos["town"] or (rank == 0 and hh[0].vil != pos["vil"]):
                    continue
                holder = self._pick_holder(hh, start, pos["urban"])
                if holder is not None:
                    del self.reserve[k]
                    return holder
        return None

    # -- officials (cadres) --------------------------------------------------------------
    def build_officials(self) -> None:
        rng = self.rng
        n = max(4, round(self.n * 0.004))
        n_in_persons = max(1, round(n * 0.12))
        self.official_households: set[str] = set()
        self.officials = []  # rows
        # a few cadres are residents in persons: from households with no post holder
        free = [hi for hi in self.reserve
                if all(not p.role for p in self.households[hi])]
        rng.shuffle(free)
        picked: list[Person] = []
        for hi in free:
            if len(picked) >= n_in_persons:
                break
            cands = [p for p in self.households[hi] if 28 <= age_on(p.birth, self.pstart) <= 58]
            if cands:
                picked.append(rng.choice(cands))
        roles = []
        for _ in range(n):
            roles.append(rng.choices(("村党组织书记", "村委会主任", "村两委成员", "驻村工作队员", "乡镇干部"),
                                     (20, 15, 30, 15, 20))[0])
        for k in range(n):
            role = roles[k]
            if k < len(picked):
                p = picked[k]
                p.role = "official"
                idn, name, hh, ti = p.idn, p.name, p.hh, p.town
                vi = p.vil
                if role == "驻村工作队员":
                    role = "村两委成员"
            else:
                male = rng.random() < 0.7
                age = rng.randint(26, 58)
                region = self.code if (role != "驻村工作队员" or rng.random() < 0.5) \
                    else rng.choice(OTHER_REGIONS)
                idn = self.new_id(region, self.birth_for_age(age), male)
                name = self.name(male)
                hh = f"H{self.code}{self.next_hh:06d}"
                self.next_hh += 1
                ti = rng.randrange(len(self.towns))
                vi = rng.randrange(len(self.towns[ti]["villages"]))
            t = self.towns[ti]
            vname = t["villages"][vi][0]
            if role in ("村党组织书记", "村委会主任", "村两委成员"):
                unit = self.employer(ti, vi) if not t["urban"] else vname + "居民委员会"
                if role == "村党组织书记":
                    unit = vname + "党支部委员会"
                village = vname
            elif role == "驻村工作队员":
                unit = rng.choice(self.county_units)
                village = vname
            else:
                unit = t["office"]
                village = ""
            self.official_households.add(hh)
            self.officials.append((idn, name, role, unit, self.district, t["name"], village, hh))

    # -- workshops -------------------------------------------------------------------------
    def build_workshops(self) -> None:
        rng = self.rng
        nw = max(1, round(self.n / 250))
        target = round(self.n * 0.175)
        tw = [t["weight"] * (0.5 if t["urban"] else 1.0) for t in self.towns]
        # staff pools per township: not a public post holder, not a cadre's household
        pov: dict[int, list[Person]] = {i: [] for i in range(len(self.towns))}
        oth: dict[int, list[Person]] = {i: [] for i in range(len(self.towns))}
        for p in self.people:
            if p.role or p.hh in self.official_households or p.ability not in WORKABLE:
                continue
            if not 20 <= age_on(p.birth, self.pstart) <= 57:
                continue
            (pov if POVERTY.intersection(p.cats) else oth)[p.town].append(p)
        for d in (pov, oth):
            for lst in d.values():
                rng.shuffle(lst)
        sizes = [rng.randint(20, 60) for _ in range(nw)]
        scale = target / sum(sizes)
        sizes = [max(20, min(60, round(s * scale))) for s in sizes]
        self.workshops = []
        self.staff = []  # [workshop, person, start, end, wage]
        used_names = set()
        for k in range(nw):
            ti = rng.choices(range(len(self.towns)), tw)[0]
            t = self.towns[ti]
            vi = rng.randrange(len(t["villages"]))
            industry = rng.choice(WORKSHOP_INDUSTRIES)
            vname = t["villages"][vi][0]
            name = f"{t['name']}{vname}{industry}帮扶车间"
            while name in used_names:
                name = f"{t['name']}{vname}{industry}{len(used_names) % 9 + 2}号帮扶车间"
            used_names.add(name)
            word = rng.choice(FIRM_WORDS)
            if rng.random() < 0.45:
                trade = "农业" if industry in ("脐橙分拣", "农产品加工", "中药材加工", "茶叶加工") else "手工"
                place = vname.removesuffix("村").removesuffix("社区")
                operator = f"{self.district}{place}{word}{trade}专业合作社"
                credit = self.company_code(operator, "93")
            else:
                prefix = "重庆" if rng.random() < 0.5 else self.district
                operator = f"{prefix}{word}{industry}有限公司"
                credit = self.company_code(operator, "91")
            certified = rand_date(rng, add_months(self.pstart, -72), self.pstart - timedelta(days=150))
            ws = {"code": f"CJ{self.code}-{k + 1:03d}", "num": k + 1, "name": name, "operator": operator,
                  "credit": credit, "town": ti, "vil": vi, "certified": certified, "staff": []}
            self.workshops.append(ws)
            for _ in range(sizes[k]):
                use_pov = rng.random() < 0.9
                p = self._take_staff(ti, pov if use_pov else oth, oth if use_pov else pov)
                if p is None:
                    break
                p.role = "staff"
                joiner = rng.random() < 0.08 and self.pend - timedelta(days=20) > self.pstart
                if joiner:
                    start = rand_weekday(rng, self.pstart + timedelta(days=3),
                                          self.pend - timedelta(days=20))
                else:
                    lo = max(certified, add_years(p.birth, 18))
                    start = rand_weekday(rng, lo, self.pstart - ONE)
                    if start >= self.pstart:  # no weekday before the period in range: join on day 1
                        start = rand_weekday(rng, self.pstart, self.pstart + timedelta(days=6))
                end = None
                lo = max(start + timedelta(days=30), self.pstart + timedelta(days=10))
                if lo <= self.pend - timedelta(days=5) and rng.random() < 0.06:
                    end = rand_weekday(rng, lo, self.pend - timedelta(days=5))
                wage = rng.randrange(2000, 3501, 50) * 100
                row = [ws, p, start, end, wage]
                ws["staff"].append(row)
                self.staff.append(row)
        # baseline: poverty staff on the roster at the end of the year before the period,
        # or the lowest month-end figure of the period if that is lower (no target shortfall)
        year_end = date(self.pstart.year - 1, 12, 31)
        for ws in self.workshops:
            ye = sum(1 for _, p, s, e, _ in ws["staff"]
                     if s <= year_end and (e is None or e >= year_end) and POVERTY.intersection(p.cats))
            lows = []
            for mf in self.month_firsts:
                me = month_end(mf)
                lows.append(sum(1 for _, p, s, e, _ in ws["staff"]
                                if s <= me and (e is None or e >= me) and POVERTY.intersection(p.cats)))
            ws["baseline"] = min([ye] + lows)

    def _take_staff(self, ti: int, first: dict, second: dict) -> Person | None:
        for pools in (first, second):
            if pools[ti]:
                return pools[ti].pop()
        # fall back to neighbouring townships
        for pools in (first, second):
            for tj in sorted(pools, key=lambda j: (j - ti) % len(self.towns)):
                if pools[tj]:
                    return pools[tj].pop()
        return None
