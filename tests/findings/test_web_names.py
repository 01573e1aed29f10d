"""What a reader reads on the findings pages: people by name with the masked ID beside, posts by
name, rules with their titles, money shared with other findings said once, and nobody named who
lies outside the reader's regions (IM04's other account holders, IM02's co-signers)."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import Finding, Person, db

import web_helpers as wh
from demo_web import mask, two_district_demo
from helpers import County
from web_helpers import RequestClient, create_users, load, two_districts


def text(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _masked(idn: str) -> str:
    return idn[:6] + "********" + idn[-4:]


def _finding(rule: str, person_id: int) -> Finding:
    db.session.rollback()
    return db.session.scalars(select(Finding)
                              .where(Finding.rule == rule, Finding.person_id == person_id)).one()


def test_im04_names_only_the_people_of_the_readers_district(app, people, quick_hashes, tmp_path):
    t = two_districts(people)
    a, d = t.ids["王大山"], t.ids["刘一"]
    # 刘一 (巫山县) is paid for 2025-02 into the account of 王大山 (奉节县), who is paid there that month too
    wh.share_account(t, "王大山", "刘一", "2025-02")
    load(t, app, tmp_path / "bundle")
    create_users(app)
    fa, fb = _finding("IM04", t.person_id["王大山"]), _finding("IM04", t.person_id["刘一"])

    client = RequestClient(app)
    wh.login(client, "auditor_fj")
    page = text(client.get(f"/findings/{fa.id}"))
    assert "王大山" in page and _masked(a) in page
    assert "另有 1 人不在您的管辖范围" in page
    assert "刘一" not in page and _masked(d) not in page  # neither in the evidence nor in the explanation
    assert client.get(f"/findings/{fb.id}").status_code == 404

    # the other district's auditor sees the mirror image; a reader of every region sees both
    other = RequestClient(app)
    wh.login(other, "auditor_ws")
    page = text(other.get(f"/findings/{fb.id}"))
    assert "刘一" in page and "另有 1 人不在您的管辖范围" in page and "王大山" not in page
    admin = RequestClient(app)
    wh.login(admin, "admin")
    page = text(admin.get(f"/findings/{fa.id}"))
    assert "王大山" in page and "刘一" in page and _masked(d) in page and "不在您的管辖范围" not in page


def test_im02_names_the_co_signers_with_their_days_as_ranges(app, people, quick_hashes, tmp_path):
    t = two_districts(people)
    c: County = t.county
    phone = "13812345678"
    a, b, z = t.ids["王大山"], t.ids["李小花"], t.ids["张三"]
    days = {"2025-03-03", "2025-03-04", "2025-03-05", "2025-03-07"}
    for r in c.t["attendance"]:
        if r["id_number"] in (a, b, z) and r["work_date"] in days and r["status"] == "出勤":
            r.update(method="小程序定位", device_id=phone, verified="")
    load(t, app, tmp_path / "bundle")
    create_users(app)
    f = _finding("IM02", t.person_id["李小花"])

    client = RequestClient(app)
    wh.login(client, "auditor_fj")
    page = text(client.get(f"/findings/{f.id}"))
    assert "同一手机签到的其他人员" in page
    for name, idn in (("王大山", a), ("张三", z)):
        assert name in page and _masked(idn) in page
    assert "3月3日–3月5日、3月7日" in page  # the days, grouped into runs
    assert "2025-03-04" not in page  # no wall of dates
    assert phone not in page


def test_findings_pages_read_names_not_codes_on_the_demo_county(app, quick_hashes, tmp_path):
    planted = two_district_demo(app, tmp_path / "county")
    create_users(app)
    client = RequestClient(app)
    wh.login(client, "auditor_fj")

    listing = text(client.get("/findings/?rule=PS01&sort=amount"))
    # a person's name with the masked ID beside it, a post's name with its code, a rule with its title
    pairs = {(p.name, p.id_masked) for p in db.session.scalars(select(Person))}
    assert any(f"{n} {m}" in listing for n, m in pairs)
    assert re.search(r"(保洁员|护林员|护路员|水管员|治安协管员|公共服务协管员)（GW\S+）", listing)
    assert "PS01 发放工资的月份没有任何出勤" in listing

    # PS01 and PS04 on the same month's pay of a dead man: the PS01 page says the money overlaps
    by_month = {(f.person_id, f.post_id, tuple(f.periods)): f
                for f in db.session.scalars(select(Finding).where(Finding.rule == "PS04"))}
    ps01 = next(f for f in db.session.scalars(select(Finding).where(Finding.rule == "PS01")
                                              .order_by(Finding.id))
                if (f.person_id, f.post_id, tuple(f.periods)) in by_month)
    page = text(client.get(f"/findings/{ps01.id}"))
    assert "与 PS04 死亡后仍发放工资 重叠，不重复计算" in page
    assert "PS01 发放工资的月份没有任何出勤" in page
    person = db.session.get(Person, ps01.person_id)
    assert f"{person.name}（{person.id_masked}）" in page

    # the cross-district IM04: the 奉节县 auditor reads the 奉节县 holder only
    near_idn, near_name = planted["near"]
    far_idn, far_name = planted["far"]
    near = db.session.scalars(select(Person).where(Person.id_masked == mask(near_idn),
                                                   Person.name == near_name)).one()
    im04 = db.session.scalars(select(Finding)
                              .where(Finding.rule == "IM04", Finding.person_id == near.id)).one()
    page = text(client.get(f"/findings/{im04.id}"))
    assert near_name in page and "另有 1 人不在您的管辖范围" in page
    assert far_name not in page and mask(far_idn) not in page
