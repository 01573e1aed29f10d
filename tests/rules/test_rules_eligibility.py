"""安置不符合条件人员 (IP01–IP08): planted cases and the look-alikes that must not fire."""
from __future__ import annotations

import datetime as dt

import pytest

from models import RuleParameter, db

from helpers import County, brief

URBAN = "城镇公益性岗位"


@pytest.fixture
def county(people):
    c = County(people)
    for i in range(1, 8):
        c.position(f"GW-{i}", wage="800.00")
    for i in range(1, 8):
        c.position(f"CZ-{i}", kind=URBAN, wage="1000.00", employer="永安街道办事处", township="永安街道",
                   title="治安协管员")
    return c


def ip(found, rule=None):
    """(rule, subject, post, periods, amount) of every IP finding (of one rule): nothing else of
    these rules may fire in a scenario, so the clean parts of it are checked too."""
    return brief([f for f in found if f["rule"].startswith("IP")], rule)


def one(found, rule, subject):
    [f] = [f for f in found if f["rule"] == rule and f["subject"] == subject]
    assert f["category"] == "ineligible_placement" and f["periods"] == []
    return f


# ---- IP01 ---------------------------------------------------------------------------------------

def test_ip01_no_category_at_all_by_default(app, county, tmp_path):
    a = county.person("王大山", categories="")                    # planted: no 人员类别 registered
    b = county.person("李小花", categories="残疾人;退役军人")       # look-alike: qualifying categories
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    for m in ("2025-01", "2025-02"):
        county.month(a, "GW-1", m)
        county.month(b, "GW-2", m)
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == [("IP01", a, "GW-1", [], "1600.00")]
    f = one(found, "IP01", a)
    assert "台账未登记任何人员类别" in f["explanation"] and "1,600.00 元（2 个月）" in f["explanation"]
    assert f["evidence"]["holding"] == {"start": "2025-01-01", "end": None, "judged_until": "2025-06-30"}
    assert f["evidence"]["categories"] == []


def test_ip01_district_list_of_qualifying_categories_from_its_effective_date(app, county, tmp_path):
    c = county.person("陈残", categories="残疾人")                     # planted: rural list is narrower now
    # look-alike: one qualifying among others
    d = county.person("邓双", categories="残疾人;脱贫人口")
    e = county.person("鄂城", categories="残疾人")                     # look-alike: urban list unchanged
    # look-alike: placed before the override
    f_ = county.person("范早", categories="残疾人")
    county.place(c, "GW-1", "2025-02-01")
    county.place(d, "GW-2", "2025-02-01")
    county.place(e, "CZ-1", "2025-02-01")
    county.place(f_, "GW-3", "2024-12-01")
    county.month(c, "GW-1", "2025-02")
    county.pay(c, "GW-1", "2025-01")                                   # before the holding: not counted
    db.session.add(RuleParameter(rule="IP01", name="qualifying_rural", value=["脱贫人口", "防止返贫监测对象"],
                                 effective_from=dt.date(2025, 1, 1), district="奉节县"))
    db.session.commit()
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == [("IP01", c, "GW-1", [], "800.00")]
    f = one(found, "IP01", c)
    assert f["evidence"]["qualifying_categories"] == ["脱贫人口", "防止返贫监测对象"]
    assert ("人员类别为 残疾人，不属于该类岗位可安置的人员类别（脱贫人口、防止返贫监测对象）"
            in f["explanation"])


# ---- IP02 ---------------------------------------------------------------------------------------

def test_ip02_age_limits_rural(app, county, tmp_path):
    young = county.person("小童", "2010-06-01")     # planted: 14 at the start
    old = county.person("老翁", "1958-05-01")       # planted: 66 at the start
    at65 = county.person("六五", "1959-05-01")      # look-alike: 65 is allowed
    at62 = county.person("六二", "1962-08-08")      # look-alike: 62
    for idn, post in ((young, "GW-1"), (old, "GW-2"), (at65, "GW-3"), (at62, "GW-4")):
        county.place(idn, post, "2025-01-01")
    county.pay(old, "GW-2", "2024-12")              # before the holding: not counted
    county.pay(old, "GW-2", "2025-01")
    county.pay(old, "GW-2", "2025-02")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == sorted([("IP02", young, "GW-1", [], "0.00"), ("IP02", old, "GW-2", [], "1600.00")])
    assert "上岗时年龄 14 岁，低于最低年龄 16 岁" in one(found, "IP02", young)["explanation"]
    f = one(found, "IP02", old)
    assert "上岗时年龄 66 岁，超过乡村公益性岗位最高年龄 65 岁" in f["explanation"]
    assert f["evidence"]["age_at_start"] == 66 and f["evidence"]["age_max"] == 65


def test_ip02_urban_statutory_retirement_age_with_the_2025_reform(app, county, tmp_path):
    # A man born 1966-03: 4 months' delay (born Jan–Apr 1966), retirement age 60y4m, i.e. 2026-07-10.
    m_before = county.person("男甲", "1966-03-10")   # look-alike: starts at 60y2m (allowed after the reform)
    m_eve = county.person("男乙", "1966-03-10")      # look-alike: starts the day before retirement
    m_on = county.person("男丙", "1966-03-10")       # planted: starts on the retirement day
    # A woman born 1975-05 (50 group): 3 months' delay (one per 2 months of birth), 50y3m: 2025-08-20.
    w_eve = county.person("女甲", "1975-05-20", False)
    w_on = county.person("女乙", "1975-05-20", False)
    old = county.person("男丁", "1964-06-15")        # planted: born before 1965, no delay: 60 on 2024-06-15
    county.place(m_before, "CZ-1", "2026-05-15")
    county.place(m_eve, "CZ-2", "2026-07-09")
    county.place(m_on, "CZ-3", "2026-07-10")
    county.place(w_eve, "CZ-4", "2025-08-19")
    county.place(w_on, "CZ-5", "2025-08-20")
    county.place(old, "CZ-6", "2024-06-15")
    county.pay(m_on, "CZ-3", "2026-07")
    county.pay(m_on, "CZ-3", "2026-08")
    found = county.audit(app, tmp_path, as_of="2026-12-31")
    assert ip(found) == sorted([("IP02", m_on, "CZ-3", [], "2000.00"), ("IP02", w_on, "CZ-5", [], "0.00"),
                                ("IP02", old, "CZ-6", [], "0.00")])
    f = one(found, "IP02", m_on)
    assert "已达法定退休年龄 60岁4个月（男，1966年3月出生，2026-07-10 退休）" in f["explanation"]
    assert f["evidence"]["retirement_date"] == "2026-07-10" and f["evidence"]["birth_month"] == "1966-03"
    g = one(found, "IP02", w_on)
    assert g["evidence"]["retirement_age"] == "50岁3个月" and g["evidence"]["retirement_date"] == "2025-08-20"
    assert one(found, "IP02", old)["evidence"]["retirement_age"] == "60岁"


# ---- IP03 ---------------------------------------------------------------------------------------

def test_ip03_pensioners(app, county, tmp_path):
    a = county.person("退休甲")      # planted: 城镇职工基本养老金 long before the holding
    b = county.person("退休乙")      # planted: 机关事业单位养老金 from mid-March: April on counts
    c = county.person("居保丙")      # look-alike: 城乡居民基本养老保险
    d = county.person("后领丁")      # look-alike: pension starts after the holding ended
    e = county.person("末日戊")      # planted (boundary): pension starts on the holding's last day
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.place(c, "GW-3", "2025-01-01")
    county.place(d, "GW-4", "2025-01-01", "2025-04-30")
    county.place(e, "GW-5", "2025-01-01", "2025-05-31")
    for m in ("2025-01", "2025-02", "2025-03"):
        county.pay(a, "GW-1", m)
    for m in ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05"):
        county.pay(b, "GW-2", m)
        county.pay(e, "GW-5", m)
    county.t["pensions"] += [
        {"id_number": a, "kind": "城镇职工基本养老金", "since": "2020-01-01"},
        {"id_number": b, "kind": "机关事业单位养老金", "since": "2025-03-15"},
        {"id_number": c, "kind": "城乡居民基本养老保险", "since": "2020-01-01"},
        {"id_number": d, "kind": "城镇职工基本养老金", "since": "2025-06-01"},
        {"id_number": e, "kind": "城镇职工基本养老金", "since": "2025-05-31"}]
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == sorted([("IP03", a, "GW-1", [], "2400.00"), ("IP03", b, "GW-2", [], "1600.00"),
                                ("IP03", e, "GW-5", [], "0.00")])
    f = one(found, "IP03", a)
    assert "同时领取城镇职工基本养老金（2020-01-01起）" in f["explanation"]
    g = one(found, "IP03", b)
    assert "自领取养老金后（2025-04 起）在该岗位已发放工资 1,600.00 元（2 个月）" in g["explanation"]
    assert g["evidence"]["pension_since"] == "2025-03-15"


# ---- IP04 ---------------------------------------------------------------------------------------

def test_ip04_business_owners(app, county, tmp_path):
    a = county.person("法人甲")      # planted: 法定代表人 of a business still active
    b = county.person("个体乙")      # planted: ran a 个体工商户 from 02-10 to 04-20: only March counts
    c = county.person("股东丙")      # look-alike: a 股东 only
    d = county.person("注销丁")      # look-alike: deregistered the day before the holding began
    e = county.person("后办戊")      # look-alike: registered after the holding ended
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (c, "GW-3"), (d, "GW-4")):
        county.place(idn, post, "2025-01-01")
        for m in ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05"):
            county.pay(idn, post, m)
    county.place(e, "GW-5", "2025-01-01", "2025-06-30")
    county.t["businesses"] += [
        {"id_number": a, "company_name": "奉节县甲商贸有限公司", "role": "法定代表人",
         "registered_on": "2019-05-01", "deregistered_on": ""},  # (the first row names the CSV columns)
        {"id_number": b, "company_name": "白帝镇乙小卖部", "role": "个体工商户经营者",
         "registered_on": "2025-02-10", "deregistered_on": "2025-04-20"},
        {"id_number": c, "company_name": "奉节县丙农业合作社", "role": "股东", "registered_on": "2018-01-01"},
        {"id_number": d, "company_name": "奉节县丁建材有限公司", "role": "法定代表人",
         "registered_on": "2016-01-01", "deregistered_on": "2024-12-31"},
        {"id_number": e, "company_name": "奉节县戊餐饮店", "role": "个体工商户经营者",
         "registered_on": "2025-07-01"}]
    found = county.audit(app, tmp_path, as_of="2025-08-31")
    assert ip(found) == sorted([("IP04", a, "GW-1", [], "4000.00"), ("IP04", b, "GW-2", [], "800.00")])
    f = one(found, "IP04", a)
    assert "奉节县甲商贸有限公司（法定代表人，2019-05-01 登记，未注销）" in f["explanation"]
    g = one(found, "IP04", b)
    assert "担任经营者期间（2025-03 至 2025-03）在该岗位已发放工资 800.00 元（1 个月）" in g["explanation"]
    assert (g["evidence"]["businesses"]
            == ["白帝镇乙小卖部（个体工商户经营者，2025-02-10 登记，2025-04-20 注销）"])


# ---- IP05 ---------------------------------------------------------------------------------------

def test_ip05_officials_holding_a_post(app, county, people, tmp_path):
    a = county.person("赵书记", household="H900")       # planted: on the officials list
    b = county.person("钱主任")                         # look-alike: same name as an official, other person
    c = county.person("赵小妹", household="H900")       # look-alike: an official's family (FV01, not IP05)
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.place(c, "GW-3", "2025-03-01")
    county.pay(a, "GW-1", "2025-01")
    county.t["officials"] += [
        {"id_number": a, "name": "赵书记", "role": "村党组织书记", "unit": "白帝村党支部",
         "district": "奉节县", "township": "白帝镇", "village": "白帝村", "household_id": "H900"},
        {"id_number": people.id("1970-01-01"), "name": "钱主任", "role": "村委会主任",
         "unit": "白帝村村民委员会",
         "district": "奉节县", "township": "白帝镇", "village": "白帝村", "household_id": "H901"}]
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    # the official and his sister share a household: that is IP06's business, asserted here too
    assert ip(found) == sorted([("IP05", a, "GW-1", [], "800.00"), ("IP06", "H900", "GW-3", [], "0.00")])
    f = one(found, "IP05", a)
    assert "本人在干部名单中（村党组织书记，白帝村党支部）" in f["explanation"]


# ---- IP06 ---------------------------------------------------------------------------------------

def test_ip06_one_post_per_household(app, county, tmp_path):
    a = county.person("户一甲", household="H1")
    b = county.person("户一乙", household="H1")   # planted: starts while a still holds GW-1
    c = county.person("户二甲", household="H2")
    d = county.person("户二乙", household="H2")   # look-alike: starts after c's holding ended
    e = county.person("户三甲", household="H3")
    f_ = county.person("户三乙", household="H3")  # planted: overlaps e
    g = county.person("户三丙", household="H3")   # planted: overlaps e and f (one finding, both named)
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-03-01")
    county.place(c, "GW-3", "2025-01-01", "2025-02-28")
    county.place(d, "GW-4", "2025-03-01")
    county.place(e, "GW-5", "2025-01-01", "2025-03-31")
    county.place(f_, "GW-6", "2025-02-01")
    county.place(g, "GW-7", "2025-03-01")
    for m in ("2025-01", "2025-02", "2025-03", "2025-04"):
        county.pay(a, "GW-1", m)
        county.pay(c, "GW-3", m) if m < "2025-03" else county.pay(d, "GW-4", m)
    for m in ("2025-03", "2025-04"):
        county.pay(b, "GW-2", m)
        county.pay(g, "GW-7", m)
    for m in ("2025-02", "2025-03", "2025-04"):
        county.pay(f_, "GW-6", m)
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == sorted([("IP06", "H1", "GW-2", [], "1600.00"), ("IP06", "H3", "GW-6", [], "1600.00"),
                                ("IP06", "H3", "GW-7", [], "1600.00")])
    h1 = next(x for x in found if x["rule"] == "IP06" and x["subject"] == "H1")
    assert h1["category"] == "ineligible_placement" and h1["subject_type"] == "household"
    assert h1["persons"] == sorted([a, b])
    assert "户 H1 的 户一乙" in h1["explanation"] and "同户 户一甲" in h1["explanation"]
    assert "一户多岗" in h1["explanation"] and "重叠期间 GW-2 已发放工资 1,600.00 元" in h1["explanation"]
    assert h1["evidence"]["earlier"][0]["post"] == "GW-1" and "*" in h1["evidence"]["earlier"][0]["id_masked"]
    h3 = next(x for x in found if x["rule"] == "IP06" and x["post"] == "GW-7")
    assert (h3["persons"] == sorted([e, f_, g])
            and [o["post"] for o in h3["evidence"]["earlier"]] == ["GW-5", "GW-6"])


# ---- IP07 ---------------------------------------------------------------------------------------

def test_ip07_urban_term_of_36_months(app, county, tmp_path):
    a = county.person("超期甲", "1985-01-01")    # planted: urban, 36 months ran out on 2024-01-01
    b = county.person("乡村乙", "1985-01-01")    # look-alike: rural posts have no term by default
    c = county.person("未满丙", "1985-01-01")    # look-alike: 35 months on the as-of date
    d = county.person("临退丁", "1965-09-15")    # look-alike: retires 2025-12-15 (60y3m): 4y11m left at start
    # planted (boundary): retires 2026-05-10, exactly 5 years left
    e = county.person("五年戊", "1966-01-10")
    f_ = county.person("五年己", "1966-01-10")   # look-alike: one day later, less than 5 years left
    g = county.person("已离庚", "1985-01-01")    # planted: left in 2023, six months after the term
    county.place(a, "CZ-1", "2021-01-01")
    county.place(b, "GW-1", "2020-01-01")
    county.place(c, "CZ-2", "2022-08-01")
    county.place(d, "CZ-3", "2021-01-01")
    county.place(e, "CZ-4", "2021-05-10")
    county.place(f_, "CZ-5", "2021-05-11")
    county.place(g, "CZ-6", "2020-01-01", "2023-06-30")
    for m in ("2023-12", "2024-01", "2024-02"):
        county.pay(a, "CZ-1", m)
    county.pay(e, "CZ-4", "2024-05")             # the term ends 2024-05-10: May is not wholly after it
    county.pay(e, "CZ-4", "2024-06")
    for m in ("2022-12", "2023-01", "2023-02", "2023-03", "2023-07"):  # July: after leaving, not counted
        county.pay(g, "CZ-6", m)
    county.pay(b, "GW-1", "2024-01")
    county.pay(d, "CZ-3", "2024-06")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == sorted([("IP07", a, "CZ-1", [], "2000.00"), ("IP07", e, "CZ-4", [], "1000.00"),
                                ("IP07", g, "CZ-6", [], "3000.00")])
    f = one(found, "IP07", a)
    assert "超过安置期限 36 个月（应于 2024-01-01 前退出）" in f["explanation"]
    assert "期满后在该岗位已发放工资 2,000.00 元（2 个月）" in f["explanation"]
    h = one(found, "IP07", e)
    assert h["evidence"]["retirement_date"] == "2026-05-10" and h["evidence"]["age_at_start"] == "55岁4个月"
    assert one(found, "IP07", g)["evidence"]["holding"]["judged_until"] == "2023-06-30"
    assert "距法定退休年龄（60岁4个月，2026-05-10 退休）不少于 5 年" in h["explanation"]


def test_ip07_rural_term_can_be_switched_on_by_a_district(app, county, tmp_path):
    a = county.person("乡村甲", "1985-01-01")
    county.place(a, "GW-1", "2022-01-01")
    county.pay(a, "GW-1", "2024-01")
    county.pay(a, "GW-1", "2025-01")
    db.session.add(RuleParameter(rule="IP07", name="term_months_rural", value=24,
                                 effective_from=dt.date(2020, 1, 1), district="奉节县"))
    db.session.commit()
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == [("IP07", a, "GW-1", [], "1600.00")]


# ---- IP08 ---------------------------------------------------------------------------------------

def test_ip08_no_labour_ability(app, county, tmp_path):
    a = county.person("丧失甲", labour_ability="丧失劳动力")   # planted
    b = county.person("无力乙", labour_ability="无劳动力")     # planted
    c = county.person("弱劳丙", labour_ability="弱劳动力")     # look-alike: the very people posts are for
    d = county.person("半劳丁", labour_ability="半劳动力")     # look-alike
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (c, "GW-3"), (d, "GW-4")):
        county.place(idn, post, "2025-01-01")
        county.month(idn, post, "2025-01")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == sorted([("IP08", a, "GW-1", [], "800.00"), ("IP08", b, "GW-2", [], "800.00")])
    f = one(found, "IP08", a)
    assert ("劳动能力登记为“丧失劳动力”" in f["explanation"]
            and f["evidence"]["labour_ability"] == "丧失劳动力")


def test_amount_is_unknown_without_a_wages_table(app, county, tmp_path):
    a = county.person("丧失甲", labour_ability="丧失劳动力")
    county.place(a, "GW-1", "2025-01-01")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert ip(found) == [("IP08", a, "GW-1", [], None)]
    assert "无工资发放数据" in one(found, "IP08", a)["explanation"]
