"""B11 (issue 13): asking for an object outside one's scope answers 404 (the page does not say
whether it exists) and is logged like a 403 denial, naming the object asked for: a finding, a
notice, a person, a post, a workshop, an upload job of another user."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import ChangeLog, Person, db

from web_helpers import login, post

UNIT = "奉节县/白帝镇/白帝村村民委员会"


def denials(actor: str) -> list[ChangeLog]:
    db.session.rollback()
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.action == "access.denied",
                                                           ChangeLog.actor == actor).order_by(ChangeLog.id)))


def signed_in(app, name: str):
    c = app.test_client()
    login(c, name)
    return c


def test_out_of_scope_objects_answer_404_and_are_logged(app, web):
    finding = web.finding("奉节县", "PS01")
    person_id = web.person_id["王大山"]
    c = signed_in(app, "auditor_ws")  # 巫山县 only
    asked = {
        f"/findings/{finding.id}": finding.id,
        f"/persons/{person_id}": str(person_id),
    }
    for path, what in asked.items():
        assert c.get(path).status_code == 404, path
        entry = denials("auditor_ws")[-1]
        assert entry.new["path"] == path and entry.new["status"] == 404
        assert what in (entry.row_ref or ""), entry.row_ref  # the log says what was asked
    # a change asked for is refused, logged, and changes nothing
    n = len(denials("auditor_ws"))
    assert post(c, f"/findings/{finding.id}/review", {"action": "confirm"}).status_code == 404
    assert len(denials("auditor_ws")) == n + 1  # one entry per request
    assert denials("auditor_ws")[-1].new["method"] == "POST"


def test_another_units_notice_answers_404_and_is_logged(app, web):
    auditor = signed_in(app, "auditor_fj")
    ps01 = web.finding("奉节县", "PS01")
    r = post(auditor, "/notices/new", {
        "unit": UNIT, "ids": [ps01.id], f"act-{ps01.id}": ["recover"],
        "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat(), "requirements": "请附缴款凭证。"})
    assert r.status_code == 303
    nid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    other = signed_in(app, "auditor_ws")
    assert other.get(f"/notices/{nid}").status_code == 404
    entry = denials("auditor_ws")[-1]
    assert entry.new["status"] == 404 and str(nid) in entry.row_ref and "notice" in entry.row_ref


def test_a_missing_object_is_logged_with_what_was_asked(app, web):
    c = signed_in(app, "auditor_fj")
    db.session.rollback()
    missing = (db.session.scalar(select(Person.id).order_by(Person.id.desc())) or 0) + 1000
    assert c.get(f"/persons/{missing}").status_code == 404
    entry = denials("auditor_fj")[-1]
    assert entry.new["path"] == f"/persons/{missing}" and str(missing) in entry.row_ref


def test_the_denial_shows_in_the_administrators_log(app, web):
    finding = web.finding("奉节县", "PS01")
    assert signed_in(app, "operator_ws").get(f"/findings/{finding.id}").status_code == 404
    admin = signed_in(app, "admin")
    page = admin.get("/admin/log", query_string={"action": "access.denied"}).get_data(as_text=True)
    assert "越权访问被拒" in page and f"/findings/{finding.id}" in page
