"""Corrections (ledger-format.md, "Corrections: replacing what a bundle covers"): a bundle with a
``replaces`` table deletes what it covers and does not hold; reversals (negative wages) net against
the payment they reverse."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from models import ChangeLog, Wage, db

from helpers import County, findings, snapshot, write_bundle


def _import(app, path, **kw):
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"], actor="tester", **kw)


def _county(people):
    """Two townships; in 白帝镇 two people paid for October with no attendance at all (PS01), and one
    such person in 永安街道, whom the correction does not cover."""
    c = County(people)
    c.position("GW-1")
    c.position("GW-2")
    c.position("GW-3", township="永安街道", employer="桂井社区居民委员会")
    a, b = c.person("王大山"), c.person("李小花", male=False)
    d, e = c.person("赵空一"), c.person("钱空二")
    f = c.person("孙空三", township="永安街道", village="桂井社区")
    c.place(a, "GW-1", "2025-09-01")
    c.place(b, "GW-2", "2025-09-01")
    c.place(d, "GW-1", "2025-09-01")
    c.place(e, "GW-2", "2025-09-01")
    c.place(f, "GW-3", "2025-09-01")
    for who, post in ((a, "GW-1"), (b, "GW-2"), (d, "GW-1"), (e, "GW-2"), (f, "GW-3")):
        c.month(who, post, "2025-09")
    c.month(a, "GW-1", "2025-10")
    c.month(b, "GW-2", "2025-10")
    for who, post in ((d, "GW-1"), (e, "GW-2"), (f, "GW-3")):
        c.pay(who, post, "2025-10")  # paid, never worked in October
    return c, dict(a=a, b=b, d=d, e=e, f=f)


def _october_baidi(c: County) -> list[dict]:
    baidi = {p["position_code"] for p in c.t["positions"] if p["township"] == "白帝镇"}
    return [w for w in c.t["wages"] if w["period"] == "2025-10" and w["post_code"] in baidi]


def test_a_correction_deletes_two_phantom_rows_and_their_findings_become_data_gone(app, people, tmp_path):
    c, who = _county(people)
    found = c.audit(app, tmp_path / "county", as_of="2025-12-31")
    ps01 = {(f["subject"], f["periods"][0]) for f in found if f["rule"] == "PS01"}
    assert ps01 == {(who["d"], "2025-10"), (who["e"], "2025-10"), (who["f"], "2025-10")}

    kept = [w for w in _october_baidi(c) if w["id_number"] not in (who["d"], who["e"])]
    assert len(kept) == 2  # 王大山's and 李小花's October pay stay
    correction = write_bundle(tmp_path / "correction", {
        "replaces": [{"table": "工资发放", "period_from": "2025-10", "district": "奉节县",
                      "township": "白帝镇"}],
        "wages": kept})

    # the dry run lists what would go, and leaves everything as it was
    before = snapshot(db.engine)
    dry = _import(app, correction, dry_run=True)
    assert dry.ok, [str(e) for e in dry.errors]
    assert dry.counts["wages"].deleted == 2 and dry.counts["wages"].unchanged == 2
    listed = [r["ref"] for r in dry.deleted["wages"]["rows"]]
    assert len(listed) == 2 and all("2025-10" in ref and "GW-" in ref for ref in listed)
    assert {ref.split("（")[0] for ref in listed} == {"赵空一", "钱空二"}
    assert who["d"] not in json.dumps(dry.deleted, ensure_ascii=False)  # masked
    assert snapshot(db.engine) == before

    result = _import(app, correction)
    assert result.ok and result.counts["wages"].deleted == 2
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Wage)) == len(c.t["wages"]) - 2

    # the log holds the deleted rows, their old values, masked
    entries = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "import.delete")
                                 .order_by(ChangeLog.id)).all()
    assert len(entries) == 2 and {e.table_name for e in entries} == {"wages"}
    assert ({e.old["amount"] for e in entries} == {"800.00"}
            and {e.old["period"] for e in entries} == {"2025-10"})
    text = json.dumps([[e.row_ref, e.old, e.new] for e in entries], ensure_ascii=False)
    assert who["d"] not in text and who["e"] not in text and c.accounts[who["d"]] not in text
    assert all(e.old["id_number"].count("*") >= 8 and e.batch_id == result.batch_id for e in entries)

    run_audit(db.engine, as_of=dt.date(2025, 12, 31), actor="test")
    after = {(f["subject"], f["periods"][0]): f["status"] for f in findings(app) if f["rule"] == "PS01"}
    assert after == {(who["d"], "2025-10"): "resolved", (who["e"], "2025-10"): "resolved",
                     (who["f"], "2025-10"): "open"}


def test_a_replaces_row_is_checked_and_names_its_row(app, people, tmp_path):
    c, who = _county(people)
    c.audit(app, tmp_path / "county", as_of="2025-12-31")
    before = snapshot(db.engine)
    result = _import(app, write_bundle(tmp_path / "bad", {"replaces": [
        {"table": "工资发放", "period_from": "", "district": "奉节县"},  # row 2: no month
        {"table": "人员信息", "period_from": "2025-10"},  # row 3: persons cannot be replaced
        {"table": "deaths", "period_from": "2025-10", "district": "奉节县", "post_code": "GW-1"},  # row 4
        {"table": "wages", "period_from": "2025-11", "period_to": "2025-10", "township": "白帝镇"},  # row 5
    ]}))
    assert not result.ok
    got = {(e.row, e.column): e.reason for e in result.errors}
    assert "须填写起始月份" in got[(2, "起始月份")]
    assert "不是可替换的表" in got[(3, "表")]
    assert "不能按岗位编号替换" in got[(4, "岗位或车间编号")]
    assert "截止月份早于起始月份" in got[(5, "截止月份")]
    assert all(e.table == "replaces" and "替换范围" in str(e) for e in result.errors)
    assert snapshot(db.engine) == before


def _paid_september(people):
    """王大山 and 李小花 on one post, both at work all September and paid for it once."""
    c = County(people)
    c.position("GW-1")
    a, b = c.person("王大山"), c.person("李小花", male=False)
    for who in (a, b):
        c.place(who, "GW-1", "2025-09-01")
        c.month(who, "GW-1", "2025-09")
    return c, a, b


def test_reversals_net_against_the_payment_they_reverse(app, people, tmp_path):
    c, a, b = _paid_september(people)
    # 王大山's September pay went out twice on one day (PS07), then the copy was reversed (冲正)
    c.pay(a, "GW-1", "2025-09")
    c.pay(a, "GW-1", "2025-09", "-800.00", paid_on="2025-10-20")
    # 李小花's went to a wrong account holder's name (IM03); reversed, and paid again to her own
    wrong = c.t["wages"][1]
    assert wrong["id_number"] == b
    wrong["account_name"] = "张冒领"
    c.pay(b, "GW-1", "2025-09", "-800.00", paid_on="2025-10-15", account_name="张冒领")
    c.pay(b, "GW-1", "2025-09", paid_on="2025-10-16")
    found = c.audit(app, tmp_path / "county", as_of="2025-12-31")
    assert ([f for f in found if f["category"] != "data_quality"]
            == []), [(f["rule"], f["explanation"]) for f in found]


def test_the_same_county_without_reversals_finds_both(app, people, tmp_path):
    c, a, b = _paid_september(people)
    c.pay(a, "GW-1", "2025-09")
    c.t["wages"][1]["account_name"] = "张冒领"
    found = c.audit(app, tmp_path / "county", as_of="2025-12-31")
    assert {(f["rule"], f["subject"], f["amount"]) for f in found if f["category"] != "data_quality"} >= {
        ("PS07", a, "800.00"), ("IM03", b, "800.00")}


def test_a_first_import_with_a_reversal_names_its_row_and_stores_nothing(app, people, tmp_path):
    """Into an empty database the wages go straight into their table, unless they hold a reversal:
    that one is checked against the payments it would reverse, and named by its row."""
    c = County(people)
    c.position("GW-1")
    a = c.person("王大山")
    c.place(a, "GW-1", "2025-09-01")
    c.month(a, "GW-1", "2025-09")  # wages row 2
    c.pay(a, "GW-1", "2025-08", "-800.00", paid_on="2025-10-20")  # row 3: no August pay to reverse
    result = _import(app, write_bundle(tmp_path / "first", {k: v for k, v in c.t.items() if v}))
    named = [(e.table, e.row, e.column, e.value) for e in result.errors]
    assert named == [("wages", 3, "发放金额", "-800.00")]
    assert "冲正（负数金额）找不到被冲减的发放" in result.errors[0].reason
    assert db.session.scalar(select(func.count()).select_from(Wage)) == 0


def test_a_reversal_with_nothing_to_reverse_is_a_row_error(app, people, tmp_path):
    c = County(people)
    c.position("GW-1")
    a = c.person("王大山")
    c.place(a, "GW-1", "2025-09-01")
    c.month(a, "GW-1", "2025-09")
    c.audit(app, tmp_path / "county", as_of="2025-12-31")
    before = snapshot(db.engine)
    bundle = write_bundle(tmp_path / "reversal", {"wages": [
        {"id_number": a, "post_code": "GW-1", "period": "2025-08", "amount": "-800.00",
         "paid_on": "2025-10-20"},
        {"id_number": a, "post_code": "GW-1", "period": "2025-09", "amount": "-900.00",
         "paid_on": "2025-10-20"},
        {"id_number": a, "post_code": "GW-1", "period": "2025-09", "amount": "-800.00",
         "paid_on": "2025-09-20"},
        {"id_number": a, "post_code": "GW-1", "period": "2025-09", "amount": "-800.00",
         "paid_on": "2025-10-20"},
    ]})
    result = _import(app, bundle)
    rows = sorted((e.table, e.row, e.column, e.value) for e in result.errors)
    # row 2: no August pay; row 3: more than was paid; row 4: before the payment (2025-10-10) it reverses;
    # row 5 is a true reversal, but rows 3 and 4 with it would leave September below zero: named too
    assert rows == [("wages", 2, "发放金额", "-800.00"), ("wages", 3, "发放金额", "-900.00"),
                    ("wages", 4, "发放金额", "-800.00"), ("wages", 5, "发放金额", "-800.00")]
    assert all("冲正" in e.reason and "wages.csv" in str(e) for e in result.errors)
    assert snapshot(db.engine) == before
