"""Findings in the browser: the dashboard's figures, the list and its filters, the evidence page,
and the review (confirm, dismiss with a reason, in bulk) — each within the user's scope."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import ChangeLog, Finding, db

from web_helpers import login, post, text


def status_of(fid: str) -> str:
    db.session.rollback()
    return db.session.get(Finding, fid).status


def test_dashboard_figures_follow_the_users_scope(web, client):
    login(client, "auditor_fj")
    page = text(client.get("/dashboard/"))
    assert "待处理违规问题 2 条" in page and re.search(r"涉及金额（待处理[^）]*） 1,200.00 元", page)
    assert "PS01 发放工资的月份没有任何出勤 1 1 800.00" in page
    assert "白帝村村民委员会 1,200.00 元" in page  # the worst units
    client.post("/logout", data={"csrf_token": re.search(r'csrf-token" content="([^"]+)', client.get(
        "/dashboard/").get_data(as_text=True)).group(1)})
    login(client, "inspector_ws")
    page = text(client.get("/dashboard/"))
    assert "待处理违规问题 1 条" in page and "800.00 元" in page and "白帝村村民委员会" not in page


def test_every_dashboard_figure_links_to_its_list(web, client):
    login(client, "auditor_fj")
    html = client.get("/dashboard/").get_data(as_text=True)
    links = set(re.findall(r'href="(/findings/\?[^"]+)"', html))
    assert "/findings/?rule=PS02" in links and "/findings/?category=phantom_salary" in links
    assert any("period=2025-02" in x for x in links) and any("unit=" in x for x in links)
    listed = text(client.get("/findings/?rule=PS02"))
    assert "共 1 条，涉及金额 400.00 元" in listed and "出勤不足却足额或超额发放工资" in listed


def test_operator_sees_only_the_findings_of_their_unit(web, client):
    login(client, "operator_bd")
    page = text(client.get("/findings/"))
    assert "共 2 条" in page and "GW-A1" in page and "GW-B1" not in page
    login_other = client.application.test_client()
    login(login_other, "operator_cj")
    assert "共 0 条" in text(login_other.get("/findings/"))


def test_filters_narrow_the_list(web, client):
    login(client, "auditor_fj")
    assert "共 1 条，涉及金额 800.00 元" in text(client.get("/findings/?period=2025-02"))
    assert "共 2 条" in text(client.get("/findings/?period=2025-01:2025-03"))
    assert "共 0 条" in text(client.get("/findings/?category=favouritism"))
    assert "共 2 条" in text(client.get("/findings/?post=GW-A1"))
    assert "共 2 条" in text(client.get(f"/findings/?person={web.person_id['王大山']}"))
    assert "共 0 条" in text(client.get("/findings/?status=dismissed"))
    # filters outside the scope find nothing, even by name
    assert "共 0 条" in text(client.get("/findings/?district=巫山县"))


def test_the_detail_explains_the_evidence_in_chinese_with_masked_ids(web, client):
    f = web.finding("奉节县", "PS01")
    login(client, "auditor_fj")
    page = text(client.get(f"/findings/{f.id}"))
    assert "2025-02 在 保洁员（GW-A1） 没有一天出勤" in page  # the post by its name, the code beside
    assert "考勤记录天数 28" in page and "出勤天数 0" in page and "发放金额（元） 800.00" in page
    assert "涉及金额 800.00 元" in page and "渝人社办〔2022〕317号" in page
    assert web.ids["王大山"] not in page and web.ids["王大山"][:6] + "********" in page


def test_confirm_and_dismiss_with_a_reason_are_logged(web, client):
    ps01, ps02 = web.finding("奉节县", "PS01"), web.finding("奉节县", "PS02")
    login(client, "auditor_fj")
    r = post(client, f"/findings/{ps01.id}/review", {"action": "confirm"})
    assert r.status_code == 303 and status_of(ps01.id) == "confirmed"
    r = post(client, f"/findings/{ps02.id}/review", {"action": "dismiss", "note": ""}, follow_redirects=True)
    assert "排除问题必须写明理由" in text(r) and status_of(ps02.id) == "open"
    r = post(client, f"/findings/{ps02.id}/review", {"action": "dismiss", "note": "该月为病假，已补交请假条"},
             follow_redirects=True)
    assert status_of(ps02.id) == "dismissed" and "已排除" in text(r)
    assert "该月为病假，已补交请假条" in text(client.get(f"/findings/{ps02.id}"))
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.table_name == "findings")
                             .order_by(ChangeLog.id)).all()
    assert [(e.action, e.row_ref, e.actor, e.old["status"], e.new["status"]) for e in log] == [
        ("finding.confirm", ps01.id, "auditor_fj", "open", "confirmed"),
        ("finding.dismiss", ps02.id, "auditor_fj", "open", "dismissed")]


def test_inspectors_and_operators_cannot_review(web, client):
    f = web.finding("奉节县", "PS01")
    for user in ("inspector_fj", "operator_bd", "admin"):
        c = client.application.test_client()
        login(c, user)
        assert "确认问题" not in text(c.get(f"/findings/{f.id}"))
        assert post(c, f"/findings/{f.id}/review", {"action": "confirm"}).status_code == 403
        assert post(c, "/findings/bulk", {"action": "confirm", "ids": [f.id]}).status_code == 403
    assert status_of(f.id) == "open"
    assert db.session.scalar(select(ChangeLog).where(ChangeLog.action == "access.denied")) is not None


def test_another_regions_auditor_gets_404_and_changes_nothing(web, client):
    f = web.finding("奉节县", "PS01")
    login(client, "auditor_ws")
    assert client.get(f"/findings/{f.id}").status_code == 404
    assert post(client, f"/findings/{f.id}/review", {"action": "confirm"}).status_code == 404
    assert status_of(f.id) == "open"


def test_bulk_confirm_and_a_bulk_reaching_outside_the_scope(web, client):
    mine = [f.id for f in web.findings["奉节县"]]
    theirs = web.finding("巫山县", "PS01").id
    login(client, "auditor_fj")
    r = post(client, "/findings/bulk", {"action": "confirm", "ids": mine}, follow_redirects=True)
    assert "已确认 2 条问题" in text(r) and {status_of(i) for i in mine} == {"confirmed"}
    r = post(client, "/findings/bulk",
             {"action": "dismiss", "note": "核实无误，属误报", "ids": [*mine, theirs]})
    assert r.status_code == 403
    assert {status_of(i) for i in mine} == {"confirmed"} and status_of(theirs) == "open"
    r = post(client, "/findings/bulk", {"action": "dismiss", "ids": mine}, follow_redirects=True)
    assert "批量排除必须写明理由" in text(r) and {status_of(i) for i in mine} == {"confirmed"}


def test_a_user_over_several_districts_sees_them_side_by_side(web, client):
    login(client, "admin")
    page = text(client.get("/dashboard/"))
    assert "按区县" in page and "奉节县 2 2 1,200.00" in page and "巫山县 1 1 800.00" in page
    c = client.application.test_client()
    login(c, "inspector_fj")
    assert "按区县" not in text(c.get("/dashboard/"))  # one district: nothing to compare
