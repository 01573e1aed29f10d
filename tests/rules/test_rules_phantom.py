"""PS02, PS03, PS05, PS06, PS07 (吃空饷) and DP01, DP02 (变相发钱): each with planted cases that
must be found and look-alikes that must not."""
from __future__ import annotations

import datetime as dt

import pytest
from stdnum.cn import uscc

from models import RuleParameter, db

from helpers import County, brief

MINE = {"PS02", "PS03", "PS05", "PS06", "PS07", "DP01", "DP02"}


def _credit(body: str) -> str:
    """A valid 统一社会信用代码 from its first 17 characters."""
    return body + uscc.calc_check_digit(body)


CREDIT = _credit("91500236MA5U00001")


@pytest.fixture
def county(people):
    c = County(people)
    c.position("GW-1", wage="800.00")
    c.position("GW-2", wage="900.00", title="护林员")
    c.workshop("CJ-1", credit_code=CREDIT)
    return c


def mine(found):
    """(rule, subject, post, periods, amount) of every finding of the rules of this file."""
    return brief([f for f in found if f["rule"] in MINE])


def one(found, rule, subject, period):
    return next(f for f in found if f["rule"] == rule and f["subject"] == subject
                and f["periods"] == [period])


# ---- PS02 ---------------------------------------------------------------------------------------

def test_ps02_paid_more_than_the_wage_due(app, county, tmp_path):
    county.position("GW-3", wage="1000.00", required_days=22)
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d = county.person("张三", "1990-01-01"), county.person("刘四", "1991-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.place(c, "GW-3", "2025-01-01")
    county.staff("CJ-1", d, "2025-01-01")
    county.month(a, "GW-1", "2025-01")                               # clean
    county.work(a, "GW-1", "2025-02", present=10)                     # planted: 10 of 20 days, paid in full
    county.pay(a, "GW-1", "2025-02")
    county.work(a, "GW-1", "2025-03", present=0, other="缺勤")        # look-alike: no day at all is PS01's
    county.pay(a, "GW-1", "2025-03")
    # look-alike: June not over on the as-of date
    county.work(a, "GW-1", "2025-06")
    county.pay(a, "GW-1", "2025-06", paid_on="2025-06-15")
    county.work(b, "GW-2", "2025-02", present=10)                     # look-alike: paid exactly pro rata
    county.pay(b, "GW-2", "2025-02", "450.00")
    # look-alike: 0.01 over, within tolerance
    county.work(b, "GW-2", "2025-03", present=7)
    county.pay(b, "GW-2", "2025-03", "315.01")
    county.work(b, "GW-2", "2025-04", present=7)                      # planted: 0.02 over
    county.pay(b, "GW-2", "2025-04", "315.02")
    county.work(b, "GW-2", "2025-05", present=22)                     # look-alike: more days than required
    county.pay(b, "GW-2", "2025-05")
    # look-alike: 1000 × 7/22 = 318.18 (rounded)
    county.work(c, "GW-3", "2025-01", present=7)
    county.pay(c, "GW-3", "2025-01", "318.18")
    county.work(c, "GW-3", "2025-02", present=7)                      # planted: 1000.00 − 318.18
    county.pay(c, "GW-3", "2025-02", "1000.00")
    county.work(d, "CJ-1", "2025-02", present=5, method="指纹", device="ZW-1")  # look-alike: a workshop
    county.pay(d, "CJ-1", "2025-02")
    found = county.audit(app, tmp_path, as_of="2025-06-20")
    assert brief(found, "PS02") == sorted([
        ("PS02", a, "GW-1", ["2025-02"], "400.00"),
        ("PS02", b, "GW-2", ["2025-04"], "0.02"),
        ("PS02", c, "GW-3", ["2025-02"], "681.82"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "PS02", a, "2025-02")
    assert f["category"] == "phantom_salary"
    assert f["evidence"] == {"period": "2025-02", "post": "GW-1", "days_present": 10, "required_days": 20,
                             "monthly_wage": "800.00", "wage_due": "400.00", "paid": "800.00", "payments": 1,
                             "excess": "400.00", "tolerance": "0.01"}
    assert "出勤 10 天（规定 20 天）" in f["explanation"] and "应发 400.00 元" in f["explanation"]
    assert "多发 400.00 元" in f["explanation"]
    assert brief(found, "PS01") == [("PS01", a, "GW-1", ["2025-03"], "800.00")]  # March is PS01's alone
    assert mine(found) == brief(found, "PS02")


def test_ps02_tolerance_follows_a_district_override_from_its_effective_date(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    for m in ("2025-01", "2025-02"):
        county.work(a, "GW-1", m, present=10)
        county.pay(a, "GW-1", m)
    db.session.add(RuleParameter(rule="PS02", name="tolerance_fen", value=50000,
                                 effective_from=dt.date(2025, 2, 1), district="奉节县"))
    db.session.commit()
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS02") == [("PS02", a, "GW-1", ["2025-01"], "400.00")]


# ---- PS03 ---------------------------------------------------------------------------------------

def test_ps03_paid_for_a_month_outside_every_holding(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d = county.person("张三", "1990-01-01"), county.person("刘四", "1991-01-01")
    county.place(a, "GW-1", "2025-01-01", "2025-03-15")
    county.place(b, "GW-2", "2025-03-20")
    county.staff("CJ-1", c, "2025-01-01", "2025-02-28")
    county.position("GW-3", wage="800.00")
    county.place(d, "GW-3", "2025-01-01", "2025-01-31")
    county.place(d, "GW-3", "2025-05-01")                 # d left and came back
    for m in ("2025-01", "2025-02", "2025-03"):
        county.month(a, "GW-1", m)                        # March: held until the 15th, a look-alike
    county.pay(a, "GW-1", "2025-04")                      # planted: after leaving
    county.pay(b, "GW-2", "2025-02")                      # planted: before starting
    county.month(b, "GW-2", "2025-03")                    # look-alike: held from the 20th
    county.month(c, "CJ-1", "2025-02")                    # look-alike: left on the last day of February
    county.pay(c, "CJ-1", "2025-03")                      # planted: a workshop, after leaving the roster
    county.month(d, "GW-3", "2025-01")
    county.pay(d, "GW-3", "2025-03")                      # planted: between two holdings
    county.month(d, "GW-3", "2025-05")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS03") == sorted([
        ("PS03", a, "GW-1", ["2025-04"], "800.00"),
        ("PS03", b, "GW-2", ["2025-02"], "900.00"),
        ("PS03", c, "CJ-1", ["2025-03"], "2500.00"),
        ("PS03", d, "GW-3", ["2025-03"], "800.00"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "PS03", a, "2025-04")
    assert f["category"] == "phantom_salary" and f["evidence"]["left_before"] == "2025-03-15"
    assert ("2025-04 整月不在此人于 GW-1 的任何在岗期间内" in f["explanation"]
            and "已于 2025-03-15 离岗" in f["explanation"])
    assert "2025-03-20 才上岗" in one(found, "PS03", b, "2025-02")["explanation"]
    assert "车间花名册" in one(found, "PS03", c, "2025-03")["explanation"]
    between = one(found, "PS03", d, "2025-03")["evidence"]
    assert between["left_before"] == "2025-01-31" and between["starts_after"] == "2025-05-01"
    assert brief(found, "DP01") == []  # they all held the post at some time
    assert mine(found) == brief(found, "PS03")


# ---- PS05 ---------------------------------------------------------------------------------------

def test_ps05_paid_for_a_month_wholly_inside_a_migrant_work_spell(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d = county.person("张三", "1990-01-01"), county.person("刘四", "1991-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.staff("CJ-1", c, "2025-01-01")
    county.position("GW-3", wage="800.00")
    county.place(d, "GW-3", "2025-01-01")
    for m in ("2025-03", "2025-04", "2025-05"):
        county.month(a, "GW-1", m)                          # April planted; March and May partly away
    for m in ("2025-03", "2025-04", "2025-05"):
        county.month(b, "GW-2", m)                          # April, May planted (still away)
    county.work(b, "GW-2", "2025-06")
    county.pay(b, "GW-2", "2025-06", paid_on="2025-06-15")  # look-alike: June not over on the as-of date
    for m in ("2025-01", "2025-02"):
        county.month(c, "CJ-1", m)                          # February planted (a workshop)
    county.month(d, "GW-3", "2025-04")                      # no spell at all
    county.t["migrant_work"] += [
        {"id_number": a, "start_date": "2025-03-10", "end_date": "2025-05-20", "place": "广东省东莞市"},
        {"id_number": b, "start_date": "2025-04-01", "end_date": "", "place": "浙江省宁波市"},
        {"id_number": c, "start_date": "2025-02-01", "end_date": "2025-02-28", "place": "重庆市渝北区"},
    ]
    found = county.audit(app, tmp_path, as_of="2025-06-20")
    assert brief(found, "PS05") == sorted([
        ("PS05", a, "GW-1", ["2025-04"], "800.00"),
        ("PS05", b, "GW-2", ["2025-04"], "900.00"),
        ("PS05", b, "GW-2", ["2025-05"], "900.00"),
        ("PS05", c, "CJ-1", ["2025-02"], "2500.00"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "PS05", a, "2025-04")
    assert f["category"] == "phantom_salary"
    assert f["evidence"]["away_from"] == "2025-03-10" and f["evidence"]["away_until"] == "2025-05-20"
    assert "2025-03-10 外出务工，务工地点 广东省东莞市，2025-05-20 返回" in f["explanation"]
    assert "2025-04 整月在外" in f["explanation"] and "800.00 元" in f["explanation"]
    assert "截至审计日 2025-06-20 未返回" in one(found, "PS05", b, "2025-05")["explanation"]
    assert mine(found) == brief(found, "PS05")


# ---- PS06 ---------------------------------------------------------------------------------------

def test_ps06_insured_by_an_unrelated_employer_while_paid(app, county, tmp_path):
    a, b, c = county.person("王大山"), county.person("李小花", "1985-02-03",
                                                  False), county.person("张三", "1990-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.staff("CJ-1", b, "2025-01-01", "2025-01-31")
    county.place(b, "GW-2", "2025-02-01")
    county.staff("CJ-1", c, "2025-01-01")
    for m in ("2025-02", "2025-03", "2025-04", "2025-05"):
        county.month(a, "GW-1", m)
        county.month(b, "GW-2", m)
        county.month(c, "CJ-1", m)
    si = [
        (a, "2025-02", "白帝村村民委员会", ""),                      # look-alike: the post's own employer
        (a, "2025-03", "重庆渝建劳务有限公司", _credit("91500000MA6000001")),  # planted
        (a, "2025-04", "白帝村 村民委员会", ""),                     # look-alike: the same name, spaced
        (a, "2025-05", "重庆渝建劳务有限公司", ""),                  # planted: two unrelated employers,
        (a, "2025-05", "奉节县鑫源建材厂", ""),                      # one finding
        # look-alike: her earlier workshop's operator
        (b, "2025-03", "奉节县白帝服饰有限公司", ""),
        (c, "2025-02", "白帝服饰（车间）", CREDIT),                  # look-alike: the operator's credit code
        (c, "2025-03", "奉节县白帝服饰有限公司", ""),                # look-alike: the operator by name
        (c, "2025-04", "重庆某电子科技有限公司", _credit("91500000MA6000002")),  # planted
        (c, "2025-06", "重庆某电子科技有限公司", ""),                # look-alike: June not paid at all
    ]
    county.t["social_insurance"] += [{"id_number": i, "period": p, "employer": e, "employer_credit_code": cc}
                                     for i, p, e, cc in si]
    found = county.audit(app, tmp_path, as_of="2025-07-31")
    assert brief(found, "PS06") == sorted([
        ("PS06", a, "GW-1", ["2025-03"], "800.00"),
        ("PS06", a, "GW-1", ["2025-05"], "800.00"),
        ("PS06", c, "CJ-1", ["2025-04"], "2500.00"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "PS06", a, "2025-05")
    assert f["category"] == "phantom_salary"
    assert ([x["employer"] for x in f["evidence"]["insured_by"]]
            == sorted(["重庆渝建劳务有限公司", "奉节县鑫源建材厂"]))
    assert f["evidence"]["post_unit"] == "白帝村村民委员会"
    assert "缴纳社会保险" in f["explanation"] and "疑在他处就业" in f["explanation"]
    assert "同月在 GW-1（白帝村村民委员会）发放工资 800.00 元" in f["explanation"]
    assert mine(found) == brief(found, "PS06")


# ---- PS07 ---------------------------------------------------------------------------------------

def test_ps07_the_same_payment_made_twice(app, county, tmp_path):
    a, b, c = county.person("王大山"), county.person("李小花", "1985-02-03",
                                                  False), county.person("张三", "1990-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.staff("CJ-1", c, "2025-01-01")
    county.month(a, "GW-1", "2025-01")
    county.pay(a, "GW-1", "2025-01")                              # planted: an identical second row
    county.work(a, "GW-1", "2025-02")
    county.pay(a, "GW-1", "2025-02", "400.00", paid_on="2025-03-10")
    county.pay(a, "GW-1", "2025-02", "400.00", paid_on="2025-03-20")  # look-alike: a top-up on another day
    county.month(a, "GW-1", "2025-03")
    county.pay(a, "GW-1", "2025-03")
    county.pay(a, "GW-1", "2025-03")                              # planted: three copies
    county.month(b, "GW-2", "2025-01")
    # look-alike: other account
    county.pay(b, "GW-2", "2025-01", account="6228480000009999999", account_name="李小花")
    county.work(b, "GW-2", "2025-02")
    county.pay(b, "GW-2", "2025-02", "450.00", paid_on="2025-03-10")
    county.pay(b, "GW-2", "2025-02", "400.00", paid_on="2025-03-10")  # look-alike: another amount, same day
    county.work(c, "CJ-1", "2025-01", method="指纹", device="ZW-1")
    county.pay(c, "CJ-1", "2025-01", account="", account_name="")
    county.pay(c, "CJ-1", "2025-01", account="", account_name="")   # planted: both without an account
    county.month(c, "CJ-1", "2025-02")
    county.pay(c, "CJ-1", "2025-06", paid_on="2025-07-10")
    county.pay(c, "CJ-1", "2025-06", paid_on="2025-07-10")          # look-alike: paid after the as-of date
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS07") == sorted([
        ("PS07", a, "GW-1", ["2025-01"], "800.00"),
        ("PS07", a, "GW-1", ["2025-03"], "1600.00"),
        ("PS07", c, "CJ-1", ["2025-01"], "2500.00"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "PS07", a, "2025-03")
    assert f["category"] == "phantom_salary"
    assert f["evidence"]["payments"] == [{"amount": "800.00", "paid_on": "2025-04-10",
                                          "account": f["evidence"]["payments"][0]["account"], "copies": 3}]
    account = f["evidence"]["payments"][0]["account"]
    # masked, never plaintext
    assert account and "*" in account and county.accounts[a] not in str(f["evidence"])
    assert "重复发放 3 次" in f["explanation"] and "多发 1,600.00 元" in f["explanation"]
    # the extra copies also make the month's total exceed the wage due (PS02, public posts); the
    # other-account pair of b is not PS07's
    assert brief(found, "PS02") == sorted([
        ("PS02", a, "GW-1", ["2025-01"], "800.00"),
        ("PS02", a, "GW-1", ["2025-03"], "1600.00"),
        ("PS02", b, "GW-2", ["2025-01"], "900.00"),
    ], key=lambda t: tuple(map(str, t)))
    assert mine(found) == brief([f for f in found if f["rule"] in ("PS07", "PS02")])


# ---- DP01 ---------------------------------------------------------------------------------------

def test_dp01_paid_on_a_post_never_held(app, county, tmp_path):
    county.workshop("CJ-2", operator="奉节县夔州农业合作社")       # keeps no roster at all
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d, e = county.person("张三",
                            "1990-01-01"), county.person("刘四",
                                                         "1991-01-01"), county.person("陈五", "1992-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01", "2025-01-31")
    county.staff("CJ-1", c, "2025-01-01")
    county.month(a, "GW-1", "2025-02")
    county.pay(a, "GW-2", "2025-02")                              # planted: a never held GW-2
    county.month(b, "GW-2", "2025-01")
    county.pay(b, "GW-2", "2025-03")                              # look-alike: held it once (PS03's)
    county.month(c, "CJ-1", "2025-02")
    county.pay(d, "CJ-1", "2025-02")                              # planted: d never on CJ-1's roster
    county.pay(d, "CJ-1", "2025-03")
    # look-alike: CJ-2 keeps no roster (a data gap)
    county.pay(e, "CJ-2", "2025-02", "1800.00")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "DP01") == sorted([
        ("DP01", a, "GW-2", ["2025-02"], "900.00"),
        ("DP01", d, "CJ-1", ["2025-02"], "2500.00"),
        ("DP01", d, "CJ-1", ["2025-03"], "2500.00"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "DP01", a, "2025-02")
    assert f["category"] == "disguised_payment" and f["evidence"]["holdings_on_post"] == 0
    assert "此人从未在 GW-2 在岗" in f["explanation"] and "领取工资 900.00 元" in f["explanation"]
    assert "车间花名册" in one(found, "DP01", d, "2025-02")["explanation"]
    assert brief(found, "PS03") == [("PS03", b, "GW-2", ["2025-03"], "900.00")]
    assert mine(found) == brief([f for f in found if f["rule"] in ("DP01", "PS03")])


# ---- DP02 ---------------------------------------------------------------------------------------

def test_dp02_a_single_payment_above_the_monthly_standard(app, county, tmp_path):
    a, b, c = county.person("王大山"), county.person("李小花", "1985-02-03",
                                                  False), county.person("张三", "1990-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.staff("CJ-1", c, "2025-01-01")
    county.work(a, "GW-1", "2025-01")
    county.pay(a, "GW-1", "2025-01", "1000.00")                   # planted: 200 over the standard
    county.work(a, "GW-1", "2025-02")
    county.pay(a, "GW-1", "2025-02", "500.00", paid_on="2025-03-10")
    # look-alike for DP02: no single row above
    county.pay(a, "GW-1", "2025-02", "500.00", paid_on="2025-03-25")
    county.work(b, "GW-2", "2025-01")
    county.pay(b, "GW-2", "2025-01", "900.01")                    # look-alike: within tolerance
    county.work(b, "GW-2", "2025-02")
    county.pay(b, "GW-2", "2025-02", "900.02")                    # planted: 0.02 over
    county.month(b, "GW-2", "2025-03")                            # clean
    county.work(c, "CJ-1", "2025-01", method="指纹", device="ZW-1")
    county.pay(c, "CJ-1", "2025-01", "5000.00")                   # look-alike: a workshop (market wages)
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "DP02") == sorted([
        ("DP02", a, "GW-1", ["2025-01"], "200.00"),
        ("DP02", b, "GW-2", ["2025-02"], "0.02"),
    ], key=lambda t: tuple(map(str, t)))
    f = one(found, "DP02", a, "2025-01")
    assert f["category"] == "disguised_payment"
    assert f["evidence"]["monthly_wage"] == "800.00" and f["evidence"]["largest_payment"] == "1,000.00"
    assert ("单笔发放 1,000.00 元（2025-02-10），超过岗位月补贴标准 800.00 元，超出标准 200.00 元"
            in f["explanation"])
    # February: 1000 in two payments for a full month is PS02's (paid above the wage due), not DP02's;
    # January's single payment is both
    assert brief(found, "PS02") == [("PS02", a, "GW-1", ["2025-01"], "200.00"),
                                    ("PS02", a, "GW-1", ["2025-02"], "200.00"),
                                    ("PS02", b, "GW-2", ["2025-02"], "0.02")]
    assert mine(found) == brief([f for f in found if f["rule"] in ("DP02", "PS02")])
