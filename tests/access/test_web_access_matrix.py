"""The ID-swap matrix: for every route that names an object (by URL, by query or by form) and for
every role, a user of another region or unit gets 403 or 404 — and changes nothing.

Objects belong to 奉节县 (and, for the township-narrowed auditor, to 永安街道); the outsiders are
the users of 巫山县 of each role, an admin narrowed to 巫山县, and an auditor of 白帝镇. Every route
is also opened once by a user who may see it, so that a broken URL cannot pass for a refusal."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from models import AuditRun, EvidenceFile, ImportBatch, Job, NoticeFinding, ReportFile, User, db

from helpers import snapshot, write_bundle
from web_helpers import BAIDI, login, post

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"

# (method, endpoint, kind of object) for every route that names one. The kinds are filled in below
# with objects of 奉节县; routes without an object (lists, the dashboard, templates) are scoped by
# their queries and covered by the list tests.
OBJECT_ROUTES = [
    ("GET", "/findings/{finding}", "auditor_fj"),
    ("POST", "/findings/{finding}/review", None),
    ("POST", "/findings/bulk", None),
    ("GET", "/persons/{person}", "auditor_fj"),
    ("POST", "/persons/{person}/reveal", None),
    ("GET", "/positions/{position}", "auditor_fj"),
    ("GET", "/workshops/{workshop}", "auditor_fj"),
    ("GET", "/imports/{batch}", "auditor_fj"),
    ("GET", "/uploads/{job}", "auditor_fj"),
    ("GET", "/uploads/{job}.json", "auditor_fj"),
    ("GET", "/uploads/{job}/errors.csv", None),
    ("POST", "/uploads/{job}/commit", None),
    ("POST", "/uploads/{job}/retry", None),
    ("GET", f"/attendance/grid?kind=employer&unit={BAIDI}&month=2025-03", "operator_bd"),
    ("GET", f"/attendance/sheet.xlsx?kind=employer&unit={BAIDI}&month=2025-03", "operator_bd"),
    ("POST", "/attendance/grid", None),
    ("POST", "/attendance/upload", None),
    ("GET", "/admin/users/{user}", "admin"),
    ("POST", "/admin/users/{user}/scopes", None),
    ("POST", "/admin/users/{user}/password", None),
    ("POST", "/admin/users/{user}/deactivate", None),
    ("POST", "/admin/users/{user}/activate", None),
    ("POST", "/admin/users/{user}/unlock", None),
    ("POST", "/admin/users/{user}/totp-reset", None),
    ("POST", "/admin/devices/{device}/revoke", None),
    ("GET", f"/notices/new?unit={BAIDI}", "auditor_fj"),
    ("POST", "/notices/new", None),
    ("GET", "/notices/{notice}", "inspector_fj"),
    ("POST", "/notices/{notice}/answer", None),
    ("POST", "/notices/{notice}/close", None),
    ("POST", "/notices/{notice}/return", None),
    ("POST", "/notices/{notice}/pdf", None),
    ("POST", "/notices/{notice}/items/{item}/close", None),
    ("POST", "/notices/{notice}/items/{item}/override", None),
    ("POST", "/notices/{notice}/items/{item}/return", None),
    ("POST", "/notices/{notice}/items/{item}/recovery", None),
    ("GET", "/notices/{notice}/files/{evidence}", "operator_bd"),
    ("GET", "/reports/{report}/download", "inspector_fj"),
    ("POST", "/reports/summary", None),
    ("POST", "/reports/ledger", None),
    ("GET", "/prechecks/{precheck}", "inspector_fj"),
    ("GET", "/prechecks/{precheck}.xlsx", "inspector_fj"),
    ("POST", "/prechecks/{precheck}/approve", None),
]
OUTSIDERS = ["auditor_ws", "inspector_ws", "operator_ws", "admin_ws"]
# The township-narrowed auditor of 白帝镇 and objects of 永安街道 in the same district.
NARROW = {"finding": None, "person": "张三", "position": "GW-A3"}
# Tables a refused request must leave as they were (the audit log gains its denial entries).
WATCHED = ("findings", "attendance", "persons", "positions", "placements", "users", "user_scopes", "jobs",
           "import_batches", "wages", "workshops", "notices", "notice_findings", "notice_responses",
           "evidence_files", "item_answers", "recoveries",
           "report_files", "device_tokens", "prechecks", "precheck_rows")


def _uses(route: str) -> set[str]:
    return {part.split("}")[0] for part in route.split("{")[1:]}


def _notice(web, app) -> dict:
    """A notice of auditor_fj to 白帝村村民委员会, answered by operator_bd with a file, and its PDF."""
    au, op = app.test_client(), app.test_client()
    login(au, "auditor_fj")
    login(op, "operator_bd")
    ps01 = web.finding("奉节县", "PS01").id
    r = post(au, "/notices/new", {"unit": BAIDI, "ids": [ps01], f"act-{ps01}": ["recover"],
                                  "deadline": "2099-12-31"})
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    nid = int(r.headers["Location"].rsplit("/", 1)[-1])
    db.session.rollback()
    item = db.session.scalar(select(NoticeFinding.id).where(NoticeFinding.notice_id == nid))
    r = post(op, f"/notices/{nid}/answer",
             {"text": "已追回违规发放的工资并更正台账。", "files": (io.BytesIO(PDF), "凭证.pdf"),
                                            f"a-{item}-action": "ledger_corrected"},
             content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    assert post(au, f"/notices/{nid}/pdf").status_code == 303
    db.session.rollback()
    return {"notice": nid, "item": item, "evidence": db.session.scalar(select(EvidenceFile.id)),
            "report": db.session.scalar(select(ReportFile.id))}


@pytest.fixture
def objects(web, app, tmp_path):
    """An upload job of auditor_fj, a notice with its answer and PDF, and the ids of 奉节县's objects."""
    c = app.test_client()
    login(c, "auditor_fj")
    death = [{"id_number": web.ids["李小花"], "death_date": "2025-03-20"}]
    folder = write_bundle(tmp_path / "deaths", {"deaths": death})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(folder / "deaths.csv", "deaths.csv")
    r = post(c, "/uploads/", {"files": (io.BytesIO(buf.getvalue()), "deaths.zip")},
             content_type="multipart/form-data")
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:500]
    db.session.rollback()
    job = db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1))
    batch = db.session.scalar(select(ImportBatch.id).order_by(ImportBatch.id).limit(1))
    db.session.execute(ImportBatch.__table__.update().values(actor="auditor_fj"))  # as if they loaded it
    db.session.commit()
    return {
        "finding": web.finding("奉节县", "PS01").id, "person": web.person_id["王大山"],
        "position": web.post_id["GW-A1"], "workshop": web.post_id["CJ-A1"], "batch": batch, "job": job,
        "user": db.session.scalar(select(User.id).where(User.username == "auditor_fj")),
        "run": db.session.scalar(select(AuditRun.id)),
        "device": _device(),
        "precheck": _precheck(web, app),
        **_notice(web, app),
    }


def _precheck(web, app) -> int:
    """A pre-check of auditor_fj (发放前校验): 李小花's April on GW-A2, drafted through the web."""
    c = app.test_client()
    login(c, "auditor_fj")
    draft = (f"id_number,post_code,period,amount\n{web.ids['李小花']},GW-A2,2025-04,800.00\n").encode()
    r = post(c, "/prechecks/", {"file": (io.BytesIO(draft), "工资发放表.csv"), "as_of": "2025-05-10"},
             content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    return int(r.headers["Location"].rsplit("/", 1)[-1])


def _device() -> int:
    """A device token of 白帝村村民委员会 (audit/devices): only a system admin may revoke it."""
    from audit.devices.services import create_token

    tok, _ = create_token("白帝村考勤机", BAIDI, by="test")
    db.session.commit()
    return tok.id


def _form(web, objects, route: str) -> dict:
    pid, a1 = web.person_id["王大山"], web.post_id["GW-A1"]
    if route == "/findings/bulk":
        return {"action": "confirm", "ids": [objects["finding"]]}
    if route.endswith("/review"):
        return {"action": "dismiss", "note": "越权测试：不应生效"}
    if route.startswith("/attendance/"):
        data = {"kind": "employer", "unit": BAIDI, "month": "2025-02", f"c-{pid}-{a1}-3": "出勤"}
        if route.endswith("upload"):
            data["file"] = (io.BytesIO(b"\xe5\xb2\x97\xe4\xbd\x8d\xe7\xbc\x96\xe5\x8f\xb7\n"), "sheet.csv")
        return data
    if route.endswith("/scopes"):
        return {"scopes": "巫山县"}
    if route.endswith("/password"):
        return {"password": "taken-over-123", "confirm": "taken-over-123"}
    if route == "/notices/new":
        return {"unit": BAIDI, "ids": [web.finding("奉节县", "PS02").id], "deadline": "2099-12-31"}
    if route.endswith("/answer"):
        return {"text": "越权回复：不应生效的整改情况。", "files": (io.BytesIO(PDF), "越权.pdf")}
    if "/items/" in route:
        return {"reason": "越权测试：不应生效", "amount": "100.00", "date": "2025-06-01"}
    if route.endswith(("/close", "/return")):
        return {"verdict": "越权测试：不应生效"}
    if route.endswith("/approve"):
        return {"verdicts": "pass_hold", "confirm": "1"}
    if route.startswith("/reports/"):
        return {"district": "奉节县", "period": "2025-01:2025-06"}
    return {}


def _url(route: str, values: dict) -> str:
    return route.format(**{k: values[k] for k in _uses(route)})


def test_every_object_route_refuses_users_of_another_region_or_unit(web, objects, app):
    before = snapshot(db.engine)
    wrong = []
    for username in OUTSIDERS:
        c = app.test_client()
        login(c, username)
        for method, route, _ in OBJECT_ROUTES:
            url = _url(route, objects)
            if method == "GET":
                r = c.get(url)
            else:
                data = _form(web, objects, route)
                r = post(c, url, data, content_type="multipart/form-data" if {"file", "files"} & set(data)
                         else None)
            if r.status_code not in (403, 404):
                wrong.append(f"{username} {method} {url} -> {r.status_code}")
    db.session.rollback()
    after = snapshot(db.engine)
    assert not wrong, "\n".join(wrong)
    assert {t: after[t] for t in WATCHED} == {t: before[t] for t in WATCHED}


def test_a_township_auditor_cannot_reach_the_rest_of_the_district(web, objects, app):
    narrow = dict(objects, person=web.person_id[NARROW["person"]], position=web.post_id[NARROW["position"]])
    c = app.test_client()
    login(c, "auditor_bd")
    for url in (f"/persons/{narrow['person']}", f"/positions/{narrow['position']}"):
        assert c.get(url).status_code == 404, url
    assert post(c, f"/persons/{narrow['person']}/reveal").status_code == 404
    # and what lies in 白帝镇 opens
    assert c.get(f"/persons/{objects['person']}").status_code == 200
    assert c.get(f"/findings/{objects['finding']}").status_code == 200


def test_every_object_route_opens_for_a_user_who_may_see_it(web, objects, app):
    """The matrix above is meaningful: the same URLs answer 200 to someone in scope."""
    for _method, route, insider in OBJECT_ROUTES:
        if insider is None:
            continue
        c = app.test_client()
        login(c, insider)
        url = _url(route, objects)
        r = c.get(url)
        assert r.status_code == 200, f"{insider} {url} -> {r.status_code}"


def test_the_route_table_is_covered(app):
    """A new route that takes an object id must be added to the matrix."""
    covered = {r.split("?")[0].replace("{finding}", "<fid>").replace("{person}", "<int:pid>")
               .replace("{position}", "<int:post_id>").replace("{workshop}", "<int:post_id>")
               .replace("{batch}", "<int:batch_id>").replace("{job}", "<int:job_id>")
               .replace("{user}", "<int:uid>")
               .replace("{notice}", "<int:nid>").replace("{item}", "<int:iid>")
               .replace("{evidence}", "<int:fid>").replace("{report}", "<int:rid>")
               .replace("{device}", "<int:device_id>")
               .replace("{precheck}", "<int:precheck_id>")
               for _, r, _ in OBJECT_ROUTES}
    # system-wide objects: a run covers every region (its page shows each user only their own
    # scope's figures); templates are the same for everyone
    # scope's figures); templates are the same for everyone; the findings export names a format, and
    # its rows are the user's scope (tests/findings/test_web_export.py)
    # a replay, like a run, covers every region: its page and its Excel show each user their scope's
    # findings only; a replay's job answers its owner alone (tests/replay/test_replay.py)
    exempt = {"/runs/<int:run_id>", "/uploads/templates/<name>", "/findings/export.<fmt>",
              "/replay/<int:replay_id>", "/replay/<int:replay_id>.xlsx", "/replay/jobs/<int:job_id>"}
    with_args = {r.rule for r in app.url_map.iter_rules() if r.arguments and r.endpoint != "static"}
    assert with_args - covered - exempt == set()
