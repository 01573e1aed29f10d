"""A served instance for the upload checks (tests/benchmarks/check_upload_crash.py and
tests/security/test_p10_kill_upload.py): the checks, the server process, a browser that signs in and
uploads through the forms, what the database file holds, and a generated bundle."""
from __future__ import annotations

import csv
import datetime as dt
import html
import http.cookiejar
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import generate_bundle  # noqa: E402
from audit.ledger import values as v  # noqa: E402
from audit.pii import PiiCodec  # noqa: E402

LEDGER_TABLES = ("persons", "positions", "placements", "workshops", "workshop_staff", "attendance", "wages",
                 "reports", "deaths", "social_insurance", "pensions", "businesses", "officials",
                 "migrant_work")
SHOWN = ("persons", "placements", "attendance", "wages")


# ---- the checks -------------------------------------------------------------------------------------

@dataclass
class Checks:
    """Each check as it happens (printed at once), and the list for the report."""

    results: list[tuple[bool, str]] = field(default_factory=list)

    def __call__(self, ok: bool, what: str, detail: str = "") -> bool:
        self.results.append((bool(ok), what))
        print(f"  [{'通过' if ok else '失败'}] {what}{('：' + detail) if detail else ''}", flush=True)
        return bool(ok)

    @property
    def failed(self) -> list[str]:
        return [w for ok, w in self.results if not ok]


class Stop(Exception):
    """A step could not go on (its reason already recorded as a failed check)."""


# ---- the server -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One instance folder served by ``bin/run`` (or another command given as ``argv``). ``bin/run`` ends
    with ``exec audit serve``, so the process started here is the server itself: its pid is the one the
    upload jobs record."""

    def __init__(self, instance: Path, log_dir: Path, argv: list[str] | None = None, env: dict | None = None):
        self.instance = instance
        self.log_dir = log_dir
        self.argv = argv or [str(ROOT / "bin" / "run")]
        self.env = dict(env or os.environ)
        for k in ("DATABASE_URL", "AUDIT_PII_KEY", "SECRET_KEY"):  # the default set-up: the instance's own
            self.env.pop(k, None)
        self.env["AUDIT_INSTANCE_PATH"] = str(instance)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.base = ""
        self.log_path = log_dir / "server-0.log"
        self.phones: dict[str, Authenticator] = {}

    def start(self, timeout: float = 300) -> float:
        """Start it and wait until it answers; seconds taken (set-up included)."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.starts += 1
        self.log_path = self.log_dir / f"{self.instance.name}-server-{self.starts}.log"
        env = dict(self.env, HOST="127.0.0.1", PORT=str(port))
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2).read()
                return time.perf_counter() - started
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"服务器未能启动：\n{self.log_tail()}") from None
                time.sleep(0.3)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        """kill -9, and reap it (a zombie would still answer to its pid)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def browser(self, username: str = "auditor") -> Browser:
        """A new browser, signed in as that demo account."""
        b = Browser(self.base)
        b.sign_in(username, self.account(username), self.phones.setdefault(username, Authenticator()))
        return b

    def account(self, username: str) -> str:
        """A demo account's password (``instance/demo-accounts.txt``, written by ``audit demo-users``)."""
        for line in (self.instance / "demo-accounts.txt").read_text().splitlines():
            parts = line.split("\t")
            if parts[0] == username:
                return parts[1]
        raise KeyError(username)


# ---- a browser ---------------------------------------------------------------------------------------

def csrf_token(page: str) -> str:
    for tag in re.findall(r"<input[^>]*>", page):
        if 'name="csrf_token"' in tag:
            return html.unescape(re.search(r'value="([^"]*)"', tag).group(1))
    raise ValueError("页面上没有 CSRF 令牌")


class Authenticator:
    """A user's authenticator app: the secret read at enrolment; each code of a time step after the
    last one used (the server takes a step once, and one step either side of its own)."""

    def __init__(self) -> None:
        self.secret = ""
        self.last = -1

    def code(self) -> str:
        import pyotp

        while (step := max(int(time.time()) // 30 - 1, self.last + 1)) > int(time.time()) // 30 + 1:
            time.sleep(1)
        self.last = step
        return pyotp.TOTP(self.secret).at(step * 30)


class Browser:
    """One signed-in user: a cookie jar, forms posted with the page's CSRF token, redirects followed."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, path: str, data: bytes | None = None, headers: dict | None = None,
             timeout: float = 120) -> tuple[int, str, str]:
        """(status, final path, body)."""
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return resp.status, urllib.parse.urlsplit(resp.geturl()).path, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, path, exc.read().decode(errors="replace")

    def get(self, path: str) -> str:
        status, _, body = self.open(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        return body

    def json(self, path: str) -> dict:
        return json.loads(self.get(path))

    def post_form(self, page: str, action: str, fields: dict | None = None) -> tuple[int, str, str]:
        """Post the form of ``action`` as found on ``page`` (its own CSRF token)."""
        body = self.get(page)
        form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', body, re.S)
        if form is None:
            raise RuntimeError(f"{page} 上没有提交到 {action} 的表单")
        data = urllib.parse.urlencode({"csrf_token": csrf_token(form.group(1)), **(fields or {})}).encode()
        return self.open(action, data, {"Content-Type": "application/x-www-form-urlencoded"})

    def post(self, action: str, token_from: str, fields: dict | None = None) -> tuple[int, str, str]:
        """Post to ``action`` with the session's CSRF token as found on the page ``token_from``."""
        token = csrf_token(self.get(token_from))
        data = urllib.parse.urlencode({"csrf_token": token, **(fields or {})}).encode()
        return self.open(action, data, {"Content-Type": "application/x-www-form-urlencoded"})

    def sign_in(self, username: str, password: str, phone: Authenticator | None = None) -> None:
        """The login form; then, if asked (``TOTP_ENFORCE``; bin/run turns it off), the second factor:
        enrolment with the secret the page shows, or a code of ``phone``'s."""
        page = self.get("/login")
        form = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrf_token": csrf_token(page)}).encode()
        status, where, page = self.open("/login", data, {"Content-Type": form})
        if where in ("/login/totp", "/account/totp") and phone is not None:
            if where == "/account/totp":
                phone.secret = re.search(r'id="totp-secret">([^<]+)<', page).group(1).replace(" ", "")
            data = urllib.parse.urlencode({"code": phone.code(), "csrf_token": csrf_token(page)}).encode()
            status, where, page = self.open(where, data, {"Content-Type": form})
        if status != 200 or where.startswith("/login") or where == "/account/totp" and "恢复码" not in page:
            raise RuntimeError(f"登录失败：{status} {where}")

    def upload(self, name: str, data: bytes) -> int:
        """The upload form with one file; the check job's id (from the page it lands on)."""
        token = csrf_token(self.get("/uploads/"))
        boundary = uuid.uuid4().hex
        body = b"".join([
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f'Content-Type: application/zip\r\n\r\n'.encode(), data, f"\r\n--{boundary}--\r\n".encode()])
        status, where, page = self.open("/uploads/", body, timeout=600,
                                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        m = re.fullmatch(r"/uploads/(\d+)", where)
        if status != 200 or m is None:
            raise RuntimeError(f"上传未被接受：{status} {where} {re.sub(r'<[^>]+>', ' ', page)[:300]}")
        return int(m.group(1))


def job_url_on(page: str) -> int | None:
    """The job whose progress bar the page shows."""
    m = re.search(r'data-job-url="/uploads/(\d+)\.json"', page)
    return int(m.group(1)) if m else None


def follow(b: Browser, job_id: int, timeout: float = 900,
           until=None) -> tuple[dict, list[tuple[float, int, str]]]:
    """Poll a job's progress (as the page's script does) until it ends, or until ``until(state)``;
    its last state and the (seconds, per cent, message) seen."""
    started = time.monotonic()
    seen: list[tuple[float, int, str]] = []
    while True:
        state = b.json(f"/uploads/{job_id}.json")
        point = (round(time.monotonic() - started, 1), state["progress"], state["message"])
        if not seen or seen[-1][1:] != point[1:]:
            seen.append(point)
        if state["status"] in ("done", "failed") or (until and until(state)):
            return state, seen
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"任务 #{job_id} 在 {timeout:.0f} 秒内未结束：{state}")
        time.sleep(0.25)


def commit_job(b: Browser, check: int, timeout: float = 120) -> int:
    """After 确认导入 (or 重新导入): the load's job, as its page names it (the bar moves from the check,
    「正在开始导入」, to the load)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = b.get(f"/uploads/{check}")
        shown = job_url_on(page)
        if shown is not None and shown != check:
            return shown
        if shown is None:
            raise RuntimeError("按下导入后，页面没有显示导入进度（「正在开始导入」或进度条），而是："
                               + text_of(page.split("<main", 1)[-1])[:300])
        time.sleep(0.1)
    raise TimeoutError("确认导入后页面没有显示导入进度")


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# ---- the database file -------------------------------------------------------------------------------

def counts(db: Path) -> dict[str, int]:
    """Rows of every ledger table, of the import batches and of the import entries of the audit log."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LEDGER_TABLES}
        out["import_batches"] = con.execute("SELECT count(*) FROM import_batches").fetchone()[0]
        out["change_log(import.*)"] = con.execute(
            "SELECT count(*) FROM change_log WHERE action LIKE 'import.%'").fetchone()[0]
        return out
    finally:
        con.close()


def job_row(db: Path, job_id: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT id, kind, status, pid, host, message FROM jobs WHERE id = ?",
                          (job_id,)).fetchone()
        return dict(row) if row else {}
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(str(db), timeout=60)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def missing_persons(db: Path, instance: Path, bundle: Path) -> int:
    """Persons of the bundle not in the database, found by the keyed hash of their ID number."""
    pii = PiiCodec((instance / "pii.key").read_text().strip())
    with (bundle / "persons.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = csv.reader(fh)
        col = next(rows).index("id_number")
        wanted = {pii.digest(v.id_number(r[col])) for r in rows if r and r[col]}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        have = {h for (h,) in con.execute("SELECT id_hash FROM persons")}
    finally:
        con.close()
    return len(wanted - have)


def load_counts(page: str) -> dict[str, tuple[int, int, int, int]]:
    """The load's figures as its page shows them: table -> (rows, added, changed, unchanged)."""
    done = page.split("导入完成（批次 #", 1)[1].split("</section>", 1)[0]
    out = {}
    for name, cells in re.findall(r'<span class="muted small en">(\w+)</span></td>(.*?)</tr>', done, re.S):
        figures = re.findall(r'<td class="num">([\d,]+)</td>', cells)
        out[name] = tuple(int(x.replace(",", "")) for x in figures)
    return out


# ---- the scenarios ------------------------------------------------------------------------------------

@dataclass
class Bundle:
    folder: Path
    zip_bytes: bytes
    rows: dict[str, int]


def make_bundle(tmp: Path, persons: int, months: int, seed: int) -> Bundle:
    """The generator's county over the same months as the demo's (``audit demo``: up to last month)."""
    today = dt.date.today()
    year, month = today.year, today.month - months
    while month < 1:
        year, month = year - 1, month + 12
    folder = tmp / "ledger-3000"
    rows = generate_bundle(folder, persons=persons, start=dt.date(year, month, 1), months=months, seed=seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{folder.name}/{f.name}")
    return Bundle(folder, buf.getvalue(), rows)
