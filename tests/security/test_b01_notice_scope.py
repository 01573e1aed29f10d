"""B1 (issue 13): a notice belongs to the region of the findings it holds — the narrowest region
they share — never to an arbitrary post of an employer of the same name. One employer, 白帝镇人民政府,
has posts in two villages of 白帝镇 (白帝村 and 黄村), each with a month paid and not worked (PS01);
the village auditors see and act on their own village's notices only."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import Finding, Notice, NoticeFinding, Post, db

from helpers import County
from web_helpers import PASSWORD, login, post, text

UNIT = "白帝镇人民政府"
UNIT_KEY = f"奉节县/白帝镇/{UNIT}"  # P1: the unit by its region
USERS = {
    "auditor_bdc": "奉节县/白帝镇/白帝村",
    "auditor_hc": "奉节县/白帝镇/黄村",
    "auditor_bdz": "奉节县/白帝镇",
    "auditor_two": ("奉节县/白帝镇/白帝村", "奉节县/白帝镇/黄村"),
}


@pytest.fixture
def villages(app, people, quick_hashes, tmp_path) -> dict[str, str]:
    """The county loaded and audited, the users made; the PS01 finding's id per village."""
    from audit.auth.services import create_user

    c = County(people)
    # 黄村's post is loaded first: an employer's "first post" is the other village's
    for code, village in (("GW-H1", "黄村"), ("GW-B1", "白帝村")):
        idn = c.person(f"{village}岗位人员", village=village)
        c.position(code, employer=UNIT)
        c.t["positions"][-1]["village"] = village
        c.place(idn, code, "2025-01-01")
        c.month(idn, code, "2025-01")
        c.work(idn, code, "2025-02", present=0, other="缺勤")  # PS01: paid for a month of no work
        c.pay(idn, code, "2025-02")
    c.audit(app, tmp_path / "bundle", as_of="2025-06-30")
    for name, scopes in USERS.items():
        create_user(name, "auditor", PASSWORD, regions=[scopes] if isinstance(scopes, str) else list(scopes),
                    by="test")
    db.session.commit()
    posts = {p.id: p.code for p in db.session.scalars(select(Post))}
    out = {}
    for f in db.session.scalars(select(Finding).where(Finding.rule == "PS01", Finding.unit == UNIT_KEY)):
        out[{"GW-H1": "黄村", "GW-B1": "白帝村"}[posts[f.post_id]]] = f.id
    assert set(out) == {"黄村", "白帝村"}
    return out


def user(app, name: str):
    c = app.test_client()
    login(c, name)
    return c


def issue(c, ids: list[str]):
    return post(c, "/notices/new",
                {"unit": UNIT_KEY, "ids": ids, **{f"act-{i}": ["dismiss_person", "recover"] for i in ids},
                                    "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat()})


def nid_of(resp) -> int:
    assert resp.status_code == 303, text(resp)[:600]
    return int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def item_of(nid: int) -> int:
    db.session.rollback()
    return db.session.scalars(select(NoticeFinding.id).where(NoticeFinding.notice_id == nid)).one()


def test_a_village_auditor_keeps_their_own_notice_and_the_other_village_cannot_touch_it(app, villages):
    mine, other = user(app, "auditor_bdc"), user(app, "auditor_hc")
    page = text(mine.get(f"/notices/new?unit={UNIT_KEY}"))
    assert "奉节县白帝镇白帝村" in page  # the region the notice will have
    nid = nid_of(issue(mine, [villages["白帝村"]]))

    # the issuing auditor sees the notice, with their own village as its region, and in the list
    r = mine.get(f"/notices/{nid}")
    assert r.status_code == 200
    assert f"{UNIT}（奉节县白帝镇白帝村）" in text(r)
    number = db.session.get(Notice, nid).number
    assert number in text(mine.get("/notices/"))

    # the other village's auditor: not found, not listed, and cannot 销号 it
    assert other.get(f"/notices/{nid}").status_code == 404
    assert number not in text(other.get("/notices/"))
    iid = item_of(nid)
    r = post(other, f"/notices/{nid}/items/{iid}/override", {"reason": "经实地核实已整改到位，准予销号"})
    assert r.status_code == 404
    assert post(other, f"/notices/{nid}/return", {"verdict": "材料不全，请补充"}).status_code == 404
    db.session.rollback()
    assert db.session.get(NoticeFinding, iid).close_basis is None
    assert db.session.get(Notice, nid).status == "issued"

    # the issuing auditor can act on it
    r = post(mine, f"/notices/{nid}/items/{iid}/override", {"reason": "经实地核实已整改到位，准予销号"})
    assert r.status_code == 303
    assert "已销号" in text(mine.get(f"/notices/{nid}"))


def test_the_other_villages_auditor_issues_their_own_notice_for_the_same_employer(app, villages):
    mine, other = user(app, "auditor_bdc"), user(app, "auditor_hc")
    a = nid_of(issue(mine, [villages["白帝村"]]))
    b = nid_of(issue(other, [villages["黄村"]]))
    assert other.get(f"/notices/{b}").status_code == 200 and mine.get(f"/notices/{b}").status_code == 404
    assert mine.get(f"/notices/{a}").status_code == 200 and other.get(f"/notices/{a}").status_code == 404


def test_a_notice_for_findings_in_two_villages_belongs_to_their_township(app, villages):
    town = user(app, "auditor_bdz")
    nid = nid_of(issue(town, [villages["白帝村"], villages["黄村"]]))
    r = town.get(f"/notices/{nid}")
    assert r.status_code == 200 and f"{UNIT}（奉节县白帝镇）" in text(r)
    for name in ("auditor_bdc", "auditor_hc"):  # neither village holds the whole notice
        assert user(app, name).get(f"/notices/{nid}").status_code == 404, name


def test_an_auditor_of_two_villages_is_told_to_issue_one_notice_per_village(app, villages):
    both = user(app, "auditor_two")
    r = issue(both, [villages["白帝村"], villages["黄村"]])
    assert r.status_code == 400
    assert "所选问题分属您管辖的不同地区" in text(r)
    db.session.rollback()
    assert db.session.scalars(select(Notice.id)).first() is None
    assert db.session.get(Finding, villages["黄村"]).status == "open"  # nothing changed
    nid = nid_of(issue(both, [villages["黄村"]]))
    assert both.get(f"/notices/{nid}").status_code == 200
