"""B2 (issue 13): an upload must not pull another region's person into the uploader's scope.

An auditor sees — and may reveal the full ID and account numbers of — a person who lives in their
regions or holds (or held) a post or a workshop job there. So a placements or workshop_staff row
naming a person of another region on one of the uploader's posts, or a persons row moving such a
person into the uploader's region, would hand the uploader that person's numbers. The web fixture
has two districts: 奉节县 (auditor_fj) and 巫山县 (auditor_ws); 刘一 (巫山县) holds GW-B1, 赵二
(巫山县) works in CJ-B1.
"""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from models import ChangeLog, Person, Placement, WorkshopStaff, db

from helpers import write_bundle
from web_helpers import login, post, upload_zip, wait_upload, zip_folder

ELSEWHERE = ("该人员不在您的管辖范围内，不能由您上传其安置或用工记录；新登记的人员请一并填入人员信息表；"
             "如此人登记在其他地区，请由人员所在地的审计人员上传，或由管理员处理。")


def error_rows(html: str) -> list[tuple[str, ...]]:
    """The errors table as the user reads it: (table, row, column, value, reason)."""
    m = re.search(r'<table class="[^"]*errors-table">(.*?)</table>', html, re.S)
    if not m:
        return []
    return [tuple(re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S))[:5]
            for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)[1:]]


def check(client, folder: Path, tables: dict) -> tuple[int, str]:
    """Upload the tables as a zip; (the check job, its page) once the check is done."""
    job = upload_zip(client, zip_folder(write_bundle(folder, tables)))
    assert wait_upload(client, job)["status"] == "done"
    return job, client.get(f"/uploads/{job}").get_data(as_text=True)


def placements_of(pid: int) -> list[str]:
    db.session.rollback()
    return [p.position_id for p in db.session.scalars(select(Placement).where(Placement.person_id == pid))]


def test_a_placement_of_another_regions_person_is_refused_and_reveals_nothing(web, client, tmp_path):
    liu, zhao, pid = web.ids["刘一"], web.ids["赵二"], web.person_id["刘一"]
    login(client, "auditor_fj")  # 奉节县
    assert post(client, f"/persons/{pid}/reveal").status_code == 404  # not in scope to begin with

    job, html = check(client, tmp_path / "b", {
        "placements": [{"id_number": liu, "position_code": "GW-A1", "start_date": "2025-05-01"}],
        "workshop_staff": [{"workshop_code": "CJ-A1", "id_number": zhao, "start_date": "2025-05-01"}]})
    assert "导入被拒绝" in html and "确认导入" not in html
    rows = error_rows(html)
    assert [r[:3] for r in rows] == [("安置台账", "2", "身份证号"), ("车间用工花名册", "2", "身份证号")]
    assert {r[4] for r in rows} == {ELSEWHERE}
    # nothing of the person beyond what was typed: not the name, not the region, not the full number
    assert "刘一" not in html and "赵二" not in html and "巫山县" not in html and liu not in html
    # the commit is refused too; the person stays out of the uploader's reach
    assert post(client, f"/uploads/{job}/commit").status_code == 303  # back to the page, refused
    assert placements_of(pid) == [web.post_id["GW-B1"]]
    assert post(client, f"/persons/{pid}/reveal").status_code == 404
    assert liu not in client.get(f"/persons/{pid}").get_data(as_text=True)


def test_an_unknown_id_reads_the_same_as_another_regions_person(web, people, client, tmp_path):
    """The refusal does not tell an ID number of another region from one the system does not know."""
    stranger = people.id("1991-02-03")
    login(client, "auditor_fj")
    _, html = check(client, tmp_path / "b", {"placements": [
        {"id_number": web.ids["刘一"], "position_code": "GW-A1", "start_date": "2025-05-01"},
        {"id_number": stranger, "position_code": "GW-A1", "start_date": "2025-05-01"}]})
    rows = error_rows(html)
    assert [(r[1], r[4]) for r in rows] == [("2", ELSEWHERE), ("3", ELSEWHERE)]  # one error each, alike
    assert "共有 2 处错误" in html


def test_a_persons_row_cannot_move_another_regions_person_in(web, app, people, client, tmp_path):
    from audit.ledger.importer import import_bundle

    liu = web.ids["刘一"]
    # 孙三 has no district on file (loaded by the system) and works on 巫山县's post GW-B1
    sun = people.id("1970-09-09")
    result = import_bundle(write_bundle(tmp_path / "sys", {
        "persons": [{"id_number": sun, "name": "孙三"}],
        "placements": [{"id_number": sun, "position_code": "GW-B1", "start_date": "2025-01-01"}]}),
        engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors]
    login(client, "auditor_fj")
    job, html = check(client, tmp_path / "b", {"persons": [
        {"id_number": liu, "name": "刘一", "district": "奉节县", "township": "白帝镇", "village": "白帝村"},
        {"id_number": sun, "name": "孙三", "district": "奉节县", "township": "白帝镇", "village": "白帝村"}]})
    rows = error_rows(html)
    assert [(r[0], r[1]) for r in rows] == [("人员信息", "2"), ("人员信息", "3")]
    assert all("不在您的管辖范围内" in r[4] and "巫山县" not in r[4] for r in rows)
    db.session.rollback()
    assert {p.district for p in db.session.scalars(select(Person).where(Person.name.in_(["刘一", "孙三"])))} \
        == {"巫山县", None}


def test_the_uploaders_own_people_and_newcomers_are_placed_as_before(web, app, people, client, tmp_path):
    from audit.ledger.importer import import_bundle

    # 周四 lives in 巫山县 but already works on 奉节县's post GW-A1: 奉节县's auditor sees them
    zhou = people.id("1984-04-04")
    result = import_bundle(write_bundle(tmp_path / "sys", {
        "persons": [{"id_number": zhou, "name": "周四", "district": "巫山县", "township": "巫峡镇"}],
        "placements": [{"id_number": zhou, "position_code": "GW-A1", "start_date": "2025-01-01",
                        "end_date": "2025-03-31"}]}), engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors]
    newcomer = people.id("1995-05-05")
    login(client, "auditor_fj")
    job, html = check(client, tmp_path / "b", {
        "persons": [{"id_number": newcomer, "name": "新人", "district": "奉节县", "township": "白帝镇"}],
        "placements": [
            {"id_number": web.ids["王大山"], "position_code": "GW-A2", "start_date": "2025-05-01"},
            {"id_number": zhou, "position_code": "GW-A2", "start_date": "2025-05-01"},  # held one here before
            {"id_number": newcomer, "position_code": "GW-A1", "start_date": "2025-05-01"}],
        "workshop_staff": [{"workshop_code": "CJ-A1", "id_number": newcomer, "start_date": "2025-05-01"}]})
    assert "检查通过" in html, error_rows(html)
    assert post(client, f"/uploads/{job}/commit").status_code == 303
    wait_upload(client, job)
    db.session.rollback()
    new = db.session.scalar(select(Person).where(Person.name == "新人"))
    assert new is not None and new.district == "奉节县"
    assert db.session.scalar(select(WorkshopStaff).where(WorkshopStaff.person_id == new.id)) is not None
    assert len(placements_of(new.id)) == 1


def test_the_system_import_on_the_server_is_not_limited(web, runner, tmp_path):
    """``audit import`` on the server names no signed-in user: it loads any region's rows."""
    pid = web.person_id["刘一"]
    folder = write_bundle(tmp_path / "cli", {"placements": [
        {"id_number": web.ids["刘一"], "position_code": "GW-A1", "start_date": "2025-05-01"}]})
    res = runner.invoke("import", str(folder), "--actor", "管理员")
    assert res.exit_code == 0, res.output
    assert sorted(placements_of(pid)) == sorted([web.post_id["GW-A1"], web.post_id["GW-B1"]])


def test_revealing_needs_the_person_in_scope_and_is_logged(web, client):
    pid, liu = web.person_id["刘一"], web.ids["刘一"]
    login(client, "auditor_fj")
    assert post(client, f"/persons/{pid}/reveal").status_code == 404
    client.post("/logout", data={"csrf_token": re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/findings/").get_data(as_text=True)).group(1)})
    login(client, "auditor_ws")
    resp = post(client, f"/persons/{pid}/reveal")
    assert resp.status_code == 200 and liu in resp.get_data(as_text=True)
    db.session.rollback()
    logged = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "pii.view",
                                                        ChangeLog.row_id == pid)).all()
    assert [e.actor for e in logged] == ["auditor_ws"]
