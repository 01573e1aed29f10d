"""The browsing pages: a person's file (masked, and unmasked on request with a log entry), the
attendance calendar, positions and workshops within the user's scope, reported versus computed
workshop figures, import batches and audit runs."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from sqlalchemy import select

from models import ChangeLog, db

from web_helpers import create_users, load, login, post, two_districts


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def rows(html: str) -> list[list[str]]:
    """The cells of every table row, as plain text."""
    out = []
    for tr in re.findall(r"<tr\b.*?</tr>", html, flags=re.S):
        cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", tr, flags=re.S)
        out.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return out


def month(html: str, ym: str) -> str:
    """The rows of one month of the workshop's reported-versus-computed table."""
    return next(b for b in re.findall(r"<tbody\b.*?</tbody>", html, flags=re.S) if f">{ym}<" in b)


def masked(idn: str) -> str:
    return idn[:6] + "********" + idn[-4:]


# ---- a person's file ----------------------------------------------------------------------------

def test_person_file_shows_the_masked_id_and_never_the_full_one(web, client):
    login(client, "auditor_fj")
    idn = web.ids["王大山"]
    resp = client.get(f"/persons/{web.person_id['王大山']}")
    assert resp.status_code == 200
    page = text_of(resp)
    assert "王大山" in page and masked(idn) in page
    assert idn not in page
    assert web.county.accounts[idn] not in page  # the bank account too
    assert "显示完整证件号与账号" in page  # an auditor may ask
    # placements, wages and the findings concerning him
    assert "GW-A1" in page and "白帝村村民委员会" in page
    assert "800.00" in page
    assert "/findings/" in page


def test_reveal_by_an_auditor_shows_the_full_numbers_and_is_logged(web, client):
    login(client, "auditor_fj")
    pid, idn = web.person_id["王大山"], web.ids["王大山"]
    resp = post(client, f"/persons/{pid}/reveal")
    assert resp.status_code == 200
    page = text_of(resp)
    assert idn in page
    assert web.county.accounts[idn] in page
    assert "本次查看已记录" in page
    db.session.rollback()
    entries = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "pii.view")).all()
    assert [(e.table_name, e.row_id, e.row_ref, e.actor) for e in entries] == [
        ("persons", pid, masked(idn), "auditor_fj")]
    # the ordinary page is masked again
    assert idn not in text_of(client.get(f"/persons/{pid}"))


def test_reveal_is_refused_to_an_inspector_and_is_post_only(web, client, app):
    login(client, "inspector_fj")
    pid, idn = web.person_id["王大山"], web.ids["王大山"]
    page = text_of(client.get(f"/persons/{pid}"))
    assert masked(idn) in page and "显示完整证件号与账号" not in page
    resp = post(client, f"/persons/{pid}/reveal")
    assert resp.status_code == 403
    assert idn not in text_of(resp)
    db.session.rollback()  # see what the request's own transactions committed
    assert not db.session.scalars(select(ChangeLog).where(ChangeLog.action == "pii.view")).all()
    assert db.session.scalars(select(ChangeLog).where(ChangeLog.action == "access.denied")).all()
    auditor = app.test_client()
    login(auditor, "auditor_fj")
    assert auditor.get(f"/persons/{pid}/reveal").status_code == 405


def test_attendance_calendar_counts_each_status_of_the_month(web, client):
    login(client, "auditor_fj")
    pid = web.person_id["王大山"]
    march = text_of(client.get(f"/persons/{pid}"))  # default: the latest month with attendance
    assert "考勤日历 · 2025-03" in march
    assert "出勤 10 天" in march and "休息 21 天" in march and "缺勤 0 天" in march
    assert march.count('class="d s-出勤"') == 10
    feb = text_of(client.get(f"/persons/{pid}?month=2025-02"))
    assert "缺勤 28 天" in feb and "出勤 0 天" in feb
    assert feb.count('class="d s-缺勤"') == 28
    empty = text_of(client.get(f"/persons/{pid}?month=2024-06"))
    assert "2024-06 没有考勤记录" in empty


def test_findings_naming_the_person_among_others_are_on_the_file(web, client):
    from models import Finding

    f = web.finding("奉节县", "PS01")
    row = db.session.get(Finding, f.id)
    others = [web.person_id["李小花"], web.person_id["王大山"]]
    row.person_id, row.person_ids = None, sorted(others)
    db.session.commit()
    login(client, "auditor_fj")
    for name in ("李小花", "王大山"):
        page = text_of(client.get(f"/persons/{web.person_id[name]}"))
        assert f"/findings/{f.id}" in page, name
    assert f"/findings/{f.id}" not in text_of(client.get(f"/persons/{web.person_id['张三']}"))


def test_person_search_by_name_and_full_id_number(web, client):
    login(client, "auditor_fj")
    page = text_of(client.get("/persons?q=李小"))
    assert "李小花" in page and "王大山" not in page
    # a full ID number is POSTed and never appears in a URL: the list is reached by its keyed hash
    r = post(client, "/persons", {"q": web.ids["张三"].lower()})
    assert r.status_code == 303 and web.ids["张三"] not in r.headers["Location"].upper()
    assert "idh=" in r.headers["Location"]
    page = text_of(client.get(r.headers["Location"]))
    assert "张三" in page and "李小花" not in page and web.ids["张三"] not in page
    # typed into the address bar, it is moved out of the URL at once
    r = client.get("/persons", query_string={"q": web.ids["张三"]})
    assert r.status_code == 303 and web.ids["张三"] not in r.headers["Location"]
    assert "刘一" not in text_of(client.get("/persons"))  # 巫山县 is not in scope
    page = text_of(client.get("/persons?township=永安街道"))
    assert "张三" in page and "王大山" not in page


# ---- scope ------------------------------------------------------------------------------------

def test_an_operator_sees_only_the_posts_and_people_of_its_own_units(web, client):
    login(client, "operator_bd")
    page = text_of(client.get("/positions"))
    assert "GW-A1" in page and "GW-A2" in page and "王大山" in page
    assert "GW-B1" not in page and "GW-A3" not in page
    assert client.get(f"/positions/{web.post_id['GW-A1']}").status_code == 200
    assert client.get(f"/positions/{web.post_id['GW-B1']}").status_code == 404
    assert client.get(f"/persons/{web.person_id['王大山']}").status_code == 200
    assert client.get(f"/persons/{web.person_id['刘一']}").status_code == 404
    assert client.get(f"/persons/{web.person_id['张三']}").status_code == 404
    assert client.get("/persons").status_code == 403
    assert post(client, f"/persons/{web.person_id['王大山']}/reveal").status_code == 403
    assert client.get(f"/workshops/{web.post_id['CJ-A1']}").status_code == 404


def test_an_auditor_of_another_district_does_not_find_the_person(web, client):
    login(client, "auditor_ws")
    assert client.get(f"/persons/{web.person_id['王大山']}").status_code == 404
    assert client.get(f"/positions/{web.post_id['GW-A1']}").status_code == 404
    assert client.get(f"/persons/{web.person_id['刘一']}").status_code == 200
    page = text_of(client.get("/positions"))
    assert "GW-B1" in page and "GW-A1" not in page


# ---- positions and workshops --------------------------------------------------------------------

def test_position_page_months_show_days_wage_due_and_paid(web, client):
    login(client, "auditor_fj")
    page = text_of(client.get(f"/positions/{web.post_id['GW-A1']}"))
    assert "王大山" in page and "历任在岗人员" in page
    table = {r[0]: r for r in rows(page) if r and re.fullmatch(r"\d{4}-\d{2}", r[0])}
    assert table["2025-03"][2:7] == ["10 / 20", "31", "400.00", "800.00", "+400.00"]  # paid in full for half
    assert table["2025-02"][2:7] == ["0 / 20", "28", "0.00", "800.00", "+800.00"]  # paid for no work
    assert table["2025-01"][2:7] == ["20 / 20", "31", "800.00", "800.00", "0.00"]
    assert "PS01" in page and "PS02" in page  # its findings
    listing = text_of(client.get("/positions"))
    a1 = next(r for r in rows(listing) if r and r[0] == "GW-A1")
    assert a1[6].startswith("王大山") and a1[7] == "2"  # the holder and the outstanding findings


@pytest.fixture
def reported(app, tmp_path, people):
    """The two districts, with figures CJ-A1 reported for 2025-03: two right, two wrong."""
    t = two_districts(people)
    t.county.t["reports"] += [
        {"subject_code": "CJ-A1", "period": "2025-03", "metric": "poverty_headcount", "value": "5"},
        {"subject_code": "CJ-A1", "period": "2025-03", "metric": "total_headcount", "value": "1"},
        {"subject_code": "CJ-A1", "period": "2025-03", "metric": "wages_total", "value": "2500.00"},
        {"subject_code": "CJ-A1", "period": "2025-03", "metric": "subsidy_claimed", "value": "1500.00"},
    ]
    load(t, app, tmp_path / "bundle")
    create_users(app)
    return t


def test_workshop_page_shows_reported_next_to_computed(reported, client):
    login(client, "auditor_fj")
    page = text_of(client.get(f"/workshops/{reported.post_id['CJ-A1']}"))
    assert "陈工" in page  # the roster
    march = month(page, "2025-03")
    assert "browse-month-diff" in march
    table = {r[-4].split("（")[0]: r[-3:] for r in rows(march)}
    assert table["吸纳脱贫人口数"] == ["5", "1", "+4"]
    assert table["用工总人数"] == ["1", "1", "一致"]
    assert table["工资发放总额"] == ["2,500.00", "2,500.00", "一致"]
    assert table["申领带动就业奖补"] == ["1,500.00", "500.00", "+1,000.00"]
    assert "500.00 元/人/月 × 1 人" in march
    assert 'class="browse-diff"' in march
    # months without a report show the computed figures only
    feb = [r for r in rows(page) if r and r[0].startswith("2025-02")]
    assert feb and feb[0][2] == "未上报"
    assert "LM01" in page and "LM04" in page  # its findings
    # the subsidy standard is LM04's parameter in force for the workshop's place and month
    from audit.engine.params import set_override

    set_override(db.session.connection(), rule="LM04", name="subsidy_per_person", value=60_000,
                 effective_from=dt.date(2025, 3, 1), district="奉节县", township=None, actor="test")
    db.session.commit()
    page = text_of(client.get(f"/workshops/{reported.post_id['CJ-A1']}"))
    assert "600.00 元/人/月 × 1 人" in month(page, "2025-03")
    assert "500.00 元/人/月 × 1 人" in month(page, "2025-02")


def test_workshop_list_and_operator_scope(web, client):
    login(client, "operator_cj")
    page = text_of(client.get("/workshops"))
    assert "CJ-A1" in page and "CJ-B1" not in page
    assert client.get(f"/workshops/{web.post_id['CJ-A1']}").status_code == 200
    assert client.get(f"/workshops/{web.post_id['CJ-B1']}").status_code == 404
    assert "GW-A1" not in text_of(client.get("/positions"))


# ---- imports and runs ---------------------------------------------------------------------------

def test_imports_and_runs_are_listed_for_auditors(web, client):
    # the county was loaded by someone else: an auditor sees only the batches they loaded
    login(client, "auditor_fj")
    assert 'href="/imports/' not in text_of(client.get("/imports"))
    assert client.get("/imports/1").status_code == 404
    admin = client.application.test_client()
    login(admin, "admin")
    page = text_of(admin.get("/imports"))
    assert "bundle" in page and "已导入" in page
    batch = re.search(r'href="/imports/(\d+)"', page).group(1)
    detail = text_of(admin.get(f"/imports/{batch}"))
    counts = {r[0].split(" ")[0]: r[1:] for r in rows(detail) if r and len(r) == 4}
    assert counts["人员信息"] == ["6", "0", "0"]
    assert "变更记录" in detail
    page = text_of(client.get("/runs"))
    run = re.search(r'href="/runs/(\d+)"', page).group(1)
    assert "2025-06-30" in page and "已完成" in page
    detail = text_of(client.get(f"/runs/{run}"))
    ps01 = next(r for r in rows(detail) if r and r[0] == "PS01")
    # a run covers every region: an auditor of 奉节县 sees only the findings of 奉节县 in it
    assert (ps01[2] == "已运行" and ps01[4] == "1"
            and re.search(r"发现总数（本辖区）</div><div class=\"value\">2<", detail))
    assert "未运行：缺少" in detail
    assert client.get("/runs/9999").status_code == 404
    admin = client.application.test_client()
    login(admin, "admin")
    whole = text_of(admin.get(f"/runs/{run}"))
    assert (next(r for r in rows(whole) if r and r[0] == "PS01")[4] == "2"
            and re.search(r"发现总数</div><div class=\"value\">3<", whole))


def test_imports_and_runs_are_refused_to_inspectors_and_operators(web, client, app):
    login(client, "inspector_fj")
    assert client.get("/imports").status_code == 403
    assert client.get("/runs").status_code == 403
    operator = app.test_client()
    login(operator, "operator_bd")
    assert operator.get("/imports").status_code == 403
    assert operator.get("/runs/1").status_code == 403


def test_a_batch_lists_its_changes_within_the_scope(web, app, client, tmp_path):
    from audit.ledger.importer import import_bundle

    from helpers import write_bundle

    positions = [dict(r) for r in web.county.t["positions"]]
    for r in positions:
        if r["position_code"] in ("GW-A1", "GW-B1"):
            r["monthly_wage"] = "900.00"
    result = import_bundle(write_bundle(tmp_path / "later", {"positions": positions}), engine=db.engine,
                           pii=app.extensions["pii"], actor="auditor_fj")
    assert result.ok
    batch = result.batch_id
    login(client, "auditor_fj")
    assert f'href="/imports/{batch}"' in text_of(client.get("/imports"))
    page = text_of(client.get(f"/imports/{batch}"))
    changes = [r for r in rows(page) if len(r) == 5 and r[1] == "公益性岗位"]
    assert len(changes) == 1 and "GW-A1" in changes[0][2]
    assert "800.00" in changes[0][3] and "900.00" in changes[0][4]
    assert "另有 1 条变更涉及您管辖范围以外的记录" in page
    admin = app.test_client()
    login(admin, "admin")
    page = text_of(admin.get(f"/imports/{batch}"))
    assert len([r for r in rows(page) if len(r) == 5 and r[1] == "公益性岗位"]) == 2
    assert "另有" not in page
