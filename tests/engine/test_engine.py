"""The engine: PS01, PS04, WA01 as planted cases and look-alikes; stable ids; a finding's life
across runs; rules whose data is missing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from audit.engine.runner import run_audit
from models import AuditRun, Finding, RuleParameter, db

from helpers import County, brief, findings


@pytest.fixture
def county(people):
    c = County(people)
    c.position("GW-1", wage="800.00")
    c.position("GW-2", wage="900.00", title="护林员")
    return c


def violations(found):
    from audit.engine.rule import VIOLATIONS

    return [f for f in found if f["category"] in VIOLATIONS]


# ---- PS01 ---------------------------------------------------------------------------------------

def test_ps01_paid_for_a_month_without_a_present_day(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    for m in ("2025-01", "2025-02"):
        county.month(a, "GW-1", m)
        county.month(b, "GW-2", m)
    county.work(a, "GW-1", "2025-03", present=0, other="缺勤")  # planted: absent all month, paid in full
    county.pay(a, "GW-1", "2025-03")
    # look-alike: one day present, short pay is PS02's
    county.work(b, "GW-2", "2025-03", present=1, other="请假")
    county.pay(b, "GW-2", "2025-03", "45.00")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS01") == [("PS01", a, "GW-1", ["2025-03"], "800.00")]
    f = next(f for f in found if f["rule"] == "PS01")
    assert f["category"] == "phantom_salary" and f["evidence"]["days_present"] == 0
    assert "2025-03 在 GW-1 没有一天出勤" in f["explanation"] and "800.00 元" in f["explanation"]
    assert violations(found) == [f]


def test_ps01_does_not_judge_a_post_that_keeps_no_attendance(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.pay(a, "GW-1", "2025-01")  # no attendance at all for GW-1: a data gap, not an accusation
    b = county.person("李小花", "1985-02-03", False)
    county.place(b, "GW-2", "2025-01-01")
    county.month(b, "GW-2", "2025-01")
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS01") == []


# ---- PS04 ---------------------------------------------------------------------------------------

def test_ps04_paid_for_months_after_death(app, county, people, tmp_path):
    a, b = county.person("王大山", "1950-01-01"), county.person("赵老汉", "1952-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    for m in ("2025-01", "2025-02", "2025-03", "2025-04"):
        county.month(a, "GW-1", m)
    for m in ("2025-01", "2025-02", "2025-03"):
        county.month(b, "GW-2", m)
    county.t["deaths"] += [{"id_number": a, "death_date": "2025-02-14"},   # planted: March and April paid
                           # look-alike: died after the last paid month began
                           {"id_number": b, "death_date": "2025-03-20"}]
    found = county.audit(app, tmp_path, as_of="2025-06-30")
    assert brief(found, "PS04") == [("PS04", a, "GW-1", ["2025-03"], "800.00"),
                                    ("PS04", a, "GW-1", ["2025-04"], "800.00")]
    assert "已于 2025-02-14 死亡" in next(f for f in found if f["rule"] == "PS04")["explanation"]


# ---- WA01 ---------------------------------------------------------------------------------------

def test_wa01_worked_but_not_paid_by_the_due_date(app, county, tmp_path):
    a, b, c = county.person("王大山"), county.person("李小花", "1985-02-03",
                                                  False), county.person("张三", "1990-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.month(a, "GW-1", "2025-01")
    county.work(a, "GW-1", "2025-02")                      # planted: never paid, due 2025-03-31
    county.work(b, "GW-2", "2025-02", present=10)          # planted: paid late, after the due date
    county.pay(b, "GW-2", "2025-02", "450.00", paid_on="2025-04-15")
    # look-alike: due 2025-06-30, not yet due on the as-of date
    county.work(b, "GW-2", "2025-05")
    county.workshop("CJ-1")
    county.staff("CJ-1", c, "2025-01-01")
    # planted: workshop pay missing (owed unknown)
    county.work(c, "CJ-1", "2025-02", method="指纹", device="ZW-1")
    found = county.audit(app, tmp_path, as_of="2025-06-20")
    assert brief(found, "WA01") == brief([
        {"rule": "WA01", "subject": a, "post": "GW-1", "periods": ["2025-02"], "amount": "800.00"},
        {"rule": "WA01", "subject": b, "post": "GW-2", "periods": ["2025-02"], "amount": "0.00"},
        {"rule": "WA01", "subject": c, "post": "CJ-1", "periods": ["2025-02"], "amount": None}])
    late = next(f for f in found if f["rule"] == "WA01" and f["subject"] == b)
    assert late["evidence"]["wage_due"] == "450.00" and late["evidence"]["paid_after_due_date"] == "450.00"
    assert "应于 2025-03-31 前发放工资 450.00 元" in late["explanation"]


def test_wa01_due_date_follows_a_district_override_from_its_effective_date(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.work(a, "GW-1", "2025-03")  # due 2025-04-30 by default; 2025-05-31 with two months' grace
    county.work(a, "GW-1", "2025-01")  # the override starts in March: January stays at one month
    county.month(a, "GW-1", "2025-02")  # paid on time (and the county has a wages table)
    db.session.add(RuleParameter(rule="WA01", name="pay_due_months", value=2,
                                 effective_from=dt.date(2025, 3, 1), district="奉节县"))
    db.session.commit()
    found = county.audit(app, tmp_path, as_of="2025-05-15")
    assert brief(found, "WA01") == [("WA01", a, "GW-1", ["2025-01"], "800.00")]
    run = db.session.get(AuditRun, county.run.run_id)
    assert run.rules["WA01"]["params"]["pay_due_months"] == 1
    assert run.rules["WA01"]["params"]["pay_due_months:overrides"][0]["value"] == 2


# ---- the life of a finding across runs ------------------------------------------------------------

def test_same_facts_same_id_gone_facts_resolved_dismissed_stays_dismissed(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.work(a, "GW-1", "2025-03", present=0, other="缺勤")
    county.pay(a, "GW-1", "2025-03")
    county.work(a, "GW-1", "2025-04", present=0, other="缺勤")
    county.pay(a, "GW-1", "2025-04")
    first = county.audit(app, tmp_path / "1", as_of="2025-06-30")
    assert [f["periods"] for f in first if f["rule"] == "PS01"] == [["2025-03"], ["2025-04"]]

    rerun = run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    again = findings(app)
    assert [f["id"] for f in again] == [f["id"] for f in first] and rerun.new == 0  # nothing duplicated

    march, april = (db.session.get(Finding, f["id"]) for f in first if f["rule"] == "PS01")
    march.status, march.review_note = "dismissed", "三月为汛期停工，经乡镇批准照发"
    db.session.commit()
    # the data changes: April gets its attendance (facts gone); March's pay is corrected (facts changed)
    county.t["attendance"] = [r for r in county.t["attendance"] if not r["work_date"].startswith("2025-04")]
    county.work(a, "GW-1", "2025-04")
    county.t["wages"][0]["amount"] = "700.00"
    county.t["wages"].append(dict(county.t["wages"][0], amount="100.00", paid_on="2025-04-20"))
    found = county.audit(app, tmp_path / "2", as_of="2025-06-30")
    by_id = {f["id"]: f for f in found}
    assert by_id[april.id]["status"] == "resolved"
    # March still unpaid-for work, but the facts (two payments now) changed: it is open again
    assert by_id[march.id]["status"] == "open" and county.run.reopened == 1 and county.run.resolved == 1


def test_a_dismissed_finding_with_unchanged_facts_stays_dismissed(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.work(a, "GW-1", "2025-03", present=0, other="缺勤")
    county.pay(a, "GW-1", "2025-03")
    [f] = [f for f in county.audit(app, tmp_path, as_of="2025-06-30") if f["rule"] == "PS01"]
    db.session.execute(update(Finding).where(Finding.id == f["id"]).values(status="dismissed"))
    db.session.commit()
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    assert [g["status"] for g in findings(app) if g["id"] == f["id"]] == ["dismissed"]


def test_a_rule_without_its_data_is_reported_as_not_run(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.month(a, "GW-1", "2025-01")
    county.audit(app, tmp_path, as_of="2025-06-30")  # no deaths table in this county
    run = db.session.scalars(select(AuditRun)).one()
    assert run.rules["PS04"] == {"status": "not_run", "reason": "未运行：缺少 死亡人员(deaths) 表"}
    assert run.rules["PS01"]["status"] == "ran" and run.rules["PS01"]["findings"] == 0
    assert run.rules["PS01"]["rows_scanned"] > 0


def test_run_command_prints_a_summary_per_category(app, runner, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.work(a, "GW-1", "2025-03", present=0, other="缺勤")
    county.pay(a, "GW-1", "2025-03")
    county.audit(app, tmp_path, as_of="2025-06-30")
    out = runner.invoke("run", "--as-of", "2025-06-30")
    assert out.exit_code == 0, out.output
    assert "基准日 2025-06-30" in out.output
    line = next(x for x in out.output.splitlines() if x.startswith("吃空饷"))
    assert line.split()[-2:] == ["1", "800.00"]
    assert "PS04 未运行：缺少 死亡人员(deaths) 表" in out.output


def test_parameter_overrides_are_set_checked_listed_and_logged(app, runner):
    from models import ChangeLog

    ok = runner.invoke("params", "set", "WA01", "pay_due_months", "2", "--from", "2025-03-01", "--district",
                       "奉节县")
    assert ok.exit_code == 0 and "已设置 WA01.pay_due_months = 2（奉节县，自 2025-03-01 起）" in ok.output
    unknown = runner.invoke("params", "set", "WA01", "grace", "2", "--from", "2025-03-01")
    assert unknown.exit_code != 0 and "规则 WA01 没有参数 grace；可设参数：pay_due_months" in unknown.output
    wrong_type = runner.invoke("params", "set", "WA01", "pay_due_months", '"two"', "--from", "2025-03-01")
    assert wrong_type.exit_code != 0 and "同一类型" in wrong_type.output
    township_alone = runner.invoke("params", "set", "WA01", "pay_due_months", "2", "--from", "2025-03-01",
                                   "--township", "白帝镇")
    assert township_alone.exit_code != 0 and "必须同时指定所属区县" in township_alone.output
    listed = runner.invoke("params", "list")
    assert "WA01.pay_due_months = 2  奉节县  自 2025-03-01" in listed.output
    db.session.rollback()
    [log] = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "parameter.set")).all()
    assert log.old == {"default": 1} and log.new["value"] == 2 and log.new["district"] == "奉节县"


def test_rules_command_lists_the_catalogue(runner):
    out = runner.invoke("rules")
    assert out.exit_code == 0
    assert "WA01  有出勤但未按时发放工资  [未按时足额发放，中]" in out.output
    # each parameter with its unit and its legal reference (and the date it holds from)
    assert "参数 pay_due_months = 1 个月：" in out.output
    assert "（依据：渝人社办〔2022〕317号《脱贫人口就业帮扶攻坚行动方案》 五(三)" in out.output
    assert "自 2022-11-04 起）" in out.output
