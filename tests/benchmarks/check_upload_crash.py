#!/usr/bin/env python
"""Check: a web upload of a 3,000-person bundle on the default SQLite set-up, and its kill -9 recovery.

    .venv/bin/python tests/benchmarks/check_upload_crash.py [--persons 3000] [--months 12] [--seed 7]
        [--keep]

Two instances, each in a temporary folder and each set up and served exactly as a new user gets it:
``bin/run`` (bin/setup, the demo county, an audit run, the demo accounts, then ``audit serve``, the
Werkzeug server, which runs upload jobs in threads of its own process) with ``AUDIT_INSTANCE_PATH`` and
``PORT`` set, the database the default ``instance/audit.sqlite``, the keys the instance's own files.

1. The whole upload: the auditor signs in through the login form, uploads a generated bundle (the
   project's generator, ``--persons`` people, a ``.zip`` of several MB) through the upload form, follows
   the check, presses 确认导入, follows the load; then, through SQL on the database file: every person of
   the bundle is there (by the keyed hash of the ID number), each table grew by what the load says it
   added, and added + changed + unchanged is the bundle's row count.
2. Kill -9: on a fresh instance, the check is killed half way (kill -9 of the server process, which the
   job names as its pid), the server started again (``bin/run`` again), the page must say the check was
   cut off and offer 重新检查 (``/uploads/<id>/retry``); the check again; then 确认导入, and the load
   killed half way. Nothing of it may be in the database (every ledger table, the import batches and the
   import entries of the audit log as before; ``PRAGMA integrity_check``), the restarted server must show
   the load failed with the reason and offer 重新导入, which must load everything: the same counts as the
   first instance, ``audit verify-log`` clean.

Prints the figures and a report; the exit code is 1 if any check failed. Server logs are kept with
``--keep`` (the temporary folder is printed).
"""
from __future__ import annotations

import argparse
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
import tempfile
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


def upload_and_check(b: Browser, bundle: Bundle, check: Checks, label: str) -> tuple[int, float]:
    started = time.perf_counter()
    job = b.upload(f"{bundle.folder.name}.zip", bundle.zip_bytes)
    up = time.perf_counter() - started
    state, seen = follow(b, job)
    took = time.perf_counter() - started
    page = b.get(f"/uploads/{job}")
    if not check(state["status"] == "done" and "检查通过" in page, f"{label}：检查通过",
                 f"上传 {up:.1f} s，检查共 {took:.1f} s，进度 {len(seen)} 次更新"):
        print(text_of(page)[:1500])
        raise Stop
    return job, took


def whole_upload(args, tmp: Path, bundle: Bundle, check: Checks, out: dict) -> None:
    print("\n== 1. 完整上传（bin/run 的默认 SQLite 设置） ==", flush=True)
    server = Server(tmp / "instance-a", tmp)
    try:
        out["a_start"] = server.start()
        db = server.instance / "audit.sqlite"
        print(f"  bin/run 启动用时 {out['a_start']:.1f} s（安装检查、演示县、审计、演示账户、audit serve）")
        before = counts(db)
        b = server.browser()
        t0 = time.perf_counter()
        job, out["a_check"] = upload_and_check(b, bundle, check, "上传")
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        load = commit_job(b, job)
        row = job_row(db, load)
        check(row.get("pid") == server.pid, "导入任务记录的进程号是服务器进程",
              f"pid {row.get('pid')} / {server.pid}")
        state, seen = follow(b, load)
        out["a_load"] = seen[-1][0] if seen else 0.0
        out["a_total"] = time.perf_counter() - t0
        page = b.get(f"/uploads/{job}")
        if not check(state["status"] == "done" and "导入完成（批次 #" in page, "导入完成",
                     f"导入 {out['a_load']:.1f} s，进度 {len(seen)} 次更新，"
                     f"上传到导入完成共 {out['a_total']:.1f} s"):
            print(text_of(page)[:1500])
            raise Stop
        after = counts(db)
        shown = load_counts(page)
        out["a_before"], out["a_after"], out["a_shown"] = before, after, shown
        check(all(shown.get(t, (0,))[0] == n for t, n in bundle.rows.items()),
              "页面上每张表的行数等于台账包的行数")
        grew = {t: after[t] - before[t] for t in LEDGER_TABLES}
        check(all(grew[t] == shown.get(t, (0, 0))[1] for t in LEDGER_TABLES),
              "每张表新增的行数等于导入结果的「新增」",
              "，".join(f"{t} +{grew[t]:,}" for t in SHOWN))
        check(all(sum(shown[t][1:]) == shown[t][0] for t in shown), "新增 + 更新 + 未变 = 行数（每张表）")
        miss = missing_persons(db, server.instance, bundle.folder)
        check(miss == 0, "台账包中的每个人都在数据库中（按证件号的密钥哈希）", f"缺 {miss} 人")
        check(after["import_batches"] == before["import_batches"] + 1, "多了一个导入批次")
    finally:
        server.stop()


def killed_upload(args, tmp: Path, bundle: Bundle, check: Checks, out: dict) -> None:
    print("\n== 2. 导入过程中 kill -9 服务器进程，重启后重试 ==", flush=True)
    server = Server(tmp / "instance-b", tmp)
    db = server.instance / "audit.sqlite"
    try:
        server.start()
        before = counts(db)
        b = server.browser()

        # -- the check, killed half way; 重新检查
        first = b.upload(f"{bundle.folder.name}.zip", bundle.zip_bytes)
        state, seen = follow(b, first, until=lambda s: s["progress"] >= 40 and "已读" in s["message"])
        row = job_row(db, first)
        check(state["status"] == "running" and row.get("status") == "running"
              and row.get("pid") == server.pid,
              "检查进行中，任务记录着服务器的进程号",
              f"{state['progress']}%「{state['message']}」，pid {row.get('pid')}")
        server.kill9()
        out["b_check_killed_at"] = state["progress"]
        check(counts(db) == before, "检查被 kill -9 后数据库未变")
        server.start()
        b = server.browser()
        row = job_row(db, first)
        page = text_of(b.get(f"/uploads/{first}"))
        check(row.get("status") == "failed" and "任务已中断" in (row.get("message") or ""),
              "重启后检查任务标为失败并写明原因", row.get("message") or "")
        check("检查未能完成：任务已中断" in page and "重新检查" in page,
              "页面显示「检查未能完成」和「重新检查」")
        status, where, _ = b.post_form(f"/uploads/{first}", f"/uploads/{first}/retry")
        m = re.fullmatch(r"/uploads/(\d+)", where)
        if not check(status == 200 and m is not None and int(m.group(1)) != first,
                     "重新检查（/uploads/<id>/retry）", where):
            raise Stop
        job = int(m.group(1))
        state, _ = follow(b, job)
        if not check(state["status"] == "done" and "检查通过" in b.get(f"/uploads/{job}"), "重新检查通过"):
            raise Stop

        # -- the load, killed half way
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        load = commit_job(b, job)
        state, seen = follow(b, load, until=lambda s: s["progress"] >= 50 and "已读" in s["message"])
        row = job_row(db, load)
        out["b_progress"] = seen
        check(state["status"] == "running" and row.get("pid") == server.pid,
              "导入进行中（进度可见），任务记录着服务器的进程号",
              f"{state['progress']}%「{state['message']}」，pid {row.get('pid')} / {server.pid}")
        server.kill9()
        out["b_load_killed_at"] = (state["progress"], state["message"])
        killed = counts(db)
        check(killed == before, "kill -9 之后（重启之前）数据库中没有这次导入的任何数据",
              "，".join(f"{t} {killed[t]:,}" for t in SHOWN))
        check(integrity(db) == "ok", "数据库完整性检查（PRAGMA integrity_check）通过")

        # -- restart; the load is failed with its reason; 重新导入
        out["b_restart"] = server.start()
        b = server.browser()
        row = job_row(db, load)
        check(row.get("status") == "failed" and "任务已中断" in (row.get("message") or ""),
              "重启后导入任务标为失败并写明原因", row.get("message") or "")
        page = text_of(b.get(f"/uploads/{job}"))
        check("导入未能完成" in page and "任务已中断" in page and "重新导入" in page,
              "页面显示「导入未能完成」、原因和「重新导入」")
        check(counts(db) == before, "重启后数据库仍与上传前相同")
        t0 = time.perf_counter()
        b.post_form(f"/uploads/{job}", f"/uploads/{job}/commit")
        again = commit_job(b, job)
        state, seen = follow(b, again)
        out["b_retry"] = time.perf_counter() - t0
        page = b.get(f"/uploads/{job}")
        if not check(state["status"] == "done" and "导入完成（批次 #" in page and again != load,
                     "重新导入完成", f"{out['b_retry']:.1f} s"):
            print(text_of(page)[:1500])
            raise Stop
        after = counts(db)
        out["b_after"] = after
        a_after = out.get("a_after")
        if a_after is not None:
            check(after == a_after,
                  "重试后的数据与第一个实例一次导入的完全相同（每张表、导入批次、导入日志条数）",
                  "，".join(f"{t} {after[t]:,}" for t in SHOWN))
        miss = missing_persons(db, server.instance, bundle.folder)
        check(miss == 0, "台账包中的每个人都在数据库中", f"缺 {miss} 人")
        # the form is gone once loaded; a request sent all the same (a second tab) is refused
        status, _, page = b.post(f"/uploads/{job}/commit", token_from=f"/uploads/{job}")
        check(status == 200 and "已经确认导入过" in page and counts(db) == after,
              "再提交一次导入被拒绝，不会重复导入")
    finally:
        server.stop()
    env = dict(os.environ, AUDIT_INSTANCE_PATH=str(server.instance))
    for k in ("DATABASE_URL", "AUDIT_PII_KEY", "SECRET_KEY"):
        env.pop(k, None)
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "audit"), "verify-log"], env=env, capture_output=True,
                          text=True, check=False)
    said = (proc.stdout + proc.stderr).strip().splitlines()
    check(proc.returncode == 0, "审计日志哈希链完整（audit verify-log）", said[-1][:160] if said else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7, help="the bundle's seed (the demo county's is 2026)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (instances, server logs)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="check-upload-crash-"))
    check = Checks()
    out: dict = {}
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        bundle = make_bundle(tmp, args.persons, args.months, args.seed)
        raw = sum(f.stat().st_size for f in bundle.folder.iterdir())
        print(f"台账包：{args.persons:,} 人，{sum(bundle.rows.values()):,} 行"
              f"（考勤 {bundle.rows['attendance']:,}，"
              f"工资 {bundle.rows['wages']:,}），CSV {raw / 2**20:.1f} MiB，"
              f"zip {len(bundle.zip_bytes) / 2**20:.1f} MiB，"
              f"生成 {time.perf_counter() - t:.1f} s；机器 {os.cpu_count()} 核")
        out["zip_mib"] = len(bundle.zip_bytes) / 2**20
        for step in (whole_upload, killed_upload):
            try:
                step(args, tmp, bundle, check, out)
            except Stop:
                pass
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, with the server's log
                check(False, f"{step.__name__} 未能进行完", f"{exc.__class__.__name__}: {exc}")
    finally:
        report(args, check, out, time.perf_counter() - started, tmp)
        if args.keep or check.failed:
            print(f"（临时目录保留在 {tmp}，含各次服务器日志）")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if check.failed or not check.results else 0


def report(args, check: Checks, out: dict, seconds: float, tmp: Path) -> None:
    print("\n== 报告 ==")
    print(f"命令：.venv/bin/python tests/benchmarks/check_upload_crash.py --persons {args.persons} "
          f"--months {args.months} --seed {args.seed}")
    if "a_total" in out:
        print(f"完整上传：zip {out['zip_mib']:.1f} MiB；检查 {out['a_check']:.1f} s，"
              f"导入 {out['a_load']:.1f} s，"
              f"从上传到导入完成 {out['a_total']:.1f} s")
        a0, a1 = out["a_before"], out["a_after"]
        print("  数据库（上传前 → 后）：" + "，".join(f"{t} {a0[t]:,} → {a1[t]:,}" for t in SHOWN))
    if "b_load_killed_at" in out:
        p, msg = out["b_load_killed_at"]
        print(f"kill -9：检查在 {out.get('b_check_killed_at')}% 时、导入在 {p}%（{msg}）时被终止；"
              f"重启 {out.get('b_restart', 0):.1f} s；重新导入 {out.get('b_retry', 0):.1f} s")
    passed = len(check.results) - len(check.failed)
    print(f"检查 {len(check.results)} 项，通过 {passed} 项，失败 {len(check.failed)} 项；"
          f"共用时 {seconds:.0f} s")
    for what in check.failed:
        print(f"  失败：{what}")


if __name__ == "__main__":
    sys.exit(main())
