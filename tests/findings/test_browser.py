"""Browser tests: Debian's Chromium, headless, driven through the Python Playwright package (never
its own browser download), against the app served on a local port. Three people at work: an
auditor uploads a bundle (dry run, then commit), runs an audit, reads a finding's evidence,
confirms one and dismisses one; an operator enters a month of attendance for a worker; an
inspector reads findings and cannot change anything. Screenshots of the main pages are saved in
tests/artifacts/screenshots/ for review."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

from sqlalchemy import select

from models import Attendance, Finding, db

import web_helpers as wh
from helpers import write_bundle

pytestmark = wh.NEEDS_CHROMIUM


def _zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f.name)
    return buf.getvalue()


def test_auditor_uploads_audits_and_reviews(page_for, web, tmp_path, request):
    page = page_for("auditor_fj")
    assert page.inner_text("h1") == "审计总览"
    assert "待处理违规问题" in page.inner_text(".stats")
    wh.shot(page, "01-auditor-dashboard", request)

    # a deaths list from 民政: 李小花 died on 2025-02-20 (she was paid for March on GW-A2)
    bundle = _zip(write_bundle(tmp_path / "deaths", {"deaths": [
        {"id_number": web.ids["李小花"], "death_date": "2025-02-20"}]}))
    page.click("nav >> text=台账导入")
    page.set_input_files("input[name=files]",
                         files=[{"name": "民政死亡名单.zip", "mimeType": "application/zip",
                                                      "buffer": bundle}])
    page.click("text=上传并检查")
    page.wait_for_selector("button:has-text('确认导入')")
    preview = page.inner_text("main")
    assert "死亡人员" in preview and "将新增" in preview and "未写入" in preview or "试导入" in preview
    wh.shot(page, "02-upload-preview", request)
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('确认导入')")
    page.wait_for_selector("text=导入完成")
    assert re.search(r"导入完成（批次 #\d+）", page.inner_text("main"))
    wh.shot(page, "03-upload-committed", request)

    page.click("button:has-text('立即运行审计')")
    page.wait_for_selector("text=审计完成", timeout=60000)
    wh.shot(page, "04-audit-run", request)

    # the new finding: paid after death
    page.goto(page.url.split("/uploads")[0] + "/findings/?rule=PS04")
    page.click("table.findings-table a")
    page.wait_for_selector("text=证据")
    body = page.inner_text("main")
    assert "死亡后仍发放工资" in body and "死亡日期" in body and "2025-02-20" in body and "800.00" in body
    assert web.ids["李小花"] not in body
    wh.shot(page, "05-finding-evidence", request)
    page.click("button:has-text('确认问题')")
    page.wait_for_selector(".flash-success")
    assert "已确认" in page.inner_text(".page-head")

    # dismiss another with a reason
    page.goto(page.url.split("/findings")[0] + "/findings/?rule=PS02")
    page.click("table.findings-table a")
    page.fill("form:has(input[value=dismiss]) textarea[name=note]", "3月为病假，已补交医院证明")
    page.click("button:has-text('排除问题')")
    page.wait_for_selector(".flash-success")
    assert "已排除" in page.inner_text(".page-head")
    wh.shot(page, "06-finding-dismissed", request)
    page.goto(page.url.split("/findings")[0] + "/findings/?status=all")
    wh.shot(page, "07-findings-list", request)
    assert not page.errors, page.errors

    db.session.rollback()
    states = {f.rule: f.status
              for f in db.session.scalars(select(Finding).where(Finding.district == "奉节县"))}
    assert states["PS04"] == "confirmed" and states["PS02"] == "dismissed"


def test_operator_enters_a_month_of_attendance(page_for, web, request):
    page = page_for("operator_bd", mobile=True)
    wh.shot(page, "08-operator-dashboard-phone", request)
    page.click("label.nav-burger")
    page.click("nav >> text=考勤填报")
    page.goto(page.url.rstrip("/") + f"/grid?kind=employer&unit={wh.BAIDI}&month=2025-04")
    pid, post = web.person_id["王大山"], web.post_id["GW-A1"]
    page.click("th:has-text('王大山') button:has-text('工作日出勤')")
    assert page.input_value(f"select[name=c-{pid}-{post}-1]") == "出勤"  # Tuesday 1 April
    assert page.input_value(f"select[name=c-{pid}-{post}-5]") == ""  # a Saturday stays blank
    wh.shot(page, "09-attendance-grid-phone", request)
    page.click("button:has-text('保存并审计')")
    page.wait_for_selector(".flash-success", timeout=60000)
    assert "已保存 22 条考勤" in page.inner_text(".flash-success")
    assert not page.errors, page.errors
    db.session.rollback()
    rows = db.session.scalars(select(Attendance)
                              .where(Attendance.person_id == pid, Attendance.post_id == post,
                                                       Attendance.work_month == dt.date(2025, 4, 1))).all()
    assert (len(rows) == 22 and {r.status for r in rows} == {"出勤"}
            and {r.method for r in rows} == {"手工登记"})


def test_inspector_reads_findings_and_cannot_change_anything(page_for, web, live, request):
    page = page_for("inspector_fj")
    page.click("nav >> text=审计发现")
    assert "共 2 条" in page.inner_text("main")
    page.click("table.findings-table a >> nth=0")
    assert "证据" in page.inner_text("main")
    assert page.locator("button:has-text('确认问题')").count() == 0
    assert page.locator("input[name=ids]").count() == 0
    wh.shot(page, "10-inspector-finding", request)
    # a forged review from the inspector's own session is refused
    token = page.get_attribute("meta[name=csrf-token]", "content")
    fid = web.finding("奉节县", "PS01").id
    r = page.request.post(f"{live}/findings/{fid}/review", form={"action": "confirm", "csrf_token": token})
    assert r.status == 403
    assert page.request.post(f"{live}/uploads/", form={"csrf_token": token}).status == 403
    db.session.rollback()
    assert db.session.get(Finding, fid).status == "open"
    page.goto(live + "/persons")
    wh.shot(page, "11-inspector-persons", request)
    assert not [e for e in page.errors if "403" not in e], page.errors


def test_a_notice_answered_item_by_item_closed_by_the_data_and_listed_in_the_ledger(page_for, web, live,
                                                                                    tmp_path,
                                                                                     request):
    """The unit answers each item (one wrong field first: the error shows at the top), the auditor
    loads the unit's corrected attendance and runs an audit from the web, closes the item the data
    confirms, overrides the other with a reason, and downloads the 整改台账 showing 已追回."""
    import subprocess

    from audit.access import Scope
    from audit.rectification import services

    ids = [web.finding("奉节县", "PS01").id, web.finding("奉节县", "PS02").id]
    notice = services.issue(wh.BAIDI, ids, dt.date.today() + dt.timedelta(days=30), by="auditor_fj",
                            scope_clause=Scope("auditor", True).findings())
    db.session.commit()
    nid, number = notice.id, notice.number
    items = {db.session.get(Finding, i.finding_id).rule: i.id for i in notice.items}
    voucher = {"name": "缴款书.pdf", "mimeType": "application/pdf",
               "buffer": b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R"
                         b" >>\n%%EOF\n"}

    # the operator finds the notice on the dashboard and answers item by item, forgetting an amount
    op = page_for("operator_bd")
    assert number in op.inner_text("#notices")
    op.click("#notices >> text=逐条回复")
    op.wait_for_selector("h1:has-text('" + number + "')")
    a1, a2 = items["PS01"], items["PS02"]
    op.select_option(f"#a-{a1}-action", "recovered")
    op.fill(f"#a-{a1}-date", dt.date.today().isoformat())
    op.set_input_files(f"#a-{a1}-file", files=[voucher])
    op.select_option(f"#a-{a2}-action", "ledger_corrected")
    op.click("button:has-text('提交整改情况')")
    op.wait_for_selector("#errors")
    top = op.locator("#errors")
    assert "第 1 条（PS01 王大山）：已追回须填写追回金额（元）" in top.inner_text()
    assert top.bounding_box()["y"] < op.locator(f"#item-{a1}").bounding_box()["y"]  # at the top of the page
    assert op.input_value(f"#a-{a1}-date") == dt.date.today().isoformat()  # what was entered is kept
    assert op.input_value(f"#a-{a2}-action") == "ledger_corrected"
    assert op.locator(f"#a-{a1}-amount-error").is_visible()
    wh.shot(op, "30-answer-error-at-top", request)
    op.click(f"#errors a[href='#a-{a1}-amount']")
    op.fill(f"#a-{a1}-amount", "800.00")
    op.set_input_files(f"#a-{a1}-file", files=[voucher])
    op.click("button:has-text('提交整改情况')")
    op.wait_for_selector(".flash-success")
    assert "单位已回复，待核验" in op.inner_text(".page-head")
    wh.shot(op, "31-answer-submitted", request)

    # the unit's corrected attendance of February arrives; the auditor loads it and runs an audit
    c = web.county
    c.t["attendance"] = []
    c.work(web.ids["王大山"], "GW-A1", "2025-02")
    bundle = _zip(write_bundle(tmp_path / "fix", {"attendance": c.t["attendance"]}))
    au = page_for("auditor_fj")
    au.click("nav >> text=台账导入")
    au.set_input_files("input[name=files]", files=[{"name": "更正考勤.zip", "mimeType": "application/zip",
                                                    "buffer": bundle}])
    au.click("text=上传并检查")
    au.once("dialog", lambda d: d.accept())
    au.click("button:has-text('确认导入')")
    au.wait_for_selector("text=导入完成")
    au.click("button:has-text('立即运行审计')")
    au.wait_for_selector("text=审计完成", timeout=60000)

    # PS01 is confirmed by the data; PS02 is not, and the notice cannot be closed as a whole
    au.goto(f"{live}/notices/{nid}")
    assert "数据已消除" in au.inner_text(f"#item-{a1}") and "仍发现该问题" in au.inner_text(f"#item-{a2}")
    au.once("dialog", lambda d: d.accept())
    au.click("button:has-text('整份销号')")
    au.wait_for_selector("#errors")
    assert "第 2 条（PS02 王大山）" in au.inner_text("#errors")
    au.click(f"#item-{a1} >> button:has-text('按数据销号')")
    au.wait_for_selector(".flash-success")
    au.fill(f"#item-{a2} textarea[name=reason]", "三月考勤经乡镇复核属实，台账已更正")
    au.once("dialog", lambda d: d.accept())
    au.click(f"#item-{a2} >> button:has-text('人工销号')")
    au.wait_for_selector(".flash-success")
    assert "已销号" in au.inner_text(".page-head")
    assert "人工销号：三月考勤经乡镇复核属实" in au.inner_text(f"#item-{a2}")
    assert "数据已消除" in au.inner_text(f"#item-{a1}")
    wh.shot(au, "32-notice-closed-by-items", request)

    # the 整改台账 shows what was recovered and how each item was closed
    au.goto(f"{live}/reports/")
    au.click("button:has-text('生成整改台账')")
    au.wait_for_selector(".flash-success")
    with au.expect_download() as info:
        au.click("tr.rect-new >> a:has-text('下载')")
    path = Path(info.value.path())
    flat = re.sub(r"\s+", "", subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                                             text=True, check=True).stdout)
    assert "已追回800.00元" in flat and "人工销号：三月考勤经乡镇复核属实，台账已更正" in flat
    assert "数据已消除" in flat and number in flat
    for p in (op, au):  # the refused submissions answer 400, as they should; nothing else went wrong
        assert not [e for e in p.errors if "status of 400" not in e], p.errors
