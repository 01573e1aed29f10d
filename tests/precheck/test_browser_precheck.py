"""Browser test of 发放前校验 (issue 17), in Debian's Chromium (the setup of tests/conftest.py): a
township auditor uploads April's draft payroll of the two districts with a planted death (PS04,
tests/precheck/conftest.py ``april``), reads the reasons of the rejected row, approves the pass
rows, and downloads the XLSX (masked, verdicts). Screenshots of every page go to
/tmp/precheck-shots/ (outside the repository) for review."""
from __future__ import annotations

import os
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from models import ChangeLog, Precheck, db

import web_helpers as wh
from precheck_web import CHECK_DAY, csv_bytes, draft_rows

pytestmark = wh.NEEDS_CHROMIUM

SHOTS = Path(os.environ.get("PRECHECK_SHOTS", "/tmp/precheck-shots"))


def test_an_auditor_prechecks_approves_and_downloads(page_for, april, live, request, tmp_path):
    au = page_for("auditor_fj")
    au.click("nav >> text=发放前校验")
    au.wait_for_selector("h1:has-text('发放前校验')")
    wh.shot(au, "p1-precheck-index", request, SHOTS)

    # a row of another district first: refused by row, nothing stored
    au.set_input_files("input[name=file]", files=[{
        "name": "白帝镇4月工资发放表.csv", "mimeType": "text/csv",
        "buffer": csv_bytes(draft_rows(april, ("刘一", "GW-B1", "800.00")))}])
    au.fill("input[name=as_of]", CHECK_DAY)
    au.click("button:has-text('上传并校验')")
    au.wait_for_selector("table.errors-table")
    errors = au.inner_text("table.errors-table")
    assert "GW-B1" in errors and "不在您的管辖范围内" in errors
    wh.shot(au, "p2-precheck-refused", request, SHOTS)
    # the refused upload's answer
    assert [e for e in au.errors if "422" in e] and all("422" in e for e in au.errors)
    au.errors.clear()

    # the draft of the auditor's own posts
    au.set_input_files("input[name=file]", files=[{
        "name": "白帝镇4月工资发放表.csv", "mimeType": "text/csv", "buffer": csv_bytes(draft_rows(april))}])
    au.fill("input[name=as_of]", CHECK_DAY)
    au.click("button:has-text('上传并校验')")
    au.wait_for_selector("h1:has-text('发放前校验第')")
    main = au.inner_text("main")
    assert "可发放 2 行" in main.replace("\n", " ") or "可发放：2" in main or "2行" in main.replace(" ", "")
    assert all(april.ids[n] not in main for n in ("李小花", "王大山", "张三", "陈工"))
    wh.shot(au, "p3-precheck-result", request, SHOTS)

    # the rejected row's reasons
    au.click(".precheck-filter >> text=不予发放")
    au.wait_for_selector("h2:has-text('不予发放的行')")
    row = au.inner_text("table.precheck-rows tbody tr")
    assert "张三" in row and "不予发放" in row and "死亡后仍发放工资" in row and "死亡" in row
    assert au.locator("table.precheck-rows tbody tr").count() == 1
    wh.shot(au, "p4-precheck-rejected", request, SHOTS)

    # approve the pass rows only
    au.check("input[name=verdicts][value=pass]")
    au.check("input[name=confirm]")
    au.once("dialog", lambda d: d.accept())
    au.click("button:has-text('审批')")
    au.wait_for_selector(".flash-success")
    assert "已审批：可发放的 2 行（金额 3,300.00 元）准予发放" in au.inner_text(".flash-success")
    assert "已审批" in au.inner_text(".precheck-status") and au.locator("input[name=confirm]").count() == 0
    wh.shot(au, "p5-precheck-approved", request, SHOTS)
    approved_url = au.url

    # an inspector on a phone reads it, and cannot approve
    ins = page_for("inspector_fj", mobile=True)
    ins.goto(approved_url)
    assert "已审批" in ins.inner_text(".precheck-status") and ins.locator("input[name=confirm]").count() == 0
    wh.shot(ins, "p7-precheck-inspector-phone", request, SHOTS)
    assert not ins.errors, ins.errors

    # the XLSX: masked, verdicts
    with au.expect_download() as info:
        au.click("a:has-text('下载 Excel')")
    path = tmp_path / "precheck.xlsx"
    info.value.save_as(path)
    assert info.value.suggested_filename.endswith(".xlsx")
    ws = load_workbook(path).active
    values = list(ws.iter_rows(values_only=True))
    cells = "\n".join(str(c) for row in values for c in row if c is not None)
    assert all(april.ids[n] not in cells for n in ("李小花", "王大山", "张三", "陈工"))
    assert "已审批" in str(values[0][0])
    lines = {row[0]: row for row in values[2:6]}
    assert [lines[n][8] for n in (2, 3, 4, 5)] == ["可发放", "暂缓发放", "不予发放", "可发放"]
    assert "*" in lines[4][1] and "死亡" in lines[4][11]

    au.click("nav >> text=发放前校验")
    assert "已审批" in au.inner_text("table.precheck-list")
    wh.shot(au, "p6-precheck-list", request, SHOTS)
    assert not au.errors, au.errors

    db.session.rollback()
    pc = db.session.scalars(select(Precheck)).one()
    assert (pc.status, pc.approved_by, pc.approved_verdicts) == ("approved", "auditor_fj", ["pass"])
    assert {e.action
            for e in db.session.scalars(select(ChangeLog).where(ChangeLog.action.like("precheck.%")))} == {
        "precheck.create", "precheck.approve", "precheck.export"}
