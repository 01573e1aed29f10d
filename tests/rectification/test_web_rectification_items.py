"""整改 in the browser, item by item and after: the notice's PDF archived, district reports, the 整改台账,
the data check of the next audit run, a draft answer with a wrong field, recoveries and an item sent
back, the operator's dashboard, and a wage found by two rules counted once."""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import func, select

from models import (
    ChangeLog,
    EvidenceFile,
    Notice,
    NoticeResponse,
    Recovery,
    ReportFile,
    db,
)

from rectification_web import ANSWER, PDF, UNIT, answer, count, issue, items, notice, override, user
from web_helpers import post, text


def test_the_notice_pdf_is_archived_and_downloaded_by_those_who_may_see_it(web, app):
    nid = issue(app, web)
    ins = user(app, "inspector_fj")
    r = post(ins, f"/notices/{nid}/pdf")
    assert r.status_code == 303 and "/reports/" in r.headers["Location"]
    pdf = ins.get(r.headers["Location"])
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF" and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment")
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    db.session.rollback()
    rep = db.session.scalar(select(ReportFile))
    assert rep.kind == "notice" and rep.notice_id == nid
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "report.download", ChangeLog.row_id == rep.id)) == 1
    listed = text(ins.get("/reports/"))
    assert "整改通知书" in listed and rep.sha256[:16] in listed and "已归档 1 份" in listed
    assert rep.title in text(ins.get(f"/notices/{nid}"))  # the archived PDFs on the notice's page
    assert "已归档 1 份" in text(user(app, "operator_bd").get("/reports/"))
    for name in ("inspector_ws", "operator_ws", "auditor_ws"):
        c = user(app, name)
        assert c.get(f"/reports/{rep.id}/download").status_code == 404, name
        assert "已归档 0 份" in text(c.get("/reports/")), name
        assert post(c, f"/notices/{nid}/pdf").status_code == 404, name
    assert count(ReportFile) == 1


def test_district_reports_are_generated_for_ones_own_districts(web, app):
    au = user(app, "auditor_fj")
    r = post(au, "/reports/summary", {"district": "奉节县", "period": "2025-13"})
    assert r.status_code == 400 and "请按 YYYY-MM:YYYY-MM 填写期间" in text(r)
    r = post(au, "/reports/summary", {"district": "奉节县", "period": "2025-01:2025-06"})
    assert r.status_code == 303, text(r)[:500]
    page = text(au.get(r.headers["Location"]))
    assert "已生成并归档" in page and "审计报告" in page
    rep = db.session.scalar(select(ReportFile).where(ReportFile.kind == "summary"))
    assert rep.district == "奉节县"
    got = au.get(f"/reports/{rep.id}/download")
    assert got.status_code == 200 and got.data[:4] == b"%PDF"
    # another district's users neither see it nor may generate for 奉节县
    ws = user(app, "auditor_ws")
    assert ws.get(f"/reports/{rep.id}/download").status_code == 404
    assert (post(ws, "/reports/summary", {"district": "奉节县", "period": "2025-01:2025-06"})
            .status_code == 403)
    assert post(ws, "/reports/ledger", {"district": "奉节县"}).status_code == 403
    assert post(user(app, "operator_bd"), "/reports/ledger", {"district": "奉节县"}).status_code == 403
    # a township auditor sees no district-wide report (it would show the rest of the district)
    assert user(app, "auditor_bd").get(f"/reports/{rep.id}/download").status_code == 404
    assert user(app, "admin").get(f"/reports/{rep.id}/download").status_code == 200
    assert count(ReportFile) == 1


def test_the_ledger_of_a_district(web, app):
    issue(app, web)
    ins = user(app, "inspector_fj")
    r = post(ins, "/reports/ledger", {"district": "奉节县"})
    assert r.status_code == 303, text(r)[:500]
    db.session.rollback()
    rep = db.session.scalar(select(ReportFile).where(ReportFile.kind == "ledger"))
    assert rep is not None and "整改台账" in text(ins.get("/reports/"))
    assert ins.get(f"/reports/{rep.id}/download").data[:4] == b"%PDF"


def test_the_data_check_follows_the_next_audit_run(web, app, tmp_path):
    nid = issue(app, web)
    au = user(app, "auditor_fj")
    assert text(au.get(f"/notices/{nid}")).count("仍发现该问题") == 2
    # the unit corrects its ledger: 王大山 did work in February 2025 (PS01's facts are gone)
    c = web.county
    wang = web.ids["王大山"]
    c.t["attendance"] = [a for a in c.t["attendance"]
                         if not (a["id_number"] == wang and a["post_code"] == "GW-A1"
                                                               and a["work_date"].startswith("2025-02"))]
    c.work(wang, "GW-A1", "2025-02")
    db.session.rollback()
    c.audit(app, tmp_path / "corrected", as_of="2025-06-30")
    page = text(au.get(f"/notices/{nid}"))
    assert "第 2 次审计已不再发现该问题（数据已消除）" in page
    assert "最近一次审计（第 2 次）仍发现该问题" in page  # PS02: March is still paid in full for 10 days
    # closing it: PS01 is confirmed by the data, PS02 needs a written reason
    assert answer(user(app, "operator_bd"), nid).status_code == 303
    r = post(au, f"/notices/{nid}/close", {"verdict": "已核实清退与追回"})
    assert r.status_code == 400 and "第 2 条（PS02 王大山）" in text(r)
    assert "按数据销号" in text(au.get(f"/notices/{nid}"))
    assert override(au, nid, "PS02", reason="三月考勤经乡镇复核属实，已更正台账").status_code == 303
    assert post(au, f"/notices/{nid}/close", {"verdict": "已核实清退与追回"}).status_code == 303
    page = text(au.get(f"/notices/{nid}"))
    assert "已销号" in page and "第 2 次审计已不再发现该问题（数据已消除）" in page
    assert "销号 数据已消除" in page and "人工销号：三月考勤经乡镇复核属实" in page


def test_the_operator_saves_a_draft_and_a_wrong_field_is_shown_at_the_top(web, app):
    nid = issue(app, web)
    op, au = user(app, "operator_bd"), user(app, "auditor_fj")
    ps01 = items(nid)["PS01"]
    today = dt.date.today().isoformat()
    # 已追回 without an amount: the error is listed at the top, linked to the field, and by the field
    r = answer(op, nid, per_item={"PS01": {"action": "recovered", "date": today,
                                           "file": (io.BytesIO(PDF), "缴款书.pdf")}})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    top = html.index('id="errors"')
    assert top < html.index('id="item-') and f'href="#a-{ps01}-amount"' in html[top:html.index("</ul>", top)]
    assert "第 1 条（PS01 王大山）：已追回须填写追回金额（元）" in text(r)
    assert f'id="a-{ps01}-amount-error"' in html and 'aria-invalid="true"' in html
    assert f'value="{today}"' in html and ANSWER in text(r)  # what was entered is kept
    assert count(NoticeResponse) == 0 and count(Recovery) == 0
    # a draft keeps what was filled in; the auditor sees no answer yet
    r = answer(op, nid, do="draft", per_item={"PS01": {"action": "recovered", "amount": "", "date": today,
                                                       "file": (io.BytesIO(PDF), "缴款书.pdf")}})
    assert r.status_code == 303 and notice(nid).status == "issued"
    page = text(op.get(f"/notices/{nid}"))
    assert "已有草稿" in page and "草稿中已保存：缴款书.pdf" in page
    assert ("单位尚未回复" in text(au.get(f"/notices/{nid}"))
            and "缴款书.pdf" not in text(au.get(f"/notices/{nid}")))
    draft_file = db.session.scalar(select(EvidenceFile.id).where(EvidenceFile.name == "缴款书.pdf"))
    assert au.get(f"/notices/{nid}/files/{draft_file}").status_code == 404
    # submitted with the amount: 已追回 is recorded with its date and the draft's voucher
    r = answer(op, nid, per_item={"PS01": {"action": "recovered", "amount": "800", "date": today}})
    assert r.status_code == 303
    rec = db.session.scalar(select(Recovery))
    assert (rec.amount_fen, rec.recovered_on.isoformat(), rec.voucher_id) == (80000, today, draft_file)
    page = text(au.get(f"/notices/{nid}"))
    assert ("单位已回复，待核验" in page and "已追回：800.00 元" in page
            and f"{today} 800.00 元（凭证 缴款书.pdf" in page)
    assert "实际追回 800.00 元，尚差 400.00 元" in page
    assert au.get(f"/notices/{nid}/files/{draft_file}").status_code == 200


def test_the_auditor_records_recoveries_and_sends_one_item_back(web, app):
    nid = issue(app, web)
    op, au = user(app, "operator_bd"), user(app, "auditor_fj")
    assert answer(op, nid).status_code == 303
    ps01, ps02 = items(nid)["PS01"], items(nid)["PS02"]
    r = post(au, f"/notices/{nid}/items/{ps01}/recovery", {"amount": "1,2", "date": "2026-01-01"})
    assert r.status_code == 400 and "追回金额应为大于 0 的元数" in text(r)
    assert 'value="1,2"' in r.get_data(as_text=True)
    r = post(au, f"/notices/{nid}/items/{ps01}/recovery", {"amount": "300.50", "date": "2026-01-01",
                                                           "voucher": (io.BytesIO(PDF), "收款收据.pdf")},
             content_type="multipart/form-data")
    assert r.status_code == 303
    assert "2026-01-01 300.50 元（凭证 收款收据.pdf" in text(op.get(f"/notices/{nid}"))
    r = post(au, f"/notices/{nid}/items/{ps02}/return", {"reason": "未附更正后的考勤表"})
    assert r.status_code == 303 and notice(nid).status == "returned"
    page = text(op.get(f"/notices/{nid}"))
    assert "退回理由 未附更正后的考勤表" in page and "提交整改情况" in page
    html = op.get(f"/notices/{nid}").get_data(as_text=True)
    assert f'name="a-{ps02}-action"' in html and f'name="a-{ps01}-action"' not in html  # only that item
    assert (answer(op, nid, per_item={"PS02": {"action": "explained", "text": "三月考勤已按实际出勤更正"}})
            .status_code == 303)
    assert notice(nid).status == "answered"


def test_the_operators_dashboard_lists_the_units_notices(web, app):
    nid = issue(app, web)
    op = user(app, "operator_bd")
    page = text(op.get("/dashboard/"))
    year = dt.date.today().year
    assert (f"本单位的整改通知书 文号 整改期限 剩余 / 逾期 状态 应追回（元） 操作 渝奉人社审〔{year}〕1号"
            in page)
    assert "剩余 30 天" in page and "已下发，待整改（待回复 2 条） 1,200.00 逐条回复" in page
    assert f"/notices/{nid}#answer" in op.get("/dashboard/").get_data(as_text=True)
    db.session.rollback()
    db.session.get(Notice, nid).deadline = dt.date.today() - dt.timedelta(days=2)
    db.session.commit()
    assert "逾期 2 天" in text(op.get("/dashboard/"))
    assert "本单位暂无整改通知书" in text(user(app, "operator_ws").get("/dashboard/"))
    assert "本单位的整改通知书" not in text(user(app, "auditor_fj").get("/dashboard/"))


def test_the_ledger_shows_money_recovered_and_how_each_item_was_closed(web, app, tmp_path):
    import subprocess

    nid = issue(app, web)
    op, au, ins = user(app, "operator_bd"), user(app, "auditor_fj"), user(app, "inspector_fj")
    assert answer(op, nid, per_item={"PS01": {"action": "recovered", "amount": "800.00", "date": "2026-01-05",
                                              "file": (io.BytesIO(PDF), "缴款书.pdf")}}).status_code == 303
    assert override(au, nid, "PS01", reason="已全额缴回财政专户，见缴款书").status_code == 303
    assert post(ins, "/reports/ledger", {"district": "奉节县"}).status_code == 303
    db.session.rollback()
    rep = db.session.scalar(select(ReportFile).where(ReportFile.kind == "ledger"))
    pdf = tmp_path / "ledger.pdf"
    pdf.write_bytes(ins.get(f"/reports/{rep.id}/download").data)
    flat = re.sub(r"\s+", "", subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                                             text=True, check=True).stdout)
    assert "要求追回资金合计1,200.00元" in flat and "已追回800.00元，差额400.00元" in flat
    assert "人工销号：已全额缴回财政专户，见缴款书" in flat and "2026-01-05追回800.00" in flat
    assert "已追回" in flat and "单位已回复，待核验" in flat


def test_the_dashboard_and_a_notice_count_a_wage_found_by_two_rules_once(app, people, tmp_path, quick_hashes):
    from helpers import County
    from web_helpers import create_users

    # a dead man still paid for February and March with no attendance: PS01 finds both months,
    # PS04 (paid after death) finds March again
    c = County(people)
    c.position("GW-1")
    c.dead_but_paid("李四", "GW-1", "2025-02-03", worked=["2025-01"], paid=["2025-02", "2025-03"])
    found = [f for f in c.audit(app, tmp_path, as_of="2025-06-30") if f["rule"] in ("PS01", "PS04")]
    create_users(app)
    paid = sum(round(float(w["amount"]) * 100) for w in c.t["wages"] if w["period"] in ("2025-02", "2025-03"))
    claimed = sum(round(float(f["amount"]) * 100) for f in found)
    assert claimed > paid  # the findings' own amounts add March twice
    au = user(app, "auditor_fj")
    from audit.money import yuan

    assert f"涉及金额（待处理，每笔只计一次） {yuan(paid)}" in text(au.get("/dashboard/"))
    assert yuan(paid) in text(au.get("/notices/new"))  # the unit picker
    r = post(au, "/notices/new", {"unit": UNIT, "ids": [f["id"] for f in found],
                                  **{f"act-{f['id']}": ["recover"] for f in found},
                                  "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat()})
    assert r.status_code == 303
    page = text(au.get(r.headers["Location"]))
    assert f"应追回资金 {yuan(paid)} 元" in page and yuan(claimed) not in page
    assert f"应追回资金 {yuan(paid)} 元" in text(au.get("/notices/"))  # the list's total
