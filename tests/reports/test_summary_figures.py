"""The 审计报告's figures as an official signs them: money summed over the payments (each counted
once, never above what was paid), findings without a month counted, category counts equal to the
findings export for the same region and period, a rectification section, and a conclusion and
advice written from the figures."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections import Counter

import pytest

from models import Finding, Recovery, db

from helpers import County

WAGE = 80000  # 800.00 yuan a month, in fen


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


@pytest.fixture
def county(app, people, tmp_path):
    """A dead man paid after his death with no attendance (PS01 and PS04 on the same wages), a
    woman with no labour ability paid for six months (IP08: no month of its own), a clean worker."""
    c = County(people)
    c.position("GW-1")
    c.position("GW-2", title="护林员")
    c.position("GW-3", title="护路员")
    dead = c.person("亡甲")
    c.place(dead, "GW-1", "2025-01-01")
    c.month(dead, "GW-1", "2025-01")
    c.pay(dead, "GW-1", "2025-02")
    c.pay(dead, "GW-1", "2025-03")
    c.t["deaths"].append({"id_number": dead, "death_date": "2025-02-10"})
    weak = c.person("弱乙", labour_ability="丧失劳动力")
    c.place(weak, "GW-2", "2025-01-01", "2025-06-30")
    for m in range(1, 7):
        c.month(weak, "GW-2", f"2025-{m:02d}")
    ok = c.person("好丙")
    c.place(ok, "GW-3", "2025-01-01")
    for m in range(1, 7):
        c.month(ok, "GW-3", f"2025-{m:02d}")
    c.found = c.audit(app, tmp_path / "bundle", as_of="2025-08-31")
    c.dead, c.weak = dead, weak
    return c


def _paid(c: County, keys: set[tuple[str, str, str]]) -> int:
    """What was ever paid for these (person, post, month) payments, from the wage rows themselves."""
    return sum(round(float(w["amount"]) * 100) for w in c.t["wages"]
               if (w["id_number"], w["post_code"], w["period"]) in keys)


def test_money_is_summed_over_payments_not_findings(app, county):
    from reports.summary import figures

    rules = Counter(f["rule"] for f in county.found)
    assert rules["PS01"] == 2 and rules["PS04"] == 1 and rules["IP08"] == 1  # PS04 shares March with PS01
    own = sum(round(float(f["amount"]) * 100) for f in county.found if f["amount"])
    covered = {(county.dead, "GW-1", "2025-02"), (county.dead, "GW-1", "2025-03")} | {
        (county.weak, "GW-2", f"2025-{m:02d}") for m in range(1, 7)}
    expected = _paid(county, covered)
    assert expected == 8 * WAGE and own == 9 * WAGE  # the findings' own amounts add March twice

    fig = figures("奉节县", [f"2025-{m:02d}" for m in range(1, 7)])
    assert fig["money_fen"] == expected
    assert fig["recover_fen"] == expected
    assert sum(c["amount_fen"] for c in fig["categories"]) == expected  # the parts add up to the whole
    assert sum(r["amount_fen"] for r in fig["rules"]) == expected
    assert sum(w["amount_fen"] for w in fig["worst"]) == expected
    assert sum(m["amount_fen"] for m in fig["trend"]) == expected


def test_findings_without_a_month_are_counted_with_the_money_of_the_period(app, county):
    from reports.summary import figures

    fig = figures("奉节县", ["2025-03"])
    counts = {c["category"]: c["count"] for c in fig["categories"]}
    assert counts["ineligible_placement"] == 1  # IP08 has no month: it stands in every period
    assert counts["phantom_salary"] == 2  # PS01 and PS04 of March
    # March only: the dead man's March wages once, the IP08 woman's March wages
    assert (fig["money_fen"]
            == _paid(county, {(county.dead, "GW-1", "2025-03"), (county.weak, "GW-2", "2025-03")}))
    assert fig["monthless"] == 1


def test_category_counts_equal_the_findings_export_for_the_same_region_and_period(app, county, runner,
                                                                                  tmp_path):
    from reports.render import render_pdf
    from reports.summary import build_summary

    db.session.get(Finding, next(f["id"] for f in county.found if f["rule"] == "PS04")).status = "dismissed"
    db.session.commit()
    out = runner.invoke("findings", "--district", "奉节县", "--period", "2025-02:2025-04")
    assert out.exit_code == 0, out.output
    exported = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    all_by_cat = Counter(r["category"] for r in exported)
    standing = Counter(r["category"] for r in exported if r["status"] in ("open", "confirmed", "closed"))
    assert all_by_cat["phantom_salary"] == 3 and standing["phantom_salary"] == 2

    pdf = render_pdf(build_summary("奉节县", dt.date(2025, 2, 1), dt.date(2025, 4, 1)).html)
    path = tmp_path / "s.pdf"
    path.write_bytes(pdf)
    layout = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                            check=True).stdout
    names = {"phantom_salary": "吃空饷 / 虚报冒领", "ineligible_placement": "安置不符合条件人员",
             "disguised_payment": "变相发钱", "favouritism": "优亲厚友"}
    for cat, name in names.items():
        line = next(ln for ln in layout.splitlines() if ln.strip().startswith(name))
        numbers = re.findall(r"[\d,]+\.\d\d|\d+", line.replace(name, ""))
        assert numbers[:2] == [str(standing[cat]), str(all_by_cat[cat])], line
    # every rule of the catalogue is in the report, those with no finding too
    assert "DP01" in layout and "FV01" in layout and "LM05" in layout


def test_the_report_has_rectification_a_conclusion_and_advice(app, county, tmp_path):
    from audit.engine.money import RECOVERABLE, total_fen
    from audit.rectification.services import issue
    from reports.render import render_pdf
    from reports.summary import build_summary

    ids = [f["id"] for f in county.found if f["category"] != "data_quality"
           and f["rule"] in ("PS01", "PS04", "IP08")]
    notice = issue("奉节县/白帝镇/白帝村村民委员会", ids, dt.date.today() + dt.timedelta(days=30),
                   by="auditor", scope_clause=Finding.id.is_not(None))
    db.session.flush()
    due = total_fen(db.session, Finding.id.in_(ids), kind=RECOVERABLE)
    assert notice.amount_to_recover_fen == due == 8 * WAGE
    item = notice.items[0]
    db.session.add(Recovery(notice_id=notice.id, item_id=item.id, recovered_on=dt.date.today(),
                            amount_fen=WAGE, recorded_by="auditor", recorded_at=dt.datetime.now()))
    db.session.commit()

    pdf = render_pdf(build_summary("奉节县", dt.date(2025, 1, 1), dt.date(2025, 6, 1)).html)
    path = tmp_path / "s.pdf"
    path.write_bytes(pdf)
    text = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                            check=True).stdout)
    text = re.sub(r"—\d+—", "", text)  # page numbers where a page breaks a sentence
    assert "七、整改情况" in text and "已下发整改通知书1份" in text
    assert f"应追回{_yuan(due)}元，已追回{_yuan(WAGE)}元（12.5%），尚差{_yuan(due - WAGE)}元" in text
    assert "八、审计结论" in text and "九、审计建议" in text
    assert "问题主要集中在安置不符合条件人员" in text  # the largest category by money
    assert "加快追回违规资金" in text
    assert "与PS04重叠，不重复计算" in text or "与PS01重叠，不重复计算" in text  # the list marks the overlap
