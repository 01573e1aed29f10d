"""Browser test of 整改 to closure, in Debian's Chromium (the set-up in tests/conftest.py): an
auditor issues a notice to 白帝村村民委员会; an inspector downloads its PDF; the unit's operator
answers on a phone with an evidence file; the auditor closes it (销号). Screenshots are saved in
tests/artifacts/screenshots/."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from models import EvidenceFile, Finding, Notice, db

import web_helpers as wh

pytestmark = wh.NEEDS_CHROMIUM

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_a_notice_from_issue_to_closure(page_for, web, live, request):
    # the auditor issues the notice from the findings of the unit
    au = page_for("auditor_fj")
    au.goto(live + f"/findings/?unit={wh.BAIDI}")
    au.click("text=为该单位下发整改通知书")
    au.wait_for_selector("h1:has-text('新建整改通知书')")
    assert au.locator("input[name=ids]:checked").count() == 2
    wh.shot(au, "20-notice-new", request)
    au.once("dialog", lambda d: d.accept())
    au.click("button:has-text('下发整改通知书')")
    au.wait_for_selector(".flash-success")
    number = au.inner_text("h1")
    assert re.fullmatch(r"渝奉人社审〔\d{4}〕1号", number)
    assert "1,200.00" in au.inner_text("main") and "已下发，待整改" in au.inner_text(".page-head")
    notice_url = au.url
    wh.shot(au, "21-notice-issued", request)

    # the inspector finds it in the list and downloads its PDF
    ins = page_for("inspector_fj")
    ins.click("nav >> text=整改")
    assert number in ins.inner_text("table")
    wh.shot(ins, "22-notices-list", request)
    ins.click(f"text={number}")
    with ins.expect_download() as info:
        ins.click("button:has-text('下载 PDF 通知书')")
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes()[:4] == b"%PDF"
    assert (ins.locator("textarea[name=text]").count() == 0 and ins.locator("button:has-text('销号')")
            .count() == 0)
    ins.goto(live + "/reports/")
    assert "整改通知书" in ins.inner_text("table")
    wh.shot(ins, "23-reports", request)

    # the operator answers on a phone, with a file
    op = page_for("operator_bd", mobile=True)
    op.goto(notice_url)
    for sel in op.locator("select[name$='-action']").all():  # 逐条：已清退
        sel.select_option("dismissed")
    op.fill("textarea[name=text]",
            "已清退王大山，追回 2025 年 2 月、3 月违规发放的工资 1200 元，并更正考勤台账。")
    op.set_input_files("input[name=files]", files=[{"name": "缴款凭证.pdf", "mimeType": "application/pdf",
                                                     "buffer": PDF}])
    wh.shot(op, "24-notice-answer-phone", request)
    op.click("button:has-text('提交整改情况')")
    op.wait_for_selector(".flash-success")
    assert "单位已回复，待核验" in op.inner_text(".page-head") and "缴款凭证.pdf" in op.inner_text("main")
    wh.shot(op, "25-notice-answered-phone", request)

    # the auditor reads the answer, fetches the evidence, and closes the notice
    au.goto(notice_url)
    with au.expect_download() as info:
        au.click("a:has-text('缴款凭证.pdf')")
    assert Path(info.value.path()).read_bytes() == PDF
    # no audit run since the answer: each item is closed by an override with a reason (人工销号)
    for _ in range(2):
        au.fill("form:has(button:has-text('人工销号')) textarea[name=reason] >> nth=0",
                "已核实清退名单与缴款凭证，整改到位")
        au.once("dialog", lambda d: d.accept())
        au.click("button:has-text('人工销号') >> nth=0")
        au.wait_for_selector(".flash-success")
    assert "已销号" in au.inner_text(".page-head")
    assert "人工销号：已核实清退名单与缴款凭证" in au.inner_text("main")
    wh.shot(au, "26-notice-closed", request)
    for p in (au, ins, op):
        assert not p.errors, p.errors

    db.session.rollback()
    notice = db.session.scalar(select(Notice))
    assert notice.status == "closed" and db.session.scalar(select(EvidenceFile.name)) == "缴款凭证.pdf"
    assert ({f.status for f in db.session.scalars(select(Finding).where(Finding.unit == wh.BAIDI))}
            == {"closed"})
