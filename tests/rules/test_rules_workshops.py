"""Workshop rules LM01–LM05 (账实不符 / 数字就业), TS01 (不低于上年底) and the data-quality notes DQ01,
DQ02: planted cases and look-alikes in one small county, audited as of 2025-06-20."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AuditRun, RuleParameter, db

from helpers import County, brief

MINE = ("LM01", "LM02", "LM03", "LM04", "LM05", "TS01", "DQ01", "DQ02")
AS_OF = "2025-06-20"


def mine(found):
    return [f for f in found if f["rule"] in MINE]


def one(found, rule, period=None, subject=None):
    [f] = [f for f in found if f["rule"] == rule and (period is None or f["periods"] == [period])
           and (subject is None or f["subject"] == subject)]
    return f


def small_county(people) -> County:
    """A county with the required tables (one public post, one placement) and nothing else yet."""
    c = County(people)
    c.position("GW-9")
    c.place(c.person("卫三", "1966-01-01"), "GW-9", "2025-01-01")
    return c


def report(county, code, period, metric, value):
    county.t["reports"].append({"subject_code": code, "period": period, "metric": metric, "value": value})


@pytest.fixture
def scene(people):
    """CJ-1 (baseline 4): figures reported in Chinese metric names. CJ-2 (no baseline): paper-only
    staff. CJ-3: paid, keeps no attendance. GW-1: a public post paid with no attendance."""
    c = County(people)
    months = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")
    s = {}
    # -- CJ-1 ------------------------------------------------------------------------------------
    c.workshop("CJ-1", baseline=4)
    s["a"] = c.person("王大山", categories="脱贫人口")
    s["b"] = c.person("李小花", "1985-02-03", False, categories="防止返贫监测对象;残疾人")
    s["c"] = c.person("张三", "1990-07-15", categories="低保对象")
    s["d"] = c.person("赵四", "1978-04-04", categories="脱贫人口")    # leaves on 2025-03-15
    s["e"] = c.person("钱五", "1988-08-08", categories="脱贫人口")    # joins on 2025-01-02
    for k in "abcd":
        c.staff("CJ-1", s[k], "2024-10-01", end="2025-03-15" if k == "d" else "")
    c.staff("CJ-1", s["e"], "2025-01-02")
    for m in months:
        for k in "abce":
            c.month(s[k], "CJ-1", m)
    for m in ("2025-01", "2025-02"):
        c.month(s["d"], "CJ-1", m)
    c.work(s["d"], "CJ-1", "2025-03", present=10)  # Mar 3–14, then gone
    c.pay(s["d"], "CJ-1", "2025-03", "1250.00")
    # month-end roster: Jan/Feb a b c d e (poverty a b d e); Mar–May a b c e (poverty a b e)
    # subsidy (on the roster for 3 months): Jan/Feb a b d; Mar a b (e joined on the 2nd); Apr/May a b e
    for per, metric, value in [
        ("2025-01", "工资发放总额", "12500.01"),    # look-alike: 1 fen off, within tolerance
        ("2025-02", "吸纳脱贫人口数", "4"), ("2025-02", "用工总人数", "5"),
        ("2025-02", "工资发放总额", "12500.00"), ("2025-02", "申领带动就业奖补", "1500.00"),
        ("2025-03", "吸纳脱贫人口数", "4"),         # planted: d (left on the 15th) still counted
        ("2025-03", "用工总人数", "5"),             # planted
        ("2025-03", "工资发放总额", "11250.00"),    # right (d's part month included)
        ("2025-03", "申领带动就业奖补", "2000.00"),  # planted: d and e claimed, only a and b qualify
        ("2025-04", "吸纳脱贫人口数", "3"), ("2025-04", "用工总人数", "4"),
        ("2025-04", "工资发放总额", "11000.00"),    # planted: 10,000.00 paid
        ("2025-04", "申领带动就业奖补", "1500.00"),  # right: e (joined 01-02) now qualifies
        ("2025-05", "工资发放总额", "99999.00"),    # look-alike: May pay not due before 2025-06-30
        ("2025-05", "申领带动就业奖补", "1000.00"),  # planted: under-claimed (1,500.00 due), no amount
        ("2025-06", "吸纳脱贫人口数", "9"),         # look-alike: June is not over on the as-of date
    ]:
        report(c, "CJ-1", per, metric, value)
    # -- CJ-2 ------------------------------------------------------------------------------------
    c.workshop("CJ-2")
    s["f"] = c.person("孙六", "1970-01-01", categories="脱贫人口")   # planted: paper only in Feb and Mar
    s["g"] = c.person("周七", "1972-02-02", categories="低保对象")   # planted: paper only in Mar
    s["k"] = c.person("吴八", "1975-03-03", categories="脱贫人口")   # works every month
    # look-alike: paid in Mar, no presence (PS01's)
    s["m"] = c.person("郑九", "1976-04-04", categories="低保对象")
    # look-alike: one day present in Mar, unpaid
    s["n"] = c.person("冯十", "1977-05-05", categories="低保对象")
    s["q"] = c.person("陈一", "1979-06-06", categories="低保对象")   # look-alike: left 03-14, no March rows
    for k in "fgkmnq":
        c.staff("CJ-2", s[k], "2024-10-01", end="2025-03-14" if k == "q" else "")
    for m in months:
        c.month(s["k"], "CJ-2", m)
        if m not in ("2025-02", "2025-03"):
            c.month(s["f"], "CJ-2", m)
        if m != "2025-03":
            for k in "gmn":
                c.month(s[k], "CJ-2", m)
    for m in ("2025-01", "2025-02"):
        c.month(s["q"], "CJ-2", m)
    c.pay(s["m"], "CJ-2", "2025-03")
    c.work(s["n"], "CJ-2", "2025-03", present=1, other="请假")
    c.work(s["k"], "CJ-2", "2025-06")  # June has attendance but is not over: not judged
    report(c, "CJ-2", "2025-03", "poverty_headcount", "2")
    report(c, "CJ-2", "2025-03", "subsidy_claimed", "1000.00")  # f and k: right by the roster
    # -- CJ-3 and GW-1: paid, no attendance kept -------------------------------------------------
    c.workshop("CJ-3", baseline=1)
    s["r"] = c.person("褚二", "1981-07-07", categories="脱贫人口")
    c.staff("CJ-3", s["r"], "2025-01-01")
    for m in ("2025-01", "2025-02", "2025-03"):
        c.pay(s["r"], "CJ-3", m)
    c.position("GW-1")
    c.position("GW-2", title="护林员")
    s["t"], s["u"] = c.person("卫三", "1966-01-01"), c.person("蒋四", "1967-01-01")
    c.place(s["t"], "GW-1", "2025-01-01")
    c.place(s["u"], "GW-2", "2025-01-01")
    c.pay(s["t"], "GW-1", "2025-01")
    c.pay(s["t"], "GW-1", "2025-02")
    c.pay(s["t"], "GW-1", "2025-07", paid_on="2025-06-15")  # paid ahead for a month after the as-of month
    c.month(s["u"], "GW-2", "2025-01")
    return c, s


def test_workshop_rules_find_the_planted_cases_and_nothing_else(app, scene, tmp_path):
    county, s = scene
    found = county.audit(app, tmp_path, as_of=AS_OF)
    assert brief(mine(found)) == brief([
        {"rule": "LM01", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-03"], "amount": None},
        {"rule": "LM02", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-03"], "amount": None},
        {"rule": "LM03", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-04"], "amount": None},
        {"rule": "LM04", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-03"], "amount": "1000.00"},
        {"rule": "LM04", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-05"], "amount": None},
        {"rule": "LM05", "subject": "CJ-2", "post": "CJ-2", "periods": ["2025-02"], "amount": None},
        {"rule": "LM05", "subject": "CJ-2", "post": "CJ-2", "periods": ["2025-03"], "amount": "500.00"},
        {"rule": "TS01", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-03"], "amount": None},
        {"rule": "TS01", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-04"], "amount": None},
        {"rule": "TS01", "subject": "CJ-1", "post": "CJ-1", "periods": ["2025-05"], "amount": None},
        {"rule": "DQ01", "subject": "CJ-3", "post": "CJ-3", "periods": [], "amount": None},
        {"rule": "DQ01", "subject": "GW-1", "post": "GW-1", "periods": [], "amount": None},
        {"rule": "DQ02", "subject": "CJ-2", "post": "CJ-2", "periods": [], "amount": None},
    ])
    cats = {f["rule"]: (f["category"], f["subject_type"]) for f in mine(found)}
    assert cats == {**{r: ("ledger_mismatch", "workshop") for r in ("LM01", "LM02", "LM03", "LM04", "LM05")},
                    "TS01": ("target_shortfall", "workshop"), "DQ01": ("data_quality", "position"),
                    "DQ02": ("data_quality", "workshop")}

    lm01 = one(found, "LM01")
    assert lm01["evidence"]["reported"] == "4"
    assert lm01["evidence"]["computed"] == 3 and lm01["evidence"]["difference"] == "1"
    assert "上报 2025-03 吸纳脱贫人口数 4 人" in lm01["explanation"] and "多报 1 人" in lm01["explanation"]
    lm02 = one(found, "LM02")
    assert (lm02["evidence"]["reported"], lm02["evidence"]["computed"]) == ("5", 4)
    assert "在册用工 4 人" in lm02["explanation"]

    lm03 = one(found, "LM03")
    assert lm03["evidence"]["reported"] == "11,000.00" and lm03["evidence"]["paid"] == "10,000.00"
    assert lm03["evidence"]["payments"] == 4 and lm03["evidence"]["pay_due_date"] == "2025-05-31"
    assert "多报 1,000.00 元" in lm03["explanation"]

    over, under = one(found, "LM04", "2025-03"), one(found, "LM04", "2025-05")
    assert over["evidence"]["eligible_staff"] == 2 and over["evidence"]["computed"] == "1,000.00"
    assert over["evidence"]["on_roster_from"] == "2025-01-01"
    assert "多申领 1,000.00 元" in over["explanation"]
    assert under["evidence"]["eligible_staff"] == 3 and "少申领 500.00 元" in under["explanation"]

    feb, mar = one(found, "LM05", "2025-02"), one(found, "LM05", "2025-03")
    assert feb["persons"] == [s["f"]] and sorted(mar["persons"]) == sorted([s["f"], s["g"]])
    names = {p["name"]: p for p in mar["evidence"]["people"]}
    assert set(names) == {"孙六", "周七"}
    assert names["孙六"]["counts_for_subsidy"] is True and names["周七"]["counts_for_subsidy"] is False
    assert all("*" in p["id_masked"] and p["id_masked"] != s["f"] for p in mar["evidence"]["people"])
    assert "在册的 2 人当月没有一天出勤、也没有发放该月工资" in mar["explanation"]
    assert "涉及 500.00 元" in mar["explanation"] and feb["evidence"]["subsidy_claimed"] is None

    ts = one(found, "TS01", "2025-03")
    assert (ts["evidence"]["baseline"], ts["evidence"]["computed"], ts["evidence"]["shortfall"]) == (4, 3, 1)
    assert "低于上年末基数 4 人" in ts["explanation"]

    dq = one(found, "DQ01", subject="GW-1")
    assert dq["evidence"]["payments"] == 2 and dq["evidence"]["periods_count"] == 2  # July (future) left out
    assert "没有任何考勤记录" in dq["explanation"] and "PS01" in dq["explanation"]
    assert one(found, "DQ01", subject="CJ-3")["evidence"]["post_kind"] == "帮扶车间"
    assert "TS01 未能判断" in one(found, "DQ02")["explanation"]
    # PS01 leaves the posts without attendance alone (DQ01 notes them) and does judge m's March
    assert [(f["subject"], f["post"], f["periods"]) for f in found if f["rule"] == "PS01"] == [
        (s["m"], "CJ-2", ["2025-03"])]


def test_subsidy_standard_follows_a_district_override_from_its_effective_month(app, people, tmp_path):
    c = small_county(people)
    c.workshop("CJ-1")
    a, b = c.person("王大山"), c.person("李小花", "1985-02-03", False, categories="防止返贫监测对象")
    for idn in (a, b):
        c.staff("CJ-1", idn, "2024-12-01")
        for m in ("2025-02", "2025-03"):
            c.month(idn, "CJ-1", m)
    report(c, "CJ-1", "2025-02", "subsidy_claimed", "1000.00")  # 2 × 500: right, before the override
    report(c, "CJ-1", "2025-03", "subsidy_claimed", "1000.00")  # 2 × 600 due from March
    db.session.add(RuleParameter(rule="LM04", name="subsidy_per_person", value=60000,
                                 effective_from=dt.date(2025, 3, 1), district="奉节县"))
    db.session.commit()
    found = c.audit(app, tmp_path, as_of=AS_OF)
    assert brief(found, "LM04") == [("LM04", "CJ-1", "CJ-1", ["2025-03"], None)]
    assert one(found, "LM04")["evidence"]["standard_per_person"] == "600.00"


def test_without_reports_the_ledger_rules_are_not_run(app, people, tmp_path):
    c = small_county(people)
    c.workshop("CJ-1", baseline=1)
    a = c.person("王大山")
    c.staff("CJ-1", a, "2025-01-01")
    c.month(a, "CJ-1", "2025-01")
    found = c.audit(app, tmp_path, as_of=AS_OF)
    run = db.session.scalars(select(AuditRun)).one()
    assert run.rules["LM01"] == {"status": "not_run", "reason": "未运行：缺少 上报数据(reports) 表"}
    assert run.rules["LM05"]["status"] == "ran" and run.rules["TS01"]["status"] == "ran"
    assert mine(found) == []
