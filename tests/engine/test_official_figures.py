"""Official figures on the demo county (split in two districts), checked as an official would: a
notice issued through the web asks for no more than was ever paid, each payment once; the 审计报告's
category counts equal the findings export for the same region and period."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections import Counter

from sqlalchemy import func, select

from audit.engine.rule import CATEGORIES, VIOLATIONS
from audit.rectification.services import DEFAULT_ACTIONS
from models import Finding, Notice, Person, Wage, db

from demo_web import MONTHS, START, two_district_demo
from web_helpers import create_users, login, post


def _paid_by_month() -> dict[tuple[int, int, str], int]:
    """What was ever paid, per person, post and month, from the wage rows."""
    q = select(Wage.person_id, Wage.post_id, Wage.period, func.sum(Wage.amount_fen)).group_by(
        Wage.person_id, Wage.post_id, Wage.period)
    return {(p, s, f"{m:%Y-%m}"): int(fen) for p, s, m, fen in db.session.execute(q)}


def test_a_notice_issued_on_the_web_asks_each_payment_once(app, quick_hashes, tmp_path):
    two_district_demo(app, tmp_path / "county")
    create_users(app)
    # the unit with the most violations in 奉节县
    unit = db.session.execute(select(Finding.unit)
                              .where(Finding.district == "奉节县", Finding.unit.is_not(None),
                                                         Finding.category.in_(VIOLATIONS))
                              .group_by(Finding.unit).order_by(func.count().desc()).limit(1)).scalar_one()
    client = app.test_client()
    login(client, "auditor_fj")
    page = client.get(f"/notices/new?unit={unit}").get_data(as_text=True)
    ids = sorted(set(re.findall(r'name="ids" value="([0-9a-f]{32})"', page)))
    assert len(ids) >= 10
    found = {f.id: f for f in db.session.scalars(select(Finding).where(Finding.id.in_(ids)))}
    data = {"unit": unit, "ids": ids, "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat()}
    for fid in ids:
        data[f"act-{fid}"] = DEFAULT_ACTIONS[found[fid].category]
    r = post(client, "/notices/new", data)
    assert r.status_code == 303
    db.session.rollback()
    notice = db.session.scalars(select(Notice).order_by(Notice.id.desc())).first()
    asked = notice.amount_to_recover_fen
    shown = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert f"{asked // 100:,}.{asked % 100:02d}" in shown

    paid = _paid_by_month()
    recover = [found[i.finding_id] for i in notice.items if i.recover_fen > 0]
    posts = {f.post_id for f in recover}
    ever_paid_on_posts = sum(fen for (_, s, _), fen in paid.items() if s in posts)
    own = sum(f.amount_at_risk_fen or 0 for f in recover)
    # the payments the findings are about: a finding of months covers those months of its person on
    # its post; a finding without a month (IP…, FV01) covers at most every month paid to its person there
    covered: set[tuple] = set()
    for f in recover:
        for key in paid:
            if key[0] == f.person_id and key[1] == f.post_id and (not f.periods or key[2] in f.periods):
                covered.add(key)
    at_most = sum(paid[k] for k in covered)
    assert asked <= at_most <= ever_paid_on_posts
    assert asked >= max(f.amount_at_risk_fen or 0 for f in recover)
    assert own > asked  # the demo's dead are paid after death: PS04 with PS01 or IM05 on the same wages
    twins = [(f, o) for f in recover if f.rule == "PS04" for o in recover
             if o.rule in ("PS01", "IM05")
             and (o.person_id, o.post_id, o.periods) == (f.person_id, f.post_id, f.periods)]
    assert {o.rule for _, o in twins} == {"PS01", "IM05"}
    for f, o in twins:  # each such month is all that was paid for it, and counted once in ``asked``
        assert f.amount_at_risk_fen == o.amount_at_risk_fen == paid[(f.person_id, f.post_id, f.periods[0])]


def test_the_report_counts_what_the_export_holds_for_the_district_and_period(app, runner, quick_hashes,
                                                                             tmp_path):
    from reports.render import render_pdf
    from reports.summary import build_summary

    two_district_demo(app, tmp_path / "county")
    last = dt.date(START.year + (START.month + MONTHS - 2) // 12, (START.month + MONTHS - 2) % 12 + 1, 1)
    out = runner.invoke("findings", "--district", "奉节县", "--period", f"{START:%Y-%m}:{last:%Y-%m}")
    assert out.exit_code == 0, out.output
    exported = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert exported and {r["district"] for r in exported} == {"奉节县"}
    by_cat = Counter(r["category"] for r in exported)
    # findings without a month (IP…, FV01) are in the report
    assert by_cat["ineligible_placement"] >= 8 and by_cat["favouritism"] >= 1

    path = tmp_path / "s.pdf"
    path.write_bytes(render_pdf(build_summary("奉节县", START, last).html))
    layout = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                            check=True).stdout
    for cat, name in CATEGORIES.items():
        line = next(ln for ln in layout.splitlines() if ln.strip().startswith(name))
        numbers = re.findall(r"[\d,]+\.\d\d|\d+", line.replace(name, ""))
        assert int(numbers[1]) == by_cat.get(cat, 0), (name, line)
    # nobody and no unit of the other district in the district's report
    names = {d: {n for (n,) in db.session.execute(select(Person.name).where(Person.district == d))}
             for d in ("奉节县", "巫山县")}
    units = {u for (u,) in db.session.execute(select(Finding.unit).where(Finding.district == "巫山县"))}
    units -= {None}
    text = re.sub(r"\s+", "", layout)
    assert units and not any(u in text for u in units)
    assert not any(n in text for n in names["巫山县"] - names["奉节县"])
