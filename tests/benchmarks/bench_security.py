#!/usr/bin/env python
"""Benchmark: hostile uploads through the web application, as a user sends them (issue 13: B6, B7, B8).

    .venv/bin/python tests/benchmarks/bench_security.py [--persons 300]

Loads a small demo county into a scratch SQLite database (``audit demo``, ``audit demo-users``), then
sends each file below from a signed-in user through the web application's test client, each in a
process of its own, and prints the time and the peak memory the request added (``ru_maxrss`` after
sign-in against its peak once the upload's job is over) with the Chinese message the user sees:

1. a zip bomb: a zip of about 250 KB whose persons.csv inflates to 100 MB (the auditor's 台账导入), with
   the default IMPORT_MAX_RATIO (1000: its ratio, about 400, is within it) and with 100;
2. an xlsx whose sheet has a cell at XFD1048576 (A1:XFD1048576: 17 billion cells if trusted);
3. a 50 MB attendance CSV (the operator's 考勤填报 upload; 593 MB of memory before B8);
4. an attendance xlsx of 168 KB whose shared-string table inflates to 64 MB (363 MB, 37 s if loaded),
   and the same sent as a ledger workbook (refused by the ratio of the parts read whole).

The client streams each file from disk (the test client spools a multipart body over 500 KB to a
temporary file), so the figures are the server's. Target: each refused with a Chinese message, well
under 300 MB and 10 s.
"""
from __future__ import annotations

import argparse
import html
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common import audit, base_env  # noqa: E402  (this folder)

MB = 1 << 20
SHARED_STRINGS_TYPE = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                       b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
TARGET_MB, TARGET_S = 300, 10


# ---- the files ------------------------------------------------------------------------------------

def zip_bomb(path: Path) -> Path:
    """bundle/persons.csv of 100 MB, one row repeated: a zip of a few hundred KB (tests/security/test_b06)."""
    with (zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
          zf.open("bundle/persons.csv", "w", force_zip64=True) as fh):
            fh.write("姓名,身份证号码,性别\n".encode())
            block = ("张三,500236198005060011,男\n" * 5000).encode()
            written = 0
            while written < 100 * MB:
                fh.write(block)
                written += len(block)
    return path


def far_cell_xlsx(path: Path) -> Path:
    """persons.xlsx: a header and one cell at XFD1048576 (tests/security/test_b07)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "persons"
    ws.append(["姓名", "身份证号码", "性别"])
    ws.cell(row=1048576, column=16384, value="x")
    wb.save(path)
    return path


def attendance_csv(path: Path) -> Path:
    row = ("GW-A1,王大山,500236********3310," + ",".join(["出勤"] * 30) + "\n").encode()
    with open(path, "wb") as fh:
        fh.write(("岗位编号,姓名,身份证号(脱敏)," + ",".join(str(d) for d in range(1, 31)) + "\n").encode())
        while fh.tell() < 50 * MB:
            fh.write(row * 1000)
    return path


def shared_strings_xlsx(path: Path) -> Path:
    import openpyxl

    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(["岗位编号", "姓名", "身份证号(脱敏)", 1, 2])
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src:
        parts = {i.filename: src.read(i) for i in src.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts.items():
            if name == "xl/sharedStrings.xml":
                continue
            if name == "[Content_Types].xml" and b"sharedStrings" not in body:
                body = body.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            zf.writestr(name, body)
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main">')
            block = b"<si><t>x</t></si>" * 10_000
            written = 0
            while written < 64 * MB:
                fh.write(block)
                written += len(block)
            fh.write(b"</sst>")
    return path


# ---- one upload, in a process of its own ------------------------------------------------------------

def _csrf(page: str) -> str:
    m = (re.search(r'name="csrf-token" content="([^"]+)"', page)
         or re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page))
    return m.group(1)


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def child(kind: str, path: str, user: str, password: str) -> None:
    from audit import create_app

    app = create_app({"RECOVER_DEAD_JOBS_AT_START": False})
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"username": user, "password": password, "csrf_token": _csrf(login)})
    assert resp.status_code == 302, f"sign-in failed: {resp.status_code}"
    name = Path(path).name
    if kind == "upload":
        token = _csrf(client.get("/uploads/").get_data(as_text=True))
        url, data = "/uploads/", {"csrf_token": token}
        field = "files"
    else:
        page = client.get("/attendance/").get_data(as_text=True)
        link = re.search(r'href="/attendance/grid\?([^"]+)"', page).group(1)
        grid = dict(p.split("=", 1) for p in html.unescape(link).split("&"))
        data = {"kind": unquote(grid["kind"]), "unit": unquote(grid["unit"]), "month": unquote(grid["month"]),
                "csrf_token": _csrf(page)}
        url, field = "/attendance/upload", "file"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with open(path, "rb") as fh:
        resp = client.post(url, data={**data, field: (fh, name)}, content_type="multipart/form-data")
    status, message = resp.status_code, ""
    if kind == "upload":
        from audit.uploads import jobs, services

        job_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
        while client.get(f"/uploads/{job_id}.json").get_json()["status"] not in ("done", "failed"):
            time.sleep(0.05)
        with app.app_context():
            jobs.wait(job_id)
            job = jobs.get(job_id)
            errors = services.errors_page(job, 1)
            message = errors[0].reason if errors else (job.message or "")
            status = f"{resp.status_code} → {job.status}, {(job.result or {}).get('errors', 0)} 处错误"
    else:
        page = resp.get_data(as_text=True)
        m = re.search(r"未写入任何数据：.*?<li>(.*?)</li>", page,
                      re.S) or re.search(r'class="muted">(.*?)</p>', page)
        message = _text(m.group(1)) if m else _text(page)[:200]
    seconds = time.monotonic() - t0
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"status": str(status), "seconds": seconds, "grew_mb": grew, "message": message,
                      "bytes": os.path.getsize(path)}, ensure_ascii=False))


def measure(kind: str, path: Path, user: str, password: str, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path), user, password], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if proc.returncode:
        sys.exit(f"{kind} {path.name} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=300)
    ap.add_argument("--child", nargs=4, metavar=("KIND", "PATH", "USER", "PASSWORD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        tmp = Path(tmp)
        env = dict(base_env(), AUDIT_INSTANCE_PATH=str(tmp / "instance"), TOTP_ENFORCE="false")
        seconds = audit(["demo", "--persons", str(args.persons), "--months", "3"], env)
        print(f"demo county ({args.persons} persons) … {seconds:.0f} s")
        audit(["demo-users"], env)
        lines = (tmp / "instance" / "demo-accounts.txt").read_text().splitlines()
        accounts = {line.split("\t")[0]: line.split("\t")[1] for line in lines if "\t" in line}
        bomb = zip_bomb(tmp / "bomb.zip")
        cases = [
            ("zip bomb → 台账导入", "upload", bomb, "auditor"),
            ("zip bomb → 台账导入, IMPORT_MAX_RATIO=100", "upload", bomb, "auditor",
             {"IMPORT_MAX_RATIO": "100"}),
            ("xlsx with a cell at XFD1048576 → 台账导入", "upload", far_cell_xlsx(tmp / "persons.xlsx"),
             "auditor"),
            ("ledger xlsx, 64 MB shared strings → 台账导入", "upload",
             shared_strings_xlsx(tmp / "ledger.xlsx"), "auditor"),
            ("50 MB attendance CSV → 考勤填报", "attendance", attendance_csv(tmp / "考勤.csv"), "operator"),
            ("attendance xlsx, 64 MB shared strings → 考勤填报", "attendance",
             shared_strings_xlsx(tmp / "考勤.xlsx"), "operator"),
        ]
        print(f"{'upload':<48}{'file':>10}{'time':>9}{'memory':>10}  answer")
        for label, kind, path, user, *more in cases:
            got = measure(kind, path, user, accounts[user], dict(env, **(more[0] if more else {})))
            ok = "ok" if got["grew_mb"] < TARGET_MB and got["seconds"] < TARGET_S else "OVER TARGET"
            size = f"{got['bytes'] / MB:.1f} MB" if got["bytes"] >= MB else f"{got['bytes'] / 1024:.0f} KB"
            figures = f"{size:>10}{got['seconds']:>8.2f}s{got['grew_mb']:>7.0f} MB"
            print(f"{label:<48}{figures}  {got['status']}  {ok}")
            print(f"{'':<48}「{got['message']}」")


if __name__ == "__main__":
    main()
