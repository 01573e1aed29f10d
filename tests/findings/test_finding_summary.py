"""The screens read the findings' summary written by the audit run (issue 15): on a generated county
the dashboard's figures, the findings list's totals and a run's page equal what a direct count over
the findings and their payments gives, in every scope; after a review (确认, 排除, 重新复核) or a
销号 the figures follow; the findings list pages by key, every finding once, in order."""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
from flask import g
from sqlalchemy import func, select

from audit.access import Scope
from audit.demo.generator import generate_bundle
from audit.demo.plant import as_of_for, plant_cases
from audit.engine.rule import VIOLATIONS
from audit.engine.runner import run_audit
from audit.findings import figures, queries
from audit.findings.services import review
from audit.ledger.importer import import_bundle
from models import Finding, FindingMoney, SummaryRun, db

from web_helpers import login

START, MONTHS, SEED = dt.date(2025, 1, 1), 12, 7


@pytest.fixture
def county(app, tmp_path):
    folder = tmp_path / "county"
    generate_bundle(folder, persons=300, start=START, months=MONTHS, seed=SEED)
    plant_cases(folder, start=START, months=MONTHS, seed=SEED)
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    run_audit(db.engine, as_of=as_of_for(START, MONTHS), actor="test")
    return folder


def _scopes() -> list[Scope]:
    """Everything, a district, its busiest township, and an operator's unit (as users are scoped)."""
    rows = db.session.execute(select(Finding.district, Finding.township, Finding.unit, func.count())
                              .where(Finding.unit.is_not(None))
                              .group_by(Finding.district, Finding.township, Finding.unit)).all()
    township = Counter()
    for d, t, _, n in rows:
        township[(d, t)] += n
    (district, town), _ = township.most_common(1)[0]
    unit = max(rows, key=lambda r: r[3])[2]
    kind = "workshop" if "|" not in unit else "employer"
    return [Scope("admin", True), Scope("auditor", False, regions=((district, None, None),)),
            Scope("inspector", False, regions=((district, town, None),)),
            Scope("operator", False, units=((kind, unit),))]


def _figures(sc: Scope, *, live: bool) -> dict:
    """Every figure of the dashboard, the list's totals under several filters and the latest run's
    page, for ``sc``: from the summary, or (``live``) counted over ``findings`` and ``finding_money``."""
    from audit.browse.history import run_findings_in_scope

    g.scope = sc
    g.pop("summary_stamp", None)
    if live:
        g.summary_stamp = None  # as if there were no summary: counted over the findings
    out = {"categories": figures.by_category(), "rules": figures.by_rule(), "status": figures.by_status(),
           "trend": figures.monthly_trend(), "districts": figures.by_district(),
           "units": figures.worst_units(), "at_risk": figures.at_risk(),
           "options": {k: v for k, v in queries.options().items() if k != "rules"}}
    rule = out["rules"][0]["rule"] if out["rules"] else "PS01"
    town = out["options"]["townships"][0] if out["options"]["townships"] else ""
    for status in ("active", "all", "confirmed", "dismissed", "closed"):
        for extra in ({}, {"category": "phantom_salary"}, {"rule": rule},
                      {"township": town, "severity": "high"}):
            f = queries.Filters(status=status, **extra)
            _, total, capped, fen, _ = queries.listing(f)
            out[f"list {status} {extra}"] = (total, capped, fen)
    run_id = db.session.scalar(select(func.max(SummaryRun.run_id)))
    out["run"] = run_findings_in_scope(sc, run_id)
    return out


def _same_everywhere(app) -> None:
    with app.test_request_context("/"):
        assert db.session.scalar(select(SummaryRun.exact)) is True
        for sc in _scopes():
            summed, counted = _figures(sc, live=False), _figures(sc, live=True)
            for key in counted:
                assert summed[key] == counted[key], (sc.describe(), key)


def test_the_dashboard_reads_the_same_figures_from_the_summary_in_every_scope(app, county):
    with app.test_request_context("/"):
        g.scope = Scope("admin", True)
        assert queries.summary_run() is not None  # the summary is what the screens read
        cats = figures.by_category()
        assert sum(c["count"] for c in cats) >= 40 and figures.at_risk() > 0
        # the headline is money counted once: below the findings' own amounts added up
        added = db.session.scalar(select(func.sum(Finding.amount_at_risk_fen))
                                  .where(Finding.is_active,
                                         Finding.category.in_(sorted(VIOLATIONS))))
        assert figures.at_risk() <= added
    _same_everywhere(app)


def test_the_figures_follow_reviews_and_closing(app, county):
    # findings that claim the same payment: dismissing the largest claim hands the payment to the next
    fm = FindingMoney
    shared = db.session.scalars(select(fm.payment).group_by(fm.payment).having(func.count() > 1)).all()
    assert shared, "the generated county has findings that share a payment"
    claims = db.session.execute(select(fm.finding_id, fm.amount_fen).where(fm.payment == shared[0])
                                .order_by(fm.amount_fen.desc())).all()
    winner = db.session.get(Finding, claims[0].finding_id)
    review(winner, "dismiss", "核实为误报，已有证明材料", by="test")
    db.session.commit()
    others = db.session.scalars(select(Finding).where(Finding.status == "open").order_by(Finding.id)).all()
    for f in others[:5]:
        review(f, "confirm", "", by="test")
    others[5].status = "closed"  # 销号, as a notice's closing does
    db.session.commit()
    with app.test_request_context("/"):
        g.scope = Scope("admin", True)
        assert figures.by_status()["dismissed"] >= 1 and figures.by_status()["confirmed"] >= 5
    _same_everywhere(app)
    review(winner, "reopen", "", by="test")
    db.session.commit()
    _same_everywhere(app)
    # a second run leaves the summary as the findings are
    run_audit(db.engine, as_of=as_of_for(START, MONTHS), actor="test")
    _same_everywhere(app)


def test_the_list_pages_by_key_every_finding_once_in_order(app, county):
    with app.test_request_context("/"):
        g.scope = Scope("admin", True)
        for sort in queries.SORTS:
            f = queries.Filters(status="all", sort=sort)
            seen, after, pages = [], None, 0
            while True:
                rows, total, capped, _, after = queries.listing(f, after)
                seen += [r.id for r in rows]
                pages += 1
                if after is None:
                    break
            assert len(seen) == len(set(seen)) == total and not capped
            assert pages == -(-total // queries.PER_PAGE)
            rows = db.session.execute(select(Finding.id, Finding.rule, Finding.period_start,
                                             Finding.amount_at_risk_fen)).all()
            def key(r, sort=sort):  # no month and no amount sort last
                day = -(r.period_start.toordinal() if r.period_start else 0)
                fen = -(r.amount_at_risk_fen if r.amount_at_risk_fen is not None else -1)
                return {"period": (day, fen), "amount": (fen, day), "rule": (r.rule, day)}[sort] + (r.id,)
            assert seen == [r.id for r in sorted(rows, key=key)], sort


def test_the_findings_page_links_the_next_page_and_caps_a_slow_count(web, client, monkeypatch):
    monkeypatch.setattr(queries, "PER_PAGE", 1)
    login(client, "auditor_fj")
    page = client.get("/findings/?status=all").get_data(as_text=True)
    nxt = re.search(r'href="(/findings/\?[^"]*after=[^"]+)"[^>]*>下一页', page)
    assert nxt and "第 1 页" in page
    second = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "第 2 页" in second and "第一页" in second
    first_ids = set(re.findall(r'name="ids" value="([0-9a-f]+)"', page))
    assert first_ids and not first_ids & set(re.findall(r'name="ids" value="([0-9a-f]+)"', second))
    # a month filter counts live, and stops counting at the cap
    monkeypatch.setattr(queries, "COUNT_CAP", 1)
    html = client.get("/findings/?period=2025-01:2025-06&status=all").get_data(as_text=True)
    capped = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "共 1+ 条" in capped and "超过 1 条不再逐条计数" in capped


def test_the_dashboard_page_shows_a_review_at_once(web, client):
    """The page keeps its figures per summary stamp: a review writes the summary, and the next
    dashboard shows it (not the figures kept from before)."""
    login(client, "auditor_fj")

    def shown() -> dict[str, int]:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/dashboard/").get_data(as_text=True)))
        return {label: int(re.search(label + r" (\d+) 条", text).group(1)) for label in ("待复核", "已确认")}

    before = shown()
    assert before["待复核"] >= 1 and shown() == before  # (the second read is the kept figures)
    finding = db.session.scalars(select(Finding).where(Finding.status == "open", Finding.district == "奉节县")
                                 .order_by(Finding.id)).first()
    review(finding, "confirm", "", by="test")
    db.session.commit()
    assert shown() == {"待复核": before["待复核"] - 1, "已确认": before["已确认"] + 1}
