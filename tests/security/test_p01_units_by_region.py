"""P1 (issue 13): a unit is its district + township + name, never a bare name. Two village committees
both named 白帝村村民委员会, one in 白帝镇 and one in 草堂镇 of 奉节县, each with a month paid and not
worked (PS01), are two units: the district auditor's list of units to notify shows each on its own
row, with its own finding; an operator of one sees nothing of the other; a bare name that two units
share is refused as an operator's scope; and the migration turns stored names into keys. (They
merged into one unit when units were keyed by bare employer name.)"""
from __future__ import annotations

import re

from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from audit.database import migrations
from models import MIGRATIONS_DIR, Finding, Notice, Position, User, UserScope, db

from helpers import County
from web_helpers import PASSWORD, login

UNIT = "白帝村村民委员会"
BAIDI, CAOTANG = "奉节县/白帝镇/白帝村村民委员会", "奉节县/草堂镇/白帝村村民委员会"


def two_committees(app, people, tmp_path) -> County:
    c = County(people)
    for code, township in (("GW-1", "白帝镇"), ("GW-2", "草堂镇")):
        idn = c.person(f"{township}岗位人员", township=township)
        c.position(code, employer=UNIT, township=township)
        c.place(idn, code, "2025-01-01")
        c.month(idn, code, "2025-01")
        c.work(idn, code, "2025-02", present=0, other="缺勤")  # PS01: paid for a month of no work
        c.pay(idn, code, "2025-02")
    c.audit(app, tmp_path / "bundle", as_of="2025-06-30")
    return c


def rows_of(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r))
            for r in re.findall(r"<tr>(.*?)</tr>", html, re.S)]


def test_two_village_committees_of_the_same_name_in_two_townships_are_two_units(app, people, quick_hashes,
                                                                                 tmp_path):
    from audit.auth.services import create_user

    two_committees(app, people, tmp_path)
    create_user("auditor_fj", "auditor", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    client = app.test_client()
    login(client, "auditor_fj")

    committees = [r for r in rows_of(client.get("/notices/new").get_data(as_text=True)) if UNIT in r]
    assert len(committees) == 2, committees  # one row per committee, not one merged row
    assert any("白帝镇" in r for r in committees) and any("草堂镇" in r for r in committees)


def test_an_operator_of_one_committee_sees_nothing_of_the_other(app, people, quick_hashes, tmp_path):
    from audit.auth.services import create_user

    two_committees(app, people, tmp_path)
    create_user("operator_bd", "operator", PASSWORD, units=[f"employer:{BAIDI}"], by="test")
    db.session.commit()
    client = app.test_client()
    login(client, "operator_bd")

    page = client.get("/findings/?status=all").get_data(as_text=True)
    assert "白帝镇岗位人员" in page and "草堂镇岗位人员" not in page
    assert client.get("/attendance/").get_data(as_text=True).count("GW-") == 1  # GW-1 only
    grid = client.get("/attendance/grid",
                      query_string={"kind": "employer", "unit": CAOTANG, "month": "2025-02"})
    assert grid.status_code == 404


def test_a_bare_name_two_units_share_is_refused_as_a_scope_with_the_choices(app, people, quick_hashes,
                                                                            tmp_path,
                                                                               runner):
    two_committees(app, people, tmp_path)
    r = runner.invoke("users", "create", "op_amb", "--role", "operator", "--unit", f"employer:{UNIT}",
                      input="Correct-horse-battery-9\n")
    assert r.exit_code != 0
    assert f"有 2 个用工单位都叫「{UNIT}」" in r.output
    assert f"employer:{BAIDI}" in r.output and f"employer:{CAOTANG}" in r.output
    assert db.session.scalar(select(User.id).where(User.username == "op_amb")) is None

    r = runner.invoke("users", "create", "op_bd", "--role", "operator", "--unit", f"employer:{BAIDI}",
                      input="Correct-horse-battery-9\n")
    assert r.exit_code == 0, r.output
    assert db.session.scalar(select(UserScope.unit).join(User).where(User.username == "op_bd")) == BAIDI


def test_the_migration_turns_stored_names_into_units_of_their_own_region(app, people, quick_hashes, tmp_path,
                                                                         capfd):
    import datetime as dt

    from sqlalchemy import true

    from audit.auth.services import create_user
    from audit.rectification.services import issue

    two_committees(app, people, tmp_path)
    ids = list(db.session.scalars(select(Finding.id).where(Finding.unit == CAOTANG)))
    issue(CAOTANG, ids, dt.date.today() + dt.timedelta(days=30), by="auditor_fj", scope_clause=true())
    create_user("operator_bd", "operator", PASSWORD, units=[f"employer:{BAIDI}"], by="test")
    db.session.commit()
    migrations(app)
    try:  # back to names, as they were stored before migration 0013
        downgrade(directory=MIGRATIONS_DIR, revision="0012")
        db.session.remove()
        assert set(db.session.scalars(select(Finding.unit))) == {UNIT}
        assert db.session.scalar(select(Notice.unit)) == UNIT
    finally:
        db.session.remove()  # no transaction of the test's may hold the tables the migration alters
        upgrade(directory=MIGRATIONS_DIR)
    db.session.remove()

    units = db.session.execute(select(Position.township, Finding.unit)
                               .join(Position, Position.id == Finding.post_id)
                               ).all()
    assert {township: unit for township, unit in units} == {"白帝镇": BAIDI, "草堂镇": CAOTANG}
    assert db.session.scalar(select(Notice.unit)) == CAOTANG  # the unit of its own findings
    # the operator's bare name was shared by two units: they keep both (no access lost), and are named
    scopes = list(db.session.scalars(select(UserScope.unit).join(User).where(User.username == "operator_bd")))
    assert sorted(scopes) == [BAIDI, CAOTANG]
    assert "operator_bd: employer:白帝村村民委员会" in capfd.readouterr().out


def test_a_notice_is_addressed_by_township_and_name_however_long_the_name(app, people, quick_hashes,
                                                                          tmp_path):
    """The addressee 白帝镇 + a 126-character name is longer than a name alone could be (128 before
    migration 0013): PostgreSQL would refuse the notice if its column were not widened."""
    import datetime as dt

    from sqlalchemy import true

    from audit.rectification.services import issue

    name = "长" * 121 + "村民委员会"  # 126 characters; the addressee 129
    c = County(people)
    idn = c.person("长名单位岗位人员")
    c.position("GW-L1", employer=name, township="白帝镇")
    c.place(idn, "GW-L1", "2025-01-01")
    c.month(idn, "GW-L1", "2025-01")
    c.work(idn, "GW-L1", "2025-02", present=0, other="缺勤")
    c.pay(idn, "GW-L1", "2025-02")
    c.audit(app, tmp_path / "bundle", as_of="2025-06-30")
    key = f"奉节县/白帝镇/{name}"
    ids = list(db.session.scalars(select(Finding.id).where(Finding.unit == key)))
    assert ids
    notice = issue(key, ids, dt.date.today() + dt.timedelta(days=30), by="auditor_fj", scope_clause=true())
    db.session.commit()
    assert db.session.get(Notice, notice.id).unit_name == "白帝镇" + name
