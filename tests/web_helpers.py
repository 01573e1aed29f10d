"""Web test data: two districts (奉节县 and 巫山县), each with public posts, a workshop and planted
findings, and a user of every role scoped to each; sign-in and CSRF helpers for the test client."""
from __future__ import annotations

import io
import os
import re
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Finding, Person, Post, User, db

from helpers import County, People

PASSWORD = "correct-horse-42"

# the employing units of ``two_districts`` by their keys (``models.unit_key``: district/township/name)
BAIDI = "奉节县/白帝镇/白帝村村民委员会"
GUIJING = "奉节县/永安街道/桂井社区居民委员会"
QUCHI = "巫山县/巫峡镇/曲尺村村民委员会"

# username -> (role, scopes)
USERS = {
    "admin": ("admin", []),
    "admin_ws": ("admin", ["巫山县"]),  # a county admin in a city's system: reads 巫山县 only
    "auditor_fj": ("auditor", ["奉节县"]),
    "auditor_ws": ("auditor", ["巫山县"]),
    "auditor_bd": ("auditor", ["奉节县/白帝镇"]),
    "inspector_fj": ("inspector", ["奉节县"]),
    "inspector_ws": ("inspector", ["巫山县"]),
    "operator_bd": ("operator", [f"employer:{BAIDI}"]),
    "operator_cj": ("operator", ["workshop:CJ-A1"]),
    "operator_ws": ("operator", [f"employer:{QUCHI}", "workshop:CJ-B1"]),
}


@dataclass
class TwoDistricts:
    """What the fixture made: ID numbers by name, and after ``load``: database ids."""

    county: County
    ids: dict[str, str] = field(default_factory=dict)  # name -> ID number
    person_id: dict[str, int] = field(default_factory=dict)  # name -> persons.id
    post_id: dict[str, int] = field(default_factory=dict)  # code -> posts.id
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # district -> findings

    def finding(self, district: str, rule: str) -> Finding:
        return next(f for f in self.findings[district] if f.rule == rule)


def two_districts(people: People) -> TwoDistricts:
    c = County(people)
    t = TwoDistricts(c)
    # 奉节县 白帝镇: two posts of 白帝村村民委员会; one in 永安街道; a workshop
    t.ids["王大山"] = a = c.person("王大山")
    t.ids["李小花"] = b = c.person("李小花", "1982-11-30", False)
    t.ids["张三"] = z = c.person("张三", "1990-07-15", township="永安街道", village="桂井社区")
    t.ids["陈工"] = w = c.person("陈工", "1985-01-20")
    c.position("GW-A1")
    c.position("GW-A2", title="护林员")
    c.position("GW-A3", employer="桂井社区居民委员会", township="永安街道", kind="城镇公益性岗位")
    c.workshop("CJ-A1", baseline=1)
    c.place(a, "GW-A1", "2025-01-01")
    c.place(b, "GW-A2", "2025-01-01")
    c.place(z, "GW-A3", "2025-01-01")
    c.staff("CJ-A1", w, "2024-10-01")
    for m in ("2025-01", "2025-02", "2025-03"):
        c.month(b, "GW-A2", m)
        c.month(z, "GW-A3", m)
        c.month(w, "CJ-A1", m)
    c.month(a, "GW-A1", "2025-01")
    c.work(a, "GW-A1", "2025-02", present=0, other="缺勤")  # PS01: paid for a month of no work
    c.pay(a, "GW-A1", "2025-02")
    c.work(a, "GW-A1", "2025-03", present=10)  # PS02: paid in full for half the days
    c.pay(a, "GW-A1", "2025-03")
    # 巫山县 巫峡镇 曲尺村: its own post and workshop, with a phantom salary too
    t.ids["刘一"] = d = c.person("刘一", "1979-04-04", township="巫峡镇", village="曲尺村")
    t.ids["赵二"] = e = c.person("赵二", "1988-08-08", township="巫峡镇", village="曲尺村")
    c.position("GW-B1", employer="曲尺村村民委员会", township="巫峡镇")
    c.workshop("CJ-B1", baseline=1)
    c.place(d, "GW-B1", "2025-01-01")
    c.staff("CJ-B1", e, "2024-10-01")
    c.month(d, "GW-B1", "2025-01")
    c.work(d, "GW-B1", "2025-02", present=0, other="缺勤")
    c.pay(d, "GW-B1", "2025-02")
    for m in ("2025-01", "2025-02", "2025-03"):
        c.month(e, "CJ-B1", m)
    for row in c.t["persons"]:
        if row["township"] == "巫峡镇":
            row["district"] = "巫山县"
    for row in c.t["positions"]:
        if row["position_code"] == "GW-B1":
            row.update(district="巫山县", village="曲尺村")
        if row["position_code"] == "GW-A3":
            row.update(village="桂井社区")
    for row in c.t["workshops"]:
        if row["workshop_code"] == "CJ-B1":
            row.update(district="巫山县", township="巫峡镇", village="曲尺村", name="曲尺村帮扶车间",
                       operator="巫山县曲尺农业专业合作社")
    return t


def load(t: TwoDistricts, app, folder: Path, as_of: str = "2025-06-30") -> TwoDistricts:
    t.county.audit(app, folder, as_of=as_of)
    pii = app.extensions["pii"]
    db.session.rollback()
    by_id = {v: k for k, v in t.ids.items()}
    for p in db.session.scalars(select(Person)):
        t.person_id[by_id[pii.decrypt(p.id_enc)]] = p.id
    t.post_id = {p.code: p.id for p in db.session.scalars(select(Post))}
    for f in db.session.scalars(select(Finding)):
        t.findings.setdefault(f.district, []).append(f)
    return t


def share_account(t: TwoDistricts, holder: str, other: str, period: str) -> None:
    """``other`` is paid for ``period`` into ``holder``'s account (IM04 for both of them)."""
    c = t.county
    for w in c.t["wages"]:
        if w["id_number"] == t.ids[other] and w["period"] == period:
            w["account_number"] = c.accounts[t.ids[holder]]


def create_users(app) -> None:
    from audit.auth.services import create_user

    for name, (role, scopes) in USERS.items():
        create_user(name, role, PASSWORD, regions=[s for s in scopes if ":" not in s],
                    units=[s for s in scopes if ":" in s], by="test")
    db.session.commit()


def text(resp) -> str:
    """A page's text as a reader reads it: tags out, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def user(name: str) -> User:
    """The user's row as the requests left it (a rollback sees what they committed)."""
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username == name))


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def token(client, path: str = "/dashboard/") -> str:
    """A CSRF token of the signed-in client's session (from any page's meta tag)."""
    return csrf_from(client.get(path).get_data(as_text=True))


def post(client, path: str, data: dict | None = None, **kw):
    data = dict(data or {})
    data.setdefault("csrf_token", token(client))
    return client.post(path, data=data, **kw)


class RequestClient(FlaskClient):
    """Each request in an application context of its own, as in a server (the ``app`` fixture's
    context would otherwise carry ``g``, the signed-in user and the database session from one
    request, and one client, to the next)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


# ---- ledger uploads through the web --------------------------------------------------------------

def zip_folder(folder: Path) -> bytes:
    """A bundle folder as a zip, its files under the folder's own name (as people zip a folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{folder.name}/{f.name}")
    return buf.getvalue()


def upload_zip(client, data: bytes, name: str = "bundle.zip") -> int:
    """Upload a zipped bundle for its check (dry run); the upload job's id."""
    resp = client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": (io.BytesIO(data), name), "csrf_token": token(client, "/uploads/")})
    assert resp.status_code == 303, resp.status_code
    return int(re.search(r"/uploads/(\d+)$", resp.headers["Location"]).group(1))


def wait_upload(client, job_id: int, timeout: float = 120) -> dict:
    """Poll an upload job's state until it is done or failed; its final state."""
    from audit.uploads import jobs

    deadline = time.monotonic() + timeout
    while client.get(f"/uploads/{job_id}.json").get_json()["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job_id
        time.sleep(0.05)
    jobs.wait(job_id)
    return client.get(f"/uploads/{job_id}.json").get_json()


# The browser tests' one set-up (the fixtures ``browser``, ``live`` and ``page_for`` are in conftest.py)
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "artifacts" / "screenshots"
# Outside CI a machine without Chromium skips these; in CI (where bin/setup installed it) they must run.
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists()
                                    and os.environ.get("CI", "").lower() != "true",
                                    reason="Debian's chromium is not installed (bin/setup installs it)")


def shot(page, name: str, request, folder: Path = SHOTS) -> None:
    """A full-page screenshot named after the step and the backend, kept for review."""
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("database_url", "db") if callspec else "db"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{backend}.png"), full_page=True)


@contextmanager
def served(app):
    """The app on a free local port, in a thread of its own (each request gets its own context):
    its URL, for a browser test."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
