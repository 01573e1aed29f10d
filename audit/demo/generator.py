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
import csv
import datetime
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric, uscc

__all__ = ["generate_bundle", "make_id_number", "HEADERS", "TABLES", "Taken"]

# ---------------------------------------------------------------------------------------
# Format: canonical English headers of every table (ledger-format.md), in file order.
# ---------------------------------------------------------------------------------------
HEADERS: dict[str, tuple[str, ...]] = {
    "persons": ("id_number", "name", "phone", "household_id", "district", "township", "village",
                "categories", "labour_ability", "bank_account"),
    "positions": ("position_code", "title", "kind", "employer", "district", "township", "village",
                  "monthly_wage", "required_days", "created_on"),
    "placements": ("id_number", "position_code", "start_date", "end_date"),
    "workshops": ("workshop_code", "name", "operator", "credit_code", "district", "township", "village",
                  "certified_on", "baseline_poverty_headcount"),
    "workshop_staff": ("workshop_code", "id_number", "start_date", "end_date", "monthly_wage"),
    "attendance": ("id_number", "post_code", "work_date", "status", "check_in_time", "method",
                   "device_id", "verified"),
    "wages": ("id_number", "post_code", "period", "amount", "paid_on", "account_number", "account_name",
              "batch"),
    "reports": ("subject_code", "period", "metric", "value"),
    "deaths": ("id_number", "death_date"),
    "social_insurance": ("id_number", "period", "employer", "employer_credit_code"),
    "pensions": ("id_number", "kind", "since"),
    "businesses": ("id_number", "company_name", "role", "registered_on", "deregistered_on"),
    "officials": ("id_number", "name", "role", "unit", "district", "township", "village", "household_id"),
    "migrant_work": ("id_number", "start_date", "end_date", "place"),
}
TABLES: tuple[str, ...] = tuple(HEADERS)

# ---------------------------------------------------------------------------------------
# The fictional county.
# ---------------------------------------------------------------------------------------
DISTRICT = "奉节县"
DISTRICT_CODE = "500236"
# Other Chongqing districts/counties, birth places of a few residents and of outside cadres.
OTHER_REGIONS = ("500101", "500102", "500229", "500230", "500233", "500235", "500237", "500238")

# (name, 3-digit code, is a 街道 (urban), population weight)
TOWNSHIPS: tuple[tuple[str, str, bool, int], ...] = (
    ("永安街道", "001", True, 9),
    ("夔门街道", "002", True, 7),
    ("白帝镇", "101", False, 12),
    ("草堂镇", "102", False, 13),
    ("汾河镇", "103", False, 11),
    ("康乐镇", "104", False, 12),
    ("竹园镇", "105", False, 12),
    ("青龙镇", "106", False, 12),
    ("兴隆镇", "107", False, 12),
)

VILLAGE_STEMS = (
    "桃园", "石岭", "龙潭", "三角", "青山", "柏杨", "大坪", "双河", "马鞍", "金竹", "红岩", "梨子",
    "白果", "茶林", "长凼", "大湾", "凤凰", "高峰", "观音", "黄莲", "鸡公", "金鸡", "九盘", "老鹰",
    "莲花", "两河", "林口", "龙泉", "鹿池", "梅溪", "木瓜", "楠木", "平安", "七里", "清水", "桥头",
    "三坝", "沙坝", "上坪", "石板", "石门", "双龙", "水井", "松树", "太和", "天池", "铁佛", "万胜",
    "五马", "仙女", "响水", "新华", "新民", "杏林", "岩湾", "堰塘", "杨柳", "银杏", "永乐", "油房",
    "鱼泉", "玉龙", "枣子", "长岭", "竹林", "紫阳", "朱衣", "安坪", "宝塔", "碑垭", "草坪", "朝阳",
    "丛林", "大树", "东山", "繁荣", "丰收", "伏龙", "富家", "甘泉", "官田", "桂花", "和平", "红椿",
    "红星", "红土", "花园", "槐树", "黄坪", "火炬", "尖山", "锦屏", "菊花", "看山", "兰英", "梨花",
)
COMMUNITY_STEMS = (
    "诗城", "夔州", "永安", "滨江", "白帝城", "宝塔坪", "朱衣河", "营盘", "瞿塘", "三马山", "师范",
    "鱼复", "临江", "古城", "状元", "莲花池",
)

SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "姚", "卢", "钟", "谭", "陆", "汪", "范", "石", "廖", "贾", "夏", "付", "方", "邹", "熊", "秦",
    "江", "雷", "龙", "陶", "黎", "贺", "毛", "龚", "万", "向", "冉", "牟", "幸", "易", "文", "甘",
)
GIVEN_MALE = (
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞", "斌", "波",
    "林", "建", "国", "峰", "磊", "洪", "文", "志", "德", "成", "兵", "春", "海", "贵", "福", "祥",
    "云", "忠", "全", "权", "江", "川", "松", "昌", "发", "才", "友", "元", "学", "光", "宏", "远",
    "浩", "宇", "俊", "毅", "泽", "晨", "力", "东", "先", "永", "中", "坤",
)
GIVEN_FEMALE = (
    "芳", "娟", "敏", "静", "丽", "艳", "秀", "英", "霞", "燕", "玲", "萍", "红", "梅", "琴", "兰",
    "莉", "凤", "翠", "珍", "娥", "菊", "容", "群", "素", "蓉", "慧", "婷", "雪", "洁", "琳", "倩",
    "佳", "欣", "悦", "颖", "莹", "媛", "春", "桂", "香", "花", "云", "月", "巧", "碧", "淑", "晓",
)

PUBLIC_TITLES_RURAL = ("保洁员", "护林员", "护路员", "水管员", "治安协管员", "公共服务协管员")
PUBLIC_TITLES_RURAL_W = (30, 22, 18, 10, 10, 10)
PUBLIC_TITLES_URBAN = ("保洁员", "治安协管员", "公共服务协管员")
PUBLIC_TITLES_URBAN_W = (40, 25, 35)

WORKSHOP_INDUSTRIES = ("服装加工", "电子组装", "脐橙分拣", "农产品加工", "竹编", "鞋帽加工", "中药材加工",
                       "箱包加工", "手工编织", "茶叶加工")
FIRM_WORDS = ("兴农", "富民", "夔乡", "惠民", "金橙", "绿源", "青峰", "恒达", "长盛", "瑞丰", "鑫源", "红橙",
              "山水", "天成", "同心", "众诚", "宏发", "锦绣", "顺达", "嘉禾", "益民", "华泰", "永兴", "康源")
BUSINESS_TRADES = ("商贸", "建材", "餐饮", "农业开发", "物流", "建筑工程", "养殖", "电子商务", "劳务", "旅游开发")
SHOP_KINDS = ("便利店", "农家乐", "副食店", "理发店", "五金店", "小吃店", "农资店", "修理铺")
MIGRANT_PLACES = ("广东省东莞市", "广东省深圳市", "广东省佛山市", "浙江省宁波市", "浙江省温州市", "江苏省苏州市",
                  "福建省泉州市", "上海市松江区", "重庆市渝北区", "重庆市九龙坡区", "重庆市万州区", "四川省成都市",
                  "新疆维吾尔自治区昌吉州")
COUNTY_UNITS = ("奉节县人力资源和社会保障局", "奉节县农业农村委员会", "奉节县乡村振兴局", "奉节县民政局",
                "奉节县财政局", "奉节县交通运输委员会", "奉节县林业局", "奉节县水利局")

WORKABLE = frozenset({"普通劳动力", "弱劳动力", "半劳动力"})
POVERTY = frozenset({"脱贫人口", "防止返贫监测对象"})
# Vocabulary order (ledger-format.md) for writing categories.
CATEGORY_ORDER = ("脱贫人口", "防止返贫监测对象", "低保对象", "低保边缘家庭成员", "特困人员", "零就业家庭成员",
                  "残疾人", "大龄失业人员", "长期失业人员", "登记失业人员", "离校未就业高校毕业生", "退役军人",
                  "刑满释放人员", "戒毒康复人员", "退捕渔民", "化解过剩产能企业职工")
_CAT_RANK = {c: i for i, c in enumerate(CATEGORY_ORDER)}

SUBSIDY_FEN = 50_000  # 500 yuan a person a month (rules.md subsidy_per_person)
_TIME_STR = [f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)]
_ONE = timedelta(days=1)


# ---------------------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------------------
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


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _add_months(d: date, months: int) -> date:
    """First day of the month ``months`` after d's month."""
    k = d.year * 12 + d.month - 1 + months
    return date(k // 12, k % 12 + 1, 1)


def _month_end(d: date) -> date:
    return _add_months(d, 1) - _ONE


def _rand_date(rng: random.Random, lo: date, hi: date) -> date:
    if hi < lo:
        hi = lo
    return lo + timedelta(days=rng.randrange((hi - lo).days + 1))


def _rand_weekday(rng: random.Random, lo: date, hi: date) -> date:
    """A Monday–Friday date in [lo, hi] (lo itself moved to a weekday if the range has none)."""
    d = _rand_date(rng, lo, hi)
    while d.weekday() >= 5:
        d += _ONE
    if d > hi:
        d -= _ONE
        while d.weekday() >= 5:
            d -= _ONE
        if d < lo:
            d = lo
            while d.weekday() >= 5:
                d += _ONE
    return d


def _iso(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


@dataclass
class Taken:
    """Identifiers already used: by default none; a city passes one ``Taken`` to all its districts."""
    ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    banks: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)  # credit codes
    companies: dict[str, str] = field(default_factory=dict)  # company name -> credit code


class _Person:
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


# ---------------------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------------------
class _Bundle:
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
        self.month_firsts = [_add_months(self.pstart, i) for i in range(months)]
        self.pend = _month_end(self.month_firsts[-1])
        self.periods = [f"{d.year:04d}-{d.month:02d}" for d in self.month_firsts]
        ndays = (self.pend - self.pstart).days + 1
        self.days = [self.pstart + timedelta(days=i) for i in range(ndays)]
        self.dstr = [d.isoformat() for d in self.days]
        self.wday = [d.weekday() for d in self.days]
        self.base_status = ["出勤" if w < 5 else "休息" for w in self.wday]
        self.m_lo = [(d - self.pstart).days for d in self.month_firsts]
        self.m_hi = [(_month_end(d) - self.pstart).days for d in self.month_firsts]
        self.m_weekdays = [sum(1 for i in range(a, b + 1) if self.wday[i] < 5)
                           for a, b in zip(self.m_lo, self.m_hi)]
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
        hi = _add_years(self.pstart, -age)
        lo = _add_years(self.pstart, -age - 1) + _ONE
        return _rand_date(self.rng, lo, hi)

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

    # -- persons -----------------------------------------------------------------------
    def build_persons(self) -> None:
        rng = self.rng
        self.people: list[_Person] = []
        self.households: list[list[_Person]] = []
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
                p = _Person(idn, self.name(male, surname), male, birth, hh, ti, vi)
                household.append(p)
                self.people.append(p)
            self._household_categories(household)
            self.households.append(household)
        self.next_hh = hh_seq + 1
        for p in self.people:
            age = _age(p.birth, self.pstart)
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

    def _household_categories(self, household: list[_Person]) -> None:
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
            age = _age(p.birth, on)
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
                if town_name in ("白帝镇", "永安街道", "夔门街道") and 30 <= age <= 65 and rng.random() < 0.03:
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
                p.ability = rng.choices(("普通劳动力", "弱劳动力", "半劳动力", "丧失劳动力"), (72, 14, 12, 2))[0]

    # -- public posts ----------------------------------------------------------------------
    def _public_ok(self, p: _Person, start: date, urban: bool) -> bool:
        if not p.cats or p.ability not in WORKABLE or p.role:
            return False
        a = _age(p.birth, start)
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
            lo = max(_add_months(self.pstart, -24), _add_months(self.pend + _ONE, -33))
        else:
            lo = _add_months(self.pstart, -48)
        hi = self.pstart - _ONE
        if in_period or lo > hi:
            lo = max(lo, self.pstart + timedelta(days=5))
            hi = max(lo, self.pend - timedelta(days=45))
        return _rand_weekday(rng, lo, hi)

    def _pick_holder(self, household: list[_Person], start: date, urban: bool) -> _Person | None:
        cands = [p for p in household if self._public_ok(p, start, urban)]
        if not cands:
            return None
        # prefer people of prime working age, as villages do
        weights = [3 if 25 <= _age(p.birth, start) <= 55 else 1 for p in cands]
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
                end = _rand_weekday(rng, lo, hi)
                pl[3] = end
                if rng.random() < 0.6:
                    s = _rand_weekday(rng, end + timedelta(days=7), end + timedelta(days=45))
                    if s <= self.pend - timedelta(days=10):
                        refills.append((pos, s))
        for pos, s in refills:
            holder = self._refill_holder(pos, s)
            if holder is not None:
                holder.role = "public"
                self.used_households.add(holder.hh)
                self.placements.append([holder, pos, s, None])
        self.placements.sort(key=lambda pl: (pl[1]["code"], pl[2]))

    def _refill_holder(self, pos: dict, start: date) -> _Person | None:
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
        picked: list[_Person] = []
        for hi in free:
            if len(picked) >= n_in_persons:
                break
            cands = [p for p in self.households[hi] if 28 <= _age(p.birth, self.pstart) <= 58]
            if cands:
                picked.append(rng.choice(cands))
        roles = []
        for k in range(n):
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
        pov: dict[int, list[_Person]] = {i: [] for i in range(len(self.towns))}
        oth: dict[int, list[_Person]] = {i: [] for i in range(len(self.towns))}
        for p in self.people:
            if p.role or p.hh in self.official_households or p.ability not in WORKABLE:
                continue
            if not 20 <= _age(p.birth, self.pstart) <= 57:
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
            certified = _rand_date(rng, _add_months(self.pstart, -72), self.pstart - timedelta(days=150))
            ws = {"code": f"CJ{self.code}-{k + 1:03d}", "num": k + 1, "name": name, "operator": operator,
                  "credit": credit, "town": ti, "vil": vi, "certified": certified, "staff": []}
            self.workshops.append(ws)
            for j in range(sizes[k]):
                use_pov = rng.random() < 0.9
                p = self._take_staff(ti, pov if use_pov else oth, oth if use_pov else pov)
                if p is None:
                    break
                p.role = "staff"
                joiner = rng.random() < 0.08 and self.pend - timedelta(days=20) > self.pstart
                if joiner:
                    start = _rand_weekday(rng, self.pstart + timedelta(days=3),
                                          self.pend - timedelta(days=20))
                else:
                    lo = max(certified, _add_years(p.birth, 18))
                    start = _rand_weekday(rng, lo, self.pstart - _ONE)
                    if start >= self.pstart:  # no weekday before the period in range: join on day 1
                        start = _rand_weekday(rng, self.pstart, self.pstart + timedelta(days=6))
                end = None
                lo = max(start + timedelta(days=30), self.pstart + timedelta(days=10))
                if lo <= self.pend - timedelta(days=5) and rng.random() < 0.06:
                    end = _rand_weekday(rng, lo, self.pend - timedelta(days=5))
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
                me = _month_end(mf)
                lows.append(sum(1 for _, p, s, e, _ in ws["staff"]
                                if s <= me and (e is None or e >= me) and POVERTY.intersection(p.cats)))
            ws["baseline"] = min([ye] + lows)

    def _take_staff(self, ti: int, first: dict, second: dict) -> _Person | None:
        for pools in (first, second):
            if pools[ti]:
                return pools[ti].pop()
        # fall back to neighbouring townships
        for pools in (first, second):
            for tj in sorted(pools, key=lambda j: (j - ti) % len(self.towns)):
                if pools[tj]:
                    return pools[tj].pop()
        return None

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
             self.towns[pos["town"]]["villages"][pos["vil"]][0], _yuan(pos["wage"]), pos["required"],
             _iso(pos["created"]))
            for pos in self.positions])
        self.write("placements", [(p.idn, pos["code"], _iso(s), _iso(e)) for p, pos, s, e in self.placements])
        self.write("workshops", [
            (ws["code"], ws["name"], ws["operator"], ws["credit"], self.district,
             self.towns[ws["town"]]["name"],
             self.towns[ws["town"]]["villages"][ws["vil"]][0], _iso(ws["certified"]), ws["baseline"])
            for ws in self.workshops])
        self.write("workshop_staff", [(ws["code"], p.idn, _iso(s), _iso(e), _yuan(w))
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
            return [_add_months(mf, 1).replace(day=rng.randint(10, 15)).isoformat()
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
                        wages.append((idn, code, self.periods[mi], _yuan(amount), pay_public[pos["town"]][mi],
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
                        wages.append((idn, code, self.periods[mi], _yuan(amount), pay_ws[ws["num"] - 1][mi],
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
                me = _month_end(mf)
                three = _add_months(mf, -2)
                on_roster = [(s, e, pv) for s, e, pv in staff if s <= me and (e is None or e >= me)]
                pov = sum(1 for _, _, pv in on_roster if pv)
                stable = sum(1 for s, e, pv in on_roster if pv and s <= three)
                per = self.periods[mi]
                rows.append((ws["code"], per, "poverty_headcount", pov))
                rows.append((ws["code"], per, "total_headcount", len(on_roster)))
                rows.append((ws["code"], per, "wages_total", _yuan(self.ws_wages[(ws["code"], mi)])))
                rows.append((ws["code"], per, "subsidy_claimed", _yuan(SUBSIDY_FEN * stable)))
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
        elderly = [p for p in free if _age(p.birth, pstart) >= 60]
        others = [p for p in free if _age(p.birth, pstart) < 60]
        for p in (elderly + others)[:n_in]:
            p.role = "dead"
            deaths.append((p.idn, _rand_date(rng, pstart - timedelta(days=365), pend).isoformat()))
        for _ in range(n_dead - len(deaths)):
            male = rng.random() < 0.55
            idn = self.new_id(self.code, self.birth_for_age(rng.randint(55, 95)), male)
            deaths.append((idn, _rand_date(rng, pstart - timedelta(days=730), pend).isoformat()))
        self.write("deaths", deaths)
        free = [p for p in free if not p.role]
        adults = [p for p in free if 18 <= _age(p.birth, pstart) <= 57 and p.ability in WORKABLE]

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
        for p, pos, s, e in self.placements:  # residents' basic pension does not disqualify
            since = _add_months(_add_years(p.birth, 60), 1)
            if p.idn not in seen and since <= pend and rng.random() < 0.5:
                seen.add(p.idn)
                pensions.append((p.idn, "城乡居民基本养老保险", since.isoformat()))
        old = [p for p in free if not p.role and _age(p.birth, pstart) >= 61]
        n_old = len(old)
        n_res = max(1, n_old // 10)
        for p in old[:n_res]:
            pensions.append((p.idn, "城乡居民基本养老保险", _add_months(_add_years(p.birth, 60), 1).isoformat()))
            p.role = "other"
        for p in old[n_res: n_res + max(1, round(self.n * 0.002))]:
            kind = "城镇职工基本养老金" if rng.random() < 0.85 else "机关事业单位养老金"
            retire = _add_years(p.birth, 60 if p.male else 55)
            pensions.append((p.idn, kind, _add_months(retire, 1).isoformat()))
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
                        _rand_date(rng, date(2012, 1, 1), pstart - _ONE).isoformat(), ""))
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
                        _rand_date(rng, _add_months(ws["certified"], -36), ws["certified"]).isoformat(), ""))
        for _ in range(max(1, round(self.n * 0.004))):
            if not biz_free:
                break
            p = biz_free.pop()
            p.role = "other"
            reg = _rand_date(rng, date(2010, 1, 1), pend - timedelta(days=30))
            dereg = _rand_date(rng, reg + timedelta(days=200), pend).isoformat() \
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
            s = _rand_date(rng, _add_months(pstart, -24), pend - timedelta(days=30))
            e = ""
            if rng.random() < 0.45:
                ed = s + timedelta(days=rng.randint(60, 400))
                if ed <= pend:
                    e = ed.isoformat()
            mig.append((p.idn, s.isoformat(), e, rng.choice(MIGRANT_PLACES)))
        self.write("migrant_work", mig)

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
