"""整改 in the browser: an auditor issues a notice to a unit, the unit's operator answers item by
item with evidence files (a draft first, errors at the top of the page), the auditor reviews item by
item — 销号 confirmed by the next audit run's data or overridden with a reason, 实际追回, 退回 — or
the whole notice; overdue notices and the operator's dashboard; the data check of the next audit
run; the notice's PDF, the 整改台账 and the report archive — each within the user's scope."""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import func, select

from models import (
    ChangeLog,
    EvidenceFile,
    Finding,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Recovery,
    ReportFile,
    db,
)

import web_helpers as wh
from web_helpers import login, post

UNIT = wh.BAIDI
UNIT_NAME = "白帝镇白帝村村民委员会"  # how people read it: its township before its name
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
ANSWER = "已清退王大山，追回 2025 年 2 月、3 月违规发放的工资 1200 元，并更正考勤台账。"


def text(resp) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def user(app, name: str):
    c = app.test_client()
    login(c, name)
    return c


def issue(app, web, who: str = "auditor_fj", **change) -> int:
    """auditor_fj issues a notice for 白帝村村民委员会 with its two findings; the notice's id."""
    c = user(app, who)
    ps01, ps02 = web.finding("奉节县", "PS01"), web.finding("奉节县", "PS02")
    data = {"unit": UNIT, "ids": [ps01.id, ps02.id], f"act-{ps01.id}": ["dismiss_person", "recover"],
            f"act-{ps02.id}": ["recover", "correct_ledger"],
            "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat(), "requirements": "请附缴款凭证。"}
    data.update(change)
    r = post(c, "/notices/new", data)
    assert r.status_code == 303, text(r)[:600]
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def items(nid: int) -> dict[str, int]:
    """The notice's item ids by rule."""
    db.session.rollback()
    return {db.session.get(Finding, i.finding_id).rule: i.id
            for i in db.session.scalars(select(NoticeFinding).where(NoticeFinding.notice_id == nid))}


def answer(c, nid: int, files=None, body: str = ANSWER, per_item: dict | None = None, do: str = "submit"):
    """The unit answers every item still to answer (by rule: a dict of field -> value; default
    已清退 for PS01 and 已更正台账 for PS02), with the overall text and files."""
    files = [(io.BytesIO(PDF), "追回工资缴款凭证.pdf")] if files is None else files
    data = {"text": body, "files": files, "do": do}
    chosen = {"PS01": {"action": "dismissed"}, "PS02": {"action": "ledger_corrected"}}
    chosen.update(per_item or {})
    for rule, iid in items(nid).items():
        for k, v in chosen.get(rule, {}).items():
            data[f"a-{iid}-{k}"] = v
    return post(c, f"/notices/{nid}/answer", data, content_type="multipart/form-data")


def override(c, nid: int, rule: str, reason: str = "经实地核实已整改到位，准予销号"):
    return post(c, f"/notices/{nid}/items/{items(nid)[rule]}/override", {"reason": reason})


def notice(nid: int) -> Notice:
    db.session.rollback()
    return db.session.get(Notice, nid)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_auditor_issues_a_notice_for_a_unit(web, app):
    c = user(app, "auditor_fj")
    r = c.get(f"/notices/new?unit={UNIT}")
    page = text(r)
    assert "新建整改通知书" in page and "PS01 发放工资的月份没有任何出勤" in page and "PS02" in page
    assert "800.00" in page and "400.00" in page and "追回违规发放资金" in page
    deadline = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    assert f'name="deadline" value="{deadline}"' in r.get_data(as_text=True)  # the default: 30 days
    assert web.ids["王大山"] not in page

    nid = issue(app, web)
    page = text(c.get(f"/notices/{nid}"))
    year = dt.date.today().year
    assert f"渝奉人社审〔{year}〕1号" in page
    assert "应追回资金 1,200.00 元" in page and "已下发，待整改" in page and "奉节县人力资源和社会保障局" in page
    assert "清退不符合条件或未在岗人员；追回违规发放资金" in page and "请附缴款凭证。" in page
    assert "最近一次审计（第 1 次）仍发现该问题" in page
    assert web.ids["王大山"][:6] + "********" in page and web.ids["王大山"] not in page
    assert "下发通知书" in page  # the history
    # issuing confirmed the findings; the list shows the notice with its figures
    db.session.rollback()
    assert db.session.get(Finding, web.finding("奉节县", "PS01").id).status == "confirmed"
    listed = text(c.get("/notices/"))
    assert f"渝奉人社审〔{year}〕1号 {UNIT_NAME}" in listed and "2 条 1,200.00" in listed and "共 1 份" in listed
    # the findings are in a notice now: nothing left to issue for the unit
    assert "该单位暂无可列入整改通知书的问题" in text(c.get(f"/notices/new?unit={UNIT}"))


def test_a_new_notice_with_errors_keeps_what_was_typed(web, app):
    c = user(app, "auditor_fj")
    ps01 = web.finding("奉节县", "PS01")
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id], f"act-{ps01.id}": ["recover"],
                                 "deadline": "2020-01-01", "requirements": "十日内报送清退名单"})
    assert r.status_code == 400
    page = text(r)
    assert "整改期限不能早于今天" in page and "十日内报送清退名单" in page and 'value="2020-01-01"' in r.get_data(
        as_text=True)
    r = post(c, "/notices/new", {"unit": UNIT, "deadline": "2030-01-01"})
    assert r.status_code == 400 and "请至少选择一条问题" in text(r)
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id], "deadline": "明天"})
    assert r.status_code == 400 and "请填写整改期限" in text(r)
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id], f"act-{ps01.id}": [], "deadline": "2030-01-01"})
    assert r.status_code == 400 and "至少选择一项整改要求" in text(r)
    # a finding of another district cannot be slipped into the notice
    other = web.finding("巫山县", "PS01")
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id, other.id], f"act-{ps01.id}": ["recover"],
                                 f"act-{other.id}": ["recover"], "deadline": "2030-01-01"})
    assert r.status_code == 400 and "不在您的管辖范围内" in text(r)
    assert count(Notice) == 0
    db.session.rollback()
    assert db.session.get(Finding, ps01.id).status == "open"


def test_only_auditors_in_scope_issue_notices(web, app):
    assert user(app, "auditor_ws").get(f"/notices/new?unit={UNIT}").status_code == 404
    ws = user(app, "auditor_ws")
    r = post(ws, "/notices/new", {"unit": UNIT, "ids": [web.finding("奉节县", "PS01").id], "deadline": "2030-01-01"})
    assert r.status_code == 404
    assert user(app, "auditor_fj").get("/notices/new?unit=没有这个单位").status_code == 404
    for name in ("inspector_fj", "operator_bd", "admin"):
        c = user(app, name)
        assert c.get(f"/notices/new?unit={UNIT}").status_code == 403, name
        assert post(c, "/notices/new", {"unit": UNIT, "deadline": "2030-01-01"}).status_code == 403, name
    assert count(Notice) == 0
    # the unit picker lists the auditor's units only
    page = text(user(app, "auditor_fj").get("/notices/new"))
    assert UNIT_NAME in page and "1,200.00" in page and "曲尺村村民委员会" not in page
    # the findings list filtered by a unit offers the notice to auditors
    html = user(app, "auditor_fj").get(f"/findings/?unit={UNIT}").get_data(as_text=True)
    assert "为该单位下发整改通知书" in html
    assert "为该单位下发整改通知书" not in user(app, "inspector_fj").get(f"/findings/?unit={UNIT}").get_data(
        as_text=True)


def test_the_operator_answers_with_a_pdf_and_the_evidence_downloads_as_an_attachment(web, app):
    nid = issue(app, web)
    op = user(app, "operator_bd")
    page = text(op.get(f"/notices/{nid}"))
    assert "提交整改情况" in page and "保存草稿" in page and "销号" not in page.replace("已销号", "")
    assert "王大山" in page and web.ids["王大山"][:6] + "********" in page and "保洁员 GW-A1" in page
    r = answer(op, nid)
    assert r.status_code == 303
    page = text(op.get(f"/notices/{nid}"))
    assert "单位已回复，待核验" in page and ANSWER in page and "追回工资缴款凭证.pdf" in page
    assert 'name="text"' not in op.get(f"/notices/{nid}").get_data(as_text=True)  # no second answer for now
    fid = db.session.scalar(select(EvidenceFile.id))
    html = op.get(f"/notices/{nid}").get_data(as_text=True)
    assert f"/notices/{nid}/files/{fid}" in html

    for name in ("operator_bd", "auditor_fj", "inspector_fj"):
        r = user(app, name).get(f"/notices/{nid}/files/{fid}")
        assert r.status_code == 200, name
        assert r.data == PDF and r.mimetype == "application/pdf"
        assert r.headers["Content-Disposition"].startswith("attachment")
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Content-Security-Policy"] == "sandbox"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "evidence.download")) == 3
    for name in ("operator_ws", "auditor_ws", "operator_cj"):
        assert user(app, name).get(f"/notices/{nid}/files/{fid}").status_code == 404, name
    assert op.get(f"/notices/{nid + 1}/files/{fid}").status_code == 404  # another notice's path
    assert op.get(f"/notices/{nid}/files/{fid + 1}").status_code == 404


def test_a_disguised_file_or_a_short_answer_is_refused_and_nothing_is_stored(web, app, tmp_path):
    nid = issue(app, web)
    op = user(app, "operator_bd")
    html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    r = answer(op, nid, files=[(io.BytesIO(PDF), "凭证一.pdf"), (io.BytesIO(html), "凭证二.pdf")])
    assert r.status_code == 400
    page = text(r)
    assert "附件「凭证二.pdf」的类型不允许或与扩展名不符" in page and ANSWER in page  # the text is kept
    r = answer(op, nid, per_item={"PS01": {"action": "explained", "text": "已整改"}})
    assert r.status_code == 400 and "第 1 条（PS01 王大山）：情况说明至少 10 个字" in text(r)
    r = answer(op, nid, files=[(io.BytesIO(b"x" * 2048), "考勤表.exe")])
    assert r.status_code == 400 and "类型不允许" in text(r)
    app.config["EVIDENCE_MAX_BYTES"] = 1 << 20
    r = answer(op, nid, files=[(io.BytesIO(PDF + b"0" * (1 << 20)), "扫描件.pdf")])
    assert r.status_code == 400 and "附件「扫描件.pdf」超过 1 MB" in text(r)
    assert count(NoticeResponse) == 0 and count(EvidenceFile) == 0
    assert notice(nid).status == "issued"
    folder = tmp_path / "instance" / "evidence"
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def test_the_auditor_sends_back_then_closes_and_the_findings_are_closed(web, app):
    nid = issue(app, web)
    op, au = user(app, "operator_bd"), user(app, "auditor_fj")
    assert answer(op, nid).status_code == 303
    page = text(au.get(f"/notices/{nid}"))
    assert "销号" in page and "退回理由" in page
    r = post(au, f"/notices/{nid}/return", {"verdict": ""})
    assert r.status_code == 400 and "退回必须写明理由" in text(r) and notice(nid).status == "answered"
    r = post(au, f"/notices/{nid}/return", {"verdict": "未附清退名单，追回金额与应追回不符"})
    assert r.status_code == 303
    page = text(op.get(f"/notices/{nid}"))
    assert "已退回，待重新整改" in page and "退回理由：未附清退名单" in page and "提交整改情况" in page
    assert answer(op, nid, files=[(io.BytesIO(PDF), "清退名单.pdf"), (io.BytesIO(PDF), "缴款凭证.pdf")]).status_code == 303
    # no audit run since the answer confirms the items: 销号 is refused, naming them
    r = post(au, f"/notices/{nid}/close", {"verdict": ""})
    assert r.status_code == 400 and notice(nid).status == "answered"
    assert "以下问题尚未经审计数据确认整改到位" in text(r) and "第 1 条（PS01 王大山）、第 2 条（PS02 王大山）" in text(r)
    r = override(au, nid, "PS01", reason="太短")
    assert r.status_code == 400 and "人工销号必须写明理由（至少 10 个字）" in text(r)
    assert override(au, nid, "PS01").status_code == 303
    r = post(au, f"/notices/{nid}/close", {"verdict": ""})
    assert r.status_code == 400 and "也未人工销号，不能销号：第 2 条（PS02 王大山）。" in text(r)
    assert override(au, nid, "PS02", reason="三月考勤经乡镇复核属实，已更正台账").status_code == 303
    page = text(au.get(f"/notices/{nid}"))
    assert "已销号" in page and "全部问题已销号" in page and "第 2 次回复" in page and "清退名单.pdf" in page
    assert "人工销号：经实地核实已整改到位，准予销号" in page and "逐条销号" in page
    assert "下发通知书" in page and "退回重新整改" in page and "单位回复整改情况" in page
    db.session.rollback()
    for rule in ("PS01", "PS02"):
        assert db.session.get(Finding, web.finding("奉节县", rule).id).status == "closed"
    assert "已销号" in text(au.get(f"/findings/{web.finding('奉节县', 'PS01').id}"))
    # closed: no more answers or verdicts
    assert answer(op, nid).status_code == 400
    r = post(au, f"/notices/{nid}/return", {"verdict": "再次退回测试"})
    assert r.status_code == 400 and "只有单位已回复的通知书才能退回" in text(r)
    assert "共 1 份" in text(au.get("/notices/?status=closed")) and "共 0 份" in text(au.get("/notices/?status=open"))


def test_a_notice_past_its_deadline_is_overdue(web, app):
    nid = issue(app, web)
    au = user(app, "auditor_fj")
    assert not re.search(r"逾期 \d+ 天", text(au.get("/notices/")))
    assert "逾期未整改 0 份" in text(au.get("/dashboard/"))
    db.session.rollback()
    db.session.get(Notice, nid).deadline = dt.date.today() - dt.timedelta(days=3)
    db.session.commit()
    assert "逾期 3 天" in text(au.get("/notices/"))
    page = text(au.get(f"/notices/{nid}"))
    assert "逾期 3 天" in page and "已超过整改期限" in page
    assert "逾期未整改 1 份" in text(au.get("/dashboard/"))
    assert "逾期未整改 1 份" in text(user(app, "operator_bd").get("/dashboard/"))
    assert "逾期未整改 0 份" in text(user(app, "auditor_ws").get("/dashboard/"))
    assert "共 1 份" in text(au.get("/notices/?overdue=1"))
    # once the unit answered, it waits for the auditor: no longer overdue
    assert answer(user(app, "operator_bd"), nid).status_code == 303
    assert "共 0 份" in text(au.get("/notices/?overdue=1")) and "逾期 3 天" not in text(au.get(f"/notices/{nid}"))


def test_who_sees_a_notice_and_who_may_act_on_it(web, app):
    nid = issue(app, web)
    for name in ("auditor_fj", "auditor_bd", "inspector_fj", "operator_bd", "admin"):
        assert user(app, name).get(f"/notices/{nid}").status_code == 200, name
    for name in ("operator_ws", "auditor_ws", "inspector_ws", "operator_cj", "admin_ws"):
        c = user(app, name)
        assert c.get(f"/notices/{nid}").status_code == 404, name
        assert "共 0 份" in text(c.get("/notices/")), name
    assert "共 1 份" in text(user(app, "operator_bd").get("/notices/"))
    ins = user(app, "inspector_fj")
    page = text(ins.get(f"/notices/{nid}"))
    assert "下载 PDF 通知书" in page and "提交整改情况" not in page and "人工销号" not in page
    assert answer(ins, nid).status_code == 403
    assert answer(user(app, "auditor_fj"), nid).status_code == 403  # auditors do not answer for the unit
    assert answer(user(app, "operator_bd"), nid).status_code == 303
    assert post(ins, f"/notices/{nid}/close", {"verdict": "越权销号"}).status_code == 403
    assert post(ins, f"/notices/{nid}/return", {"verdict": "越权退回"}).status_code == 403
    assert post(user(app, "operator_bd"), f"/notices/{nid}/close", {}).status_code == 403
    for step in ("close", "override", "return", "recovery"):
        for name in ("inspector_fj", "operator_bd"):
            r = post(user(app, name), f"/notices/{nid}/items/{items(nid)['PS01']}/{step}", {"reason": "越权操作不应生效"})
            assert r.status_code == 403, (name, step)
        r = post(user(app, "auditor_ws"), f"/notices/{nid}/items/{items(nid)['PS01']}/{step}", {"reason": "越权操作不应生效"})
        assert r.status_code == 404, step
    assert notice(nid).status == "answered" and count(Recovery) == 0
    assert all(i.close_basis is None for i in notice(nid).items)


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
    assert post(ws, "/reports/summary", {"district": "奉节县", "period": "2025-01:2025-06"}).status_code == 403
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
    c.t["attendance"] = [a for a in c.t["attendance"] if not (a["id_number"] == wang and a["post_code"] == "GW-A1"
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
    assert "单位尚未回复" in text(au.get(f"/notices/{nid}")) and "缴款书.pdf" not in text(au.get(f"/notices/{nid}"))
    draft_file = db.session.scalar(select(EvidenceFile.id).where(EvidenceFile.name == "缴款书.pdf"))
    assert au.get(f"/notices/{nid}/files/{draft_file}").status_code == 404
    # submitted with the amount: 已追回 is recorded with its date and the draft's voucher
    r = answer(op, nid, per_item={"PS01": {"action": "recovered", "amount": "800", "date": today}})
    assert r.status_code == 303
    rec = db.session.scalar(select(Recovery))
    assert (rec.amount_fen, rec.recovered_on.isoformat(), rec.voucher_id) == (80000, today, draft_file)
    page = text(au.get(f"/notices/{nid}"))
    assert "单位已回复，待核验" in page and "已追回：800.00 元" in page and f"{today} 800.00 元（凭证 缴款书.pdf" in page
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
    assert answer(op, nid, per_item={"PS02": {"action": "explained", "text": "三月考勤已按实际出勤更正"}}).status_code == 303
    assert notice(nid).status == "answered"


def test_the_operators_dashboard_lists_the_units_notices(web, app):
    nid = issue(app, web)
    op = user(app, "operator_bd")
    page = text(op.get("/dashboard/"))
    year = dt.date.today().year
    assert f"本单位的整改通知书 文号 整改期限 剩余 / 逾期 状态 应追回（元） 操作 渝奉人社审〔{year}〕1号" in page
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
