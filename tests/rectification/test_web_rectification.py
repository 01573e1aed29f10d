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
    NoticeResponse,
    Recovery,
    db,
)

from rectification_web import (
    ANSWER,
    PDF,
    UNIT,
    UNIT_NAME,
    answer,
    count,
    issue,
    items,
    notice,
    override,
    user,
)
from web_helpers import post, text


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
    assert ("应追回资金 1,200.00 元" in page and "已下发，待整改" in page
            and "奉节县人力资源和社会保障局" in page)
    assert "清退不符合条件或未在岗人员；追回违规发放资金" in page and "请附缴款凭证。" in page
    assert "最近一次审计（第 1 次）仍发现该问题" in page
    assert web.ids["王大山"][:6] + "********" in page and web.ids["王大山"] not in page
    assert "下发通知书" in page  # the history
    # issuing confirmed the findings; the list shows the notice with its figures
    db.session.rollback()
    assert db.session.get(Finding, web.finding("奉节县", "PS01").id).status == "confirmed"
    listed = text(c.get("/notices/"))
    assert (f"渝奉人社审〔{year}〕1号 {UNIT_NAME}" in listed and "2 条 1,200.00" in listed
            and "共 1 份" in listed)
    # the findings are in a notice now: nothing left to issue for the unit
    assert "该单位暂无可列入整改通知书的问题" in text(c.get(f"/notices/new?unit={UNIT}"))


def test_a_new_notice_with_errors_keeps_what_was_typed(web, app):
    c = user(app, "auditor_fj")
    ps01 = web.finding("奉节县", "PS01")
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id], f"act-{ps01.id}": ["recover"],
                                 "deadline": "2020-01-01", "requirements": "十日内报送清退名单"})
    assert r.status_code == 400
    page = text(r)
    assert ("整改期限不能早于今天" in page and "十日内报送清退名单" in page
            and 'value="2020-01-01"' in r.get_data(as_text=True))
    r = post(c, "/notices/new", {"unit": UNIT, "deadline": "2030-01-01"})
    assert r.status_code == 400 and "请至少选择一条问题" in text(r)
    r = post(c, "/notices/new", {"unit": UNIT, "ids": [ps01.id], "deadline": "明天"})
    assert r.status_code == 400 and "请填写整改期限" in text(r)
    r = post(c, "/notices/new",
             {"unit": UNIT, "ids": [ps01.id], f"act-{ps01.id}": [], "deadline": "2030-01-01"})
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
    r = post(ws, "/notices/new",
             {"unit": UNIT, "ids": [web.finding("奉节县", "PS01").id], "deadline": "2030-01-01"})
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
        assert (r.headers["X-Content-Type-Options"] == "nosniff"
                and r.headers["Content-Security-Policy"] == "sandbox")
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
    assert (answer(op, nid, files=[(io.BytesIO(PDF), "清退名单.pdf"), (io.BytesIO(PDF), "缴款凭证.pdf")])
            .status_code == 303)
    # no audit run since the answer confirms the items: 销号 is refused, naming them
    r = post(au, f"/notices/{nid}/close", {"verdict": ""})
    assert r.status_code == 400 and notice(nid).status == "answered"
    assert ("以下问题尚未经审计数据确认整改到位" in text(r)
            and "第 1 条（PS01 王大山）、第 2 条（PS02 王大山）" in text(r))
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
    assert ("共 1 份" in text(au.get("/notices/?status=closed"))
            and "共 0 份" in text(au.get("/notices/?status=open")))


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
    assert ("共 0 份" in text(au.get("/notices/?overdue=1"))
            and "逾期 3 天" not in text(au.get(f"/notices/{nid}")))


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
            r = post(user(app, name), f"/notices/{nid}/items/{items(nid)['PS01']}/{step}",
                     {"reason": "越权操作不应生效"})
            assert r.status_code == 403, (name, step)
        r = post(user(app, "auditor_ws"), f"/notices/{nid}/items/{items(nid)['PS01']}/{step}",
                 {"reason": "越权操作不应生效"})
        assert r.status_code == 404, step
    assert notice(nid).status == "answered" and count(Recovery) == 0
    assert all(i.close_basis is None for i in notice(nid).items)
