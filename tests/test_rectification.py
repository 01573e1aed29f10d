"""The rectification workflow's rules, below the web pages: issuing a notice on a unit's findings,
the unit's answer with evidence files (type and size checked from the bytes), closing (销号) and
sending back, and the data check of the next audit run."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit.access import Scope
from audit.engine.runner import run_audit
from audit.rectification import services as s
from models import ChangeLog, Finding, Notice, db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EVERYWHERE = Scope("auditor", True)
WUSHAN = Scope("auditor", False, (("巫山县", None, None),))
TODAY = dt.date(2026, 12, 1)


def issue(web, **kw) -> Notice:
    ids = [f.id for f in web.findings["奉节县"]]
    n = s.issue("白帝村村民委员会", ids, kw.pop("deadline", dt.date(2026, 12, 31)), by="auditor_fj",
                scope_clause=EVERYWHERE.findings(), today=TODAY, **kw)
    db.session.commit()
    return n


def test_a_notice_gathers_the_units_findings_with_the_money_to_recover(web):
    n = issue(web)
    assert n.number == "渝奉人社审〔2026〕1号" and n.issuer == "奉节县人力资源和社会保障局"
    assert n.unit_name == "白帝村村民委员会" and n.status == "issued"
    assert sorted((db.session.get(Finding, i.finding_id).rule, i.actions, i.recover_fen) for i in n.items) == [
        ("PS01", ["dismiss_person", "recover"], 80000), ("PS02", ["dismiss_person", "recover"], 40000)]
    assert n.amount_to_recover_fen == 120000
    # issuing confirmed the open findings, and logged it
    assert {f.status for f in web.findings["奉节县"]} == {"confirmed"}
    actions = [e.action for e in db.session.scalars(select(ChangeLog).order_by(ChangeLog.id))
               if e.action.startswith(("finding.", "notice."))]
    assert actions == ["finding.confirm", "finding.confirm", "notice.issue"]
    # the next notice of the district takes the next number; a finding cannot be in two notices
    with pytest.raises(s.RectificationError, match="已在其他整改通知书中"):
        issue(web)


def test_issuing_is_refused_outside_the_scope_or_with_a_past_deadline(web):
    ids = [f.id for f in web.findings["奉节县"]]
    with pytest.raises(s.RectificationError, match="不在您的管辖范围内"):
        s.issue("白帝村村民委员会", ids, dt.date(2026, 12, 31), by="auditor_ws", scope_clause=WUSHAN.findings(),
                today=TODAY)
    with pytest.raises(s.RectificationError, match="整改期限不能早于今天"):
        issue(web, deadline=dt.date(2026, 11, 30))
    with pytest.raises(s.RectificationError, match="没有找到单位"):
        s.issue("不存在的村委会", ids, dt.date(2026, 12, 31), by="x", scope_clause=EVERYWHERE.findings(), today=TODAY)
    db.session.rollback()
    assert db.session.scalar(select(Notice)) is None


def test_the_answer_takes_only_real_documents(web, app):
    n = issue(web)
    html = s.Upload("整改报告.pdf", b"<html><script>alert(1)</script></html>")
    with pytest.raises(s.RectificationError, match="类型不允许或与扩展名不符"):
        s.answer(n, "已清退王大山，追回工资 1200 元。", [html], by="operator_bd")
    with pytest.raises(s.RectificationError, match="至少 10 个字"):
        s.answer(n, "已整改", [s.Upload("a.pdf", PDF)], by="operator_bd")
    app.config["EVIDENCE_MAX_BYTES"] = 100
    with pytest.raises(s.RectificationError, match="超过"):
        s.answer(n, "已清退王大山，追回工资 1200 元。", [s.Upload("a.pdf", PDF + b"x" * 200)], by="operator_bd")
    db.session.rollback()
    assert not list(s.evidence_root().glob("*/*")) if s.evidence_root().exists() else True
    app.config["EVIDENCE_MAX_BYTES"] = 10 << 20
    r = s.answer(n, "已清退王大山，追回工资 1200 元，附收款凭证。", [s.Upload("../../收款凭证.pdf", PDF)],
                 by="operator_bd")
    db.session.commit()
    f = r.files[0]
    assert (f.name, f.content_type, f.size) == ("收款凭证.pdf", "application/pdf", len(PDF))
    assert s.evidence_path(f).read_bytes() == PDF and s.evidence_path(f).suffix == ".bin"
    assert n.status == "answered"


def test_close_and_send_back(web):
    n = issue(web)
    with pytest.raises(s.RectificationError, match="只有单位已回复"):
        s.close(n, "", by="auditor_fj")
    s.answer(n, "已清退王大山，追回工资 1200 元。", [], by="operator_bd")
    with pytest.raises(s.RectificationError, match="退回必须写明理由"):
        s.send_back(n, "", by="auditor_fj")
    s.send_back(n, "未附追回资金的凭证", by="auditor_fj")
    assert n.status == "returned" and n.verdict == "未附追回资金的凭证"
    s.answer(n, "补充：追回资金已缴回财政专户，凭证见附件。", [s.Upload("凭证.pdf", PDF)], by="operator_bd")
    s.close(n, "", by="auditor_fj")
    db.session.commit()
    assert n.status == "closed" and n.verdict == "整改到位，准予销号" and n.closed_by == "auditor_fj"
    assert {f.status for f in web.findings["奉节县"]} == {"closed"}
    # a later audit run does not reopen a closed finding
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    db.session.rollback()
    assert {db.session.get(Finding, f.id).status for f in web.findings["奉节县"]} == {"closed"}


def test_a_notice_past_its_deadline_is_overdue_until_answered(web):
    n = issue(web, deadline=dt.date(2026, 12, 10))
    assert not n.overdue(dt.date(2026, 12, 10)) and n.overdue(dt.date(2026, 12, 11))
    s.answer(n, "已清退王大山，追回工资 1200 元。", [], by="operator_bd")
    assert not n.overdue(dt.date(2026, 12, 11))


def test_the_data_check_shows_when_the_next_run_no_longer_finds_the_facts(web, app, tmp_path):
    from audit.ledger.importer import import_bundle
    from helpers import write_bundle

    n = issue(web)
    checks = {c.finding.rule: c.text for c in s.data_check(n)}
    assert checks["PS01"] == "最近一次审计（第 1 次）仍发现该问题"
    # the village corrects its ledger: 王大山 did work in February 2025 (the attendance was missing)
    c = web.county
    c.t["attendance"] = []
    c.work(web.ids["王大山"], "GW-A1", "2025-02")
    assert import_bundle(write_bundle(tmp_path / "fix", {"attendance": c.t["attendance"]}), engine=db.engine,
                         pii=app.extensions["pii"]).ok
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    db.session.rollback()
    checks = {c.finding.rule: (c.gone, c.text) for c in s.data_check(db.session.get(Notice, n.id))}
    assert checks["PS01"] == (True, "第 2 次审计已不再发现该问题（数据已消除）")
    assert checks["PS02"] == (False, "最近一次审计（第 2 次）仍发现该问题")
