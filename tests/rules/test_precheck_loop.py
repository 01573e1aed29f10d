"""Closing the loop of the payroll pre-check and payday warnings (issue 17, shared/docs/precheck.md).

PC01 / PC02: a little county's March payroll is pre-checked and approved (pass rows only); the wages
paid later include the row it rejected and a row of the same unit it never saw: the audit finds
both, with amounts, in the informational category 流程管控; the rows that passed, and a unit that
pre-checks nothing, are no findings; the pre-check's own rolled-back check runs neither rule.

Payday warnings: from the 20th of May the expected payroll of May is judged; the unit of a person
who died in April (and of one whose placement ended) gets a warning naming the person masked and
the reason; before the 20th nothing; the dashboards of the unit's operator and of the auditor show
it, another unit's operator does not see it; each unit is notified once in the audit log."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from audit.access import Scope
from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from audit.precheck.reader import Draft, DraftRow
from audit.precheck.services import check, save
from models import ChangeLog, PaydayWarning, Precheck, db

from helpers import County, brief, findings, write_bundle

BAIDI = "奉节县/白帝镇/白帝村村民委员会"


def load(app, county: County, folder, *, without: str | None = None) -> None:
    """Import the county; ``without``: a month whose wages are left out (to be paid later)."""
    tables = {k: [r for r in v if not (k == "wages" and r["period"] == without)] for k, v in county.t.items()}
    result = import_bundle(write_bundle(folder, {k: v for k, v in tables.items() if v}), engine=db.engine,
                           pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]


def pay_later(app, county: County, folder, month: str) -> None:
    rows = [r for r in county.t["wages"] if r["period"] == month]
    result = import_bundle(write_bundle(folder, {"wages": rows}), engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]


def draft_of(county: County, rows: list[tuple[str, str, str, int]]) -> Draft:
    return Draft("3月工资发放表.csv", rows=[
        DraftRow(i + 2, idn, post, dt.date.fromisoformat(f"{month}-01"), fen, county.accounts[idn],
                 county.names[idn], None) for i, (idn, post, month, fen) in enumerate(rows)])


def approve(precheck_id: int, *, with_hold: bool = False) -> None:
    """The township auditor's approval, through the pre-check web's own service."""
    from audit.precheck.web import approve as approve_service

    pc = db.session.get(Precheck, precheck_id)
    approve_service(pc, Scope("auditor", False, (("奉节县", None, None),)),
                    user=SimpleNamespace(username="auditor_fj", display_name="王审计"), with_hold=with_hold,
                    now=dt.datetime(2025, 4, 8, 9, 0))


@pytest.fixture
def county(people):
    c = County(people)
    c.position("GW-1", wage="800.00")
    c.position("GW-2", wage="900.00", title="护林员")
    c.position("GW-3", wage="800.00", title="道路维护员")
    c.position("GW-9", wage="800.00", employer="桂井社区居民委员会", township="永安街道")
    return c


# ---- PC01, PC02 ---------------------------------------------------------------------------------

def test_paid_against_an_approved_precheck_and_never_prechecked_are_findings(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1982-11-30", False)
    d, e = county.person("张三", "1990-07-15"), county.person("赵四", "1988-01-01", township="永安街道")
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (d, "GW-3"), (e, "GW-9")):
        county.place(idn, post, "2025-01-01")
        for m in ("2025-01", "2025-02"):
            county.month(idn, post, m)
    county.t["deaths"].append({"id_number": b, "death_date": "2025-02-28"})
    for idn, post in ((a, "GW-1"), (d, "GW-3"), (e, "GW-9")):
        county.month(idn, post, "2025-03")
    county.pay(b, "GW-2", "2025-03")  # dead, paid all the same
    load(app, county, tmp_path / "ledger", without="2025-03")

    # 白帝村's March payroll without 张三: 王大山 passes, 李小花 (dead) is rejected
    result = check(db.engine,
                   draft_of(county, [(a, "GW-1", "2025-03", 80000), (b, "GW-2", "2025-03", 90000)]),
                   as_of=dt.date(2025, 4, 5), pii=app.extensions["pii"])
    assert [r.verdict for r in result.rows] == ["pass", "reject"] and "PS04" in result.rows[1].rules
    assert not {"PC01", "PC02"} & set(result.rules)  # the check's own run: the pre-check's rules only
    pid = save(db.engine, result, actor="operator_bd")

    # before the approval a draft decides nothing
    pay_later(app, county, tmp_path / "paid", "2025-03")
    run_audit(db.engine, as_of=dt.date(2025, 4, 30), actor="test")
    assert brief([f for f in findings(app) if f["rule"].startswith("PC")]) == []

    approve(pid)
    run = run_audit(db.engine, as_of=dt.date(2025, 4, 30), actor="test")
    found = findings(app)
    assert run.rules["PC01"]["status"] == "ran" and run.rules["PC02"]["status"] == "ran"
    assert brief([f for f in found if f["rule"].startswith("PC")]) == sorted([
        ("PC01", b, "GW-2", ["2025-03"], "900.00"),
        ("PC02", d, "GW-3", ["2025-03"], "800.00"),
    ])
    pc01 = next(f for f in found if f["rule"] == "PC01")
    assert pc01["category"] == "process_control"
    ev = pc01["evidence"]
    assert ev["precheck"] == pid and ev["verdict"] == "不予发放" and "PS04" in ev["precheck_rules"]
    assert any("死亡后仍发放工资" in r for r in ev["precheck_reasons"])
    assert ev["approved_by"] == "auditor_fj" and ev["paid"] == "900.00" and ev["approved_amount"] == "0.00"
    assert (f"第 {pid} 号发放前校验判为「不予发放」" in pc01["explanation"]
            and "实发 900.00 元" in pc01["explanation"])
    pc02 = next(f for f in found if f["rule"] == "PC02")
    assert pc02["evidence"]["precheck"] == pid and "未经发放前校验即发放" in pc02["explanation"]
    # the dead person's payment is PS04 as well: the money is counted there, not again under 流程管控
    assert ("PS04", b, "GW-2", ["2025-03"], "900.00") in brief(found, "PS04")
    assert run.amount_by_category.get("process_control", 0) == 0


def test_held_rows_approved_with_the_pass_rows_are_no_finding(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.month(a, "GW-1", "2025-01")
    county.work(a, "GW-1", "2025-02", present=10)  # attendance short: held (PS02)
    county.pay(a, "GW-1", "2025-02")
    load(app, county, tmp_path / "ledger", without="2025-02")
    result = check(db.engine, draft_of(county, [(a, "GW-1", "2025-02", 80000)]), as_of=dt.date(2025, 3, 5),
                   pii=app.extensions["pii"])
    assert result.rows[0].verdict == "hold"
    pid = save(db.engine, result, actor="operator_bd")
    approve(pid, with_hold=True)
    pay_later(app, county, tmp_path / "paid", "2025-02")
    run_audit(db.engine, as_of=dt.date(2025, 4, 30), actor="test")
    assert brief([f for f in findings(app) if f["rule"].startswith("PC")]) == []


def test_without_prechecks_the_rules_do_not_apply_and_warn_no_one(app, county, tmp_path):
    a = county.person("王大山")
    county.place(a, "GW-1", "2025-01-01")
    county.month(a, "GW-1", "2025-01")
    found = county.audit(app, tmp_path, as_of="2025-03-31")
    assert not [f for f in found if f["rule"].startswith("PC")]
    assert county.run.rules["PC01"] == {"status": "not_applicable", "reason": "不适用：尚无发放前校验"}
    from audit.engine.coverage import not_fully_run

    assert "PC01" not in dict(not_fully_run(county.run.rules))


# ---- payday warnings ------------------------------------------------------------------------------

@pytest.fixture
def may(app, county, tmp_path):
    """May 2025: 王大山 works on; 李小花 died on 25 April, still placed; 张三 left on 15 April but was
    paid for April, so stays on the list the unit would copy; 赵四 of another unit works on."""
    a, b = county.person("王大山"), county.person("李小花", "1982-11-30", False)
    d, e = county.person("张三", "1990-07-15"), county.person("赵四", "1988-01-01", township="永安街道")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.place(d, "GW-3", "2025-01-01", "2025-04-15")
    county.place(e, "GW-9", "2025-01-01")
    for m in ("2025-03", "2025-04"):
        for idn, post in ((a, "GW-1"), (b, "GW-2"), (e, "GW-9")):
            county.month(idn, post, m)
    county.month(d, "GW-3", "2025-03")
    county.work(d, "GW-3", "2025-04", present=10)
    county.pay(d, "GW-3", "2025-04", "400.00")
    county.t["deaths"].append({"id_number": b, "death_date": "2025-04-25"})
    county.work(a, "GW-1", "2025-05")
    county.work(e, "GW-9", "2025-05")
    load(app, county, tmp_path / "ledger")
    return {"a": a, "b": b, "d": d, "e": e}


def test_payday_warnings_from_the_20th_name_the_dead_and_the_departed(app, may, runner):
    from audit.scheduler.jobs import run_job

    out = runner.invoke("precheck-warn", "--as-of", "2025-05-19")
    assert out.exit_code == 0, out.output
    assert "未到每月 20 日" in out.output
    assert db.session.scalars(select(PaydayWarning)).all() == []

    outcome = run_job("payday_warnings", now=dt.datetime(2025, 5, 20, 6, 30))
    assert outcome.status == "succeeded", outcome.message
    assert "不予发放 2 人次" in outcome.message
    db.session.rollback()
    rows = {w.name: w for w in db.session.scalars(select(PaydayWarning))}
    assert set(rows) == {"李小花", "张三"}  # 王大山 and 赵四 would be paid
    dead, gone = rows["李小花"], rows["张三"]
    assert dead.unit == BAIDI and dead.verdict == "reject" and "PS04" in dead.rules
    assert any("死亡后仍发放工资" in r and "2025-04-25" in r for r in dead.reasons)
    assert dead.id_masked == may["b"][:6] + "********" + may["b"][-4:] and dead.amount_fen == 90000
    assert gone.verdict == "reject" and "PS03" in gone.rules and gone.amount_fen == 80000
    assert dead.period == dt.date(2025, 5, 1) and dead.as_of == dt.date(2025, 5, 20)

    # notified: one audit-log entry for the unit, naming the persons masked
    logged = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.warning")).all()
    assert [x.row_ref for x in logged] == [BAIDI]
    text = "；".join(logged[0].new["persons"])
    assert "李小花" in text and dead.id_masked in text and may["b"] not in text
    # the next day, nothing changed: remade, not notified again
    out = runner.invoke("precheck-warn", "--as-of", "2025-05-21")
    assert (out.exit_code == 0 and "不予发放 2 人次" in out.output
            and "通知 0 个单位" in out.output), out.output
    db.session.rollback()
    assert len(db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.warning")).all()) == 1
    assert len(db.session.scalars(select(PaydayWarning)).all()) == 2


def test_dashboards_show_the_warnings_of_the_users_units_and_regions(app, may, quick_hashes):
    from audit.auth.services import create_user
    from audit.precheck.warnings import run

    from web_helpers import login

    run(db.engine, dt.date(2025, 5, 20), actor="test")
    create_user("operator_bd", "operator", "correct-horse-42", units=[f"employer:{BAIDI}"], by="test")
    create_user("operator_gj", "operator", "correct-horse-42",
                units=["employer:奉节县/永安街道/桂井社区居民委员会"], by="test")
    create_user("auditor_fj", "auditor", "correct-horse-42", regions=["奉节县"], by="test")
    db.session.commit()
    masked = may["b"][:6] + "********" + may["b"][-4:]
    for user in ("operator_bd", "auditor_fj"):
        client = app.test_client()
        login(client, user)
        page = client.get("/dashboard/")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "发放前预警（2025年05月）" in html and "李小花" in html and masked in html, user
        assert "死亡后仍发放工资" in html and "不予发放" in html and "张三" in html
        assert "护林员（GW-2）" in html  # the post by its name, the code beside it
        assert may["b"] not in html and "王大山" not in html
    client = app.test_client()
    login(client, "operator_gj")
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "发放前预警" not in html and "李小花" not in html
