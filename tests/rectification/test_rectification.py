"""The rectification workflow's rules, below the web pages: issuing a notice on a unit's findings
(应追回 counting each payment once), the unit's answer item by item (draft, then submitted; evidence
files checked from their bytes; 已追回 records money actually recovered), 销号 item by item —
confirmed by the next audit run's data, or overridden with a written reason — and the notice's
销号 refused while an item is neither, sending back, and the data check of the next audit run."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from audit.access import Scope
from audit.engine.runner import run_audit
from audit.rectification import answers as ans
from audit.rectification import services as s
from audit.rectification import verification
from models import ChangeLog, Finding, ItemAnswer, Notice, NoticeResponse, Recovery, db

import web_helpers as wh
from helpers import County

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EVERYWHERE = Scope("auditor", True)
WUSHAN = Scope("auditor", False, (("巫山县", None, None),))
TODAY = dt.date(2026, 12, 1)


def rule_items(n: Notice) -> dict[str, object]:
    return {db.session.get(Finding, i.finding_id).rule: i for i in n.items}


def submit(n: Notice, answers: dict[str, ans.ItemInput] | None = None, text: str = "", files=(), **kw):
    """The unit answers every item of ``n`` (by rule): 已清退 unless told otherwise."""
    items = rule_items(n)
    answers = answers or {}
    inputs = {i.id: answers.get(rule, ans.ItemInput("dismissed")) for rule, i in items.items()}
    return ans.save_answer(n, inputs, text, list(files), by="operator_bd", submit=kw.pop("submit", True),
                           **kw)


def issue(web, **kw) -> Notice:
    ids = [f.id for f in web.findings["奉节县"]]
    n = s.issue(wh.BAIDI, ids, kw.pop("deadline", dt.date(2026, 12, 31)), by="auditor_fj",
                scope_clause=EVERYWHERE.findings(), today=TODAY, **kw)
    db.session.commit()
    return n


def test_a_notice_gathers_the_units_findings_with_the_money_to_recover(web):
    n = issue(web)
    assert n.number == "渝奉人社审〔2026〕1号" and n.issuer == "奉节县人力资源和社会保障局"
    assert n.unit_name == "白帝镇白帝村村民委员会" and n.status == "issued"  # its township, then its name
    assert sorted((db.session.get(Finding, i.finding_id).rule, i.actions, i.recover_fen)
                  for i in n.items) == [
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
        s.issue(wh.BAIDI, ids, dt.date(2026, 12, 31), by="auditor_ws", scope_clause=WUSHAN.findings(),
                today=TODAY)
    with pytest.raises(s.RectificationError, match="整改期限不能早于今天"):
        issue(web, deadline=dt.date(2026, 11, 30))
    with pytest.raises(s.RectificationError, match="没有找到单位"):
        s.issue("不存在的村委会", ids, dt.date(2026, 12, 31), by="x", scope_clause=EVERYWHERE.findings(),
                today=TODAY)
    db.session.rollback()
    assert db.session.scalar(select(Notice)) is None


def test_the_money_to_recover_counts_a_wage_once_when_two_rules_find_it(app, people, tmp_path):
    # a dead man still paid, with no attendance: PS01 (paid, no attendance) and PS04 (paid after
    # death) both find March's wages
    c = County(people)
    c.position("GW-1")
    c.dead_but_paid("李四", "GW-1", "2025-02-03", worked=["2025-01"], paid=["2025-02", "2025-03"])
    found = c.audit(app, tmp_path, as_of="2025-06-30")
    assert {f["rule"] for f in found} >= {"PS01", "PS04"}
    ids = [f["id"] for f in found if f["rule"] in ("PS01", "PS04")]
    n = s.issue(wh.BAIDI, ids, dt.date(2026, 12, 31), by="auditor_fj", scope_clause=EVERYWHERE.findings(),
                today=TODAY)
    db.session.commit()
    # what was paid for the months these findings cover, each (person, post, month) once
    months = {m for f in found if f["id"] in ids for m in f["periods"]}
    paid = {}
    for w in c.t["wages"]:
        if w["period"] in months:
            key = (w["id_number"], w["post_code"], w["period"])
            paid[key] = paid.get(key, 0) + round(float(w["amount"]) * 100)
    assert n.amount_to_recover_fen == sum(paid.values()) == 160000
    # each item keeps its own amount; their sum is larger than what was paid
    assert sum(i.recover_fen for i in n.items) > n.amount_to_recover_fen


def test_the_answer_takes_only_real_documents(web, app):
    n = issue(web)
    html = ans.Upload("整改报告.pdf", b"<html><script>alert(1)</script></html>")
    with pytest.raises(ans.AnswerInvalid, match="类型不允许或与扩展名不符"):
        submit(n, files=[html])
    with pytest.raises(ans.AnswerInvalid, match="情况说明至少 10 个字"):
        submit(n, {"PS01": ans.ItemInput("explained", text="已整改")})
    app.config["EVIDENCE_MAX_BYTES"] = 100
    with pytest.raises(ans.AnswerInvalid, match="超过"):
        submit(n,
               {"PS01": ans.ItemInput("recovered", "800", "2026-11-20",
                                      file=ans.Upload("a.pdf", PDF + b"x" * 200))})
    db.session.rollback()
    assert not list(s.evidence_root().glob("*/*")) if s.evidence_root().exists() else True
    app.config["EVIDENCE_MAX_BYTES"] = 10 << 20
    r = submit(n,
               {"PS01": ans.ItemInput("recovered", "800.00", "2026-11-20",
                                      file=ans.Upload("../../收款凭证.pdf", PDF))},
               today=TODAY)
    db.session.commit()
    f = r.files[0]
    assert (f.name, f.content_type, f.size) == ("收款凭证.pdf", "application/pdf", len(PDF))
    assert ans.evidence_path(f).read_bytes() == PDF and ans.evidence_path(f).suffix == ".bin"
    assert n.status == "answered"


def test_every_error_of_an_answer_comes_at_once_by_field(web):
    n = issue(web)
    items = rule_items(n)
    ps01, ps02 = items["PS01"].id, items["PS02"].id
    with pytest.raises(ans.AnswerInvalid) as e:
        submit(n, {"PS01": ans.ItemInput("recovered", "", "2099-01-01"), "PS02": ans.ItemInput("")},
               today=TODAY)
    errors = e.value.errors
    assert set(errors) == {f"a-{ps01}-amount", f"a-{ps01}-date", f"a-{ps01}-file", f"a-{ps02}-action"}
    assert "已追回须填写追回金额" in errors[f"a-{ps01}-amount"] and "不能晚于今天" in errors[f"a-{ps01}-date"]
    assert errors[f"a-{ps02}-action"] == "第 2 条（PS02 王大山）：请选择整改措施"
    with pytest.raises(ans.AnswerInvalid, match="追回金额应为大于 0 的元数"):
        submit(n, {"PS01": ans.ItemInput("recovered", "八百", "2026-11-20", file=ans.Upload("a.pdf", PDF))},
               today=TODAY)
    db.session.rollback()
    assert db.session.scalar(select(NoticeResponse)) is None and n.status == "issued"


def test_a_draft_is_kept_for_the_unit_and_submitting_it_records_the_money_recovered(web):
    n = issue(web)
    items = rule_items(n)
    # a draft needs only what was filled in to be right; it is not an answer yet
    draft = submit(n,
                   {"PS01": ans.ItemInput("recovered", "1,200", "2026-11-20",
                                          file=ans.Upload("缴款书.pdf", PDF)),
                       "PS02": ans.ItemInput("")}, submit=False, today=TODAY)
    db.session.commit()
    assert draft.state == "draft" and n.status == "issued" and db.session.scalar(select(Recovery)) is None
    assert [e.action for e in db.session.scalars(select(ChangeLog)) if e.action.startswith("notice.")] == [
        "notice.issue", "notice.draft"]
    # the draft's voucher stays when the unit submits without choosing the file again
    r = ans.save_answer(n, {items["PS01"].id: ans.ItemInput("recovered", "1200.00", "2026-11-20"),
                          items["PS02"].id: ans.ItemInput("ledger_corrected")}, "", [], by="operator_bd",
                        submit=True,
                      today=TODAY)
    db.session.commit()
    assert r.id == draft.id and r.state == "submitted" and n.status == "answered"
    rec = db.session.scalar(select(Recovery))
    assert (rec.item_id, rec.amount_fen,
            rec.recovered_on) == (items["PS01"].id, 120000, dt.date(2026, 11, 20))
    assert db.session.get(type(r.files[0]), rec.voucher_id).name == "缴款书.pdf"
    assert {a.state for a in db.session.scalars(select(ItemAnswer))} == {"submitted"}
    assert "已更正台账" in r.text  # the answer's summary names each item's action
    with pytest.raises(s.RectificationError, match="不能再回复"):
        submit(n)


def test_close_is_refused_until_the_data_or_an_override_confirms_every_item(web):
    n = issue(web)
    with pytest.raises(s.RectificationError, match="只有单位已回复"):
        verification.close(n, "", by="auditor_fj")
    submit(n)
    # no audit run after the answer no longer finds them: 销号 is refused, naming the items
    with pytest.raises(s.RectificationError) as e:
        verification.close(n, "", by="auditor_fj")
    assert "第 1 条（PS01 王大山）" in str(e.value) and "第 2 条（PS02 王大山）" in str(e.value)
    items = rule_items(n)
    with pytest.raises(s.RectificationError, match="审计数据尚未确认整改到位"):
        verification.close_item(n, items["PS01"], by="auditor_fj", basis="data")
    with pytest.raises(s.RectificationError, match="人工销号必须写明理由（至少 10 个字）"):
        verification.close_item(n, items["PS01"], by="auditor_fj", basis="override", reason="已核实")
    assert not verification.close_item(n, items["PS01"], by="auditor_fj", basis="override",
                            reason="本人已于2月离岗，村委会出具证明并已缴回")
    assert items["PS01"].close_basis == "override" and n.status == "answered"
    with pytest.raises(s.RectificationError, match="第 2 条（PS02 王大山）") as e:
        verification.close(n, "", by="auditor_fj")
    assert "第 1 条" not in str(e.value)
    # the last item closed closes the notice
    assert (verification.close_item(n, items["PS02"], by="auditor_fj", basis="override",
                                    reason="考勤补录经乡镇核实无误"))
    db.session.commit()
    assert n.status == "closed" and n.closed_by == "auditor_fj"
    assert {f.status for f in web.findings["奉节县"]} == {"closed"}
    logged = [(e.action, (e.new or {}).get("basis"))
              for e in db.session.scalars(select(ChangeLog).order_by(ChangeLog.id))
              if e.action.startswith("notice.")]
    assert (logged[-3:]
            == [("notice.item_close", "override"), ("notice.item_close", "override"), ("notice.close", None)])


def test_sending_back_one_item_asks_the_unit_for_that_item_again(web):
    n = issue(web)
    submit(n)
    items = rule_items(n)
    with pytest.raises(s.RectificationError, match="退回必须写明理由"):
        verification.send_back_item(n, items["PS02"], "", by="auditor_fj")
    verification.send_back_item(n, items["PS02"], "未附更正后的考勤表", by="auditor_fj")
    assert n.status == "returned" and [i.id for i in ans.to_answer(n)] == [items["PS02"].id]
    # the unit answers only that item now
    ans.save_answer(n,
                    {items["PS02"].id: ans.ItemInput("explained", text="3月考勤已按实际出勤更正，附考勤表")},
                    "", [],
                  by="operator_bd", submit=True)
    assert n.status == "answered" and ans.to_answer(n) == []


def test_send_back_of_the_whole_notice(web):
    n = issue(web)
    submit(n)
    with pytest.raises(s.RectificationError, match="退回必须写明理由"):
        verification.send_back(n, "", by="auditor_fj")
    verification.send_back(n, "未附追回资金的凭证", by="auditor_fj")
    assert n.status == "returned" and n.verdict == "未附追回资金的凭证" and len(ans.to_answer(n)) == 2
    submit(n, text="补充：追回资金已缴回财政专户，凭证见附件。", files=[ans.Upload("凭证.pdf", PDF)])
    assert n.status == "answered"


def test_a_notice_past_its_deadline_is_overdue_until_answered(web):
    n = issue(web, deadline=dt.date(2026, 12, 10))
    assert not n.overdue(dt.date(2026, 12, 10)) and n.overdue(dt.date(2026, 12, 11))
    submit(n)
    assert not n.overdue(dt.date(2026, 12, 11))


def test_the_next_run_after_the_answer_confirms_an_item_by_the_data(web, app, tmp_path):
    from audit.ledger.importer import import_bundle

    from helpers import write_bundle

    n = issue(web)
    checks = {c.finding.rule: c.text for c in verification.data_check(n)}
    assert checks["PS01"] == "最近一次审计（第 1 次）仍发现该问题"
    submit(n)
    db.session.commit()
    # the village corrects its ledger: 王大山 did work in February 2025 (the attendance was missing)
    c = web.county
    c.t["attendance"] = []
    c.work(web.ids["王大山"], "GW-A1", "2025-02")
    assert import_bundle(write_bundle(tmp_path / "fix", {"attendance": c.t["attendance"]}), engine=db.engine,
                         pii=app.extensions["pii"]).ok
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    db.session.rollback()
    n = db.session.get(Notice, n.id)
    checks = {c.finding.rule: (c.gone, c.text) for c in verification.data_check(n)}
    assert checks["PS01"] == (True, "第 2 次审计已不再发现该问题（数据已消除）")
    assert checks["PS02"] == (False, "最近一次审计（第 2 次）仍发现该问题")
    items = rule_items(n)
    assert not verification.close_item(n, items["PS01"], by="auditor_fj", basis="data")
    assert items["PS01"].close_basis == "data" and items["PS01"].close_reason is None
    with pytest.raises(s.RectificationError, match="第 2 条（PS02 王大山）"):
        verification.close(n, "", by="auditor_fj")
    # a later audit run does not reopen a closed finding
    db.session.commit()
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    db.session.rollback()
    assert db.session.get(Finding, web.finding("奉节县", "PS01").id).status == "closed"


def test_the_auditor_records_money_actually_recovered(web):
    n = issue(web)
    items = rule_items(n)
    with pytest.raises(s.RectificationError, match="追回金额应为大于 0"):
        verification.record_recovery(n, items["PS01"], dt.date(2026, 11, 1), None, None, by="auditor_fj",
                                     today=TODAY)
    with pytest.raises(s.RectificationError, match="不能晚于今天"):
        verification.record_recovery(n, items["PS01"], dt.date(2026, 12, 2), 50000, None, by="auditor_fj",
                                     today=TODAY)
    r = verification.record_recovery(n, items["PS01"], dt.date(2026, 11, 1), ans.parse_yuan("500"),
                          ans.Upload("缴款书.pdf", PDF), by="auditor_fj", today=TODAY)
    db.session.commit()
    assert (r.amount_fen, r.voucher.name, r.voucher.response_id,
            r.voucher.notice_id) == (50000, "缴款书.pdf", None, n.id)
    assert (db.session.scalar(select(ChangeLog).where(ChangeLog.action == "notice.recovery"))
            .new["amount"] == "500.00 元")


def test_yuan_as_typed_is_read_exactly():
    assert ([ans.parse_yuan(t) for t in ("800", "800.5", "1,200.05", "¥ 3元", "0.01")]
            == [80000, 80050, 120005, 300, 1])
    assert [ans.parse_yuan(t) for t in ("", "8.001", "-5", "八百", "1e3", "1,2")] == [None] * 6
