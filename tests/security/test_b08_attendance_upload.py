"""B8: an operator's attendance upload is bounded before and while it is read. A sheet far larger than
one unit's month can be (ATTENDANCE_MAX_UPLOAD_BYTES, default 4 MiB) is refused with a Chinese message:
at once from its Content-Length, the body unread (a 50 MB upload added 593 MB of memory before), or
while it is copied to a temporary file; the sheet is read from that file as a stream, with the bundle
import's bounds (an xlsx's declared dimension is not trusted; a shared-string table inflating past the
limit is refused); the temporary file is 0600 and gone afterwards."""
from __future__ import annotations

import html
import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from models import Attendance, db

from web_helpers import PASSWORD, login, post, token

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20
SHARED_STRINGS_TYPE = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                       b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')


def grid_of(client) -> dict[str, str]:
    """The signed-in operator's first unit and month, as its own page links them."""
    page = client.get("/attendance/").get_data(as_text=True)
    m = re.search(r'href="/attendance/grid\?([^"]+)"', page)
    assert m, "no grid link on the operator's page"
    pairs = [p.split("=", 1) for p in html.unescape(m.group(1)).split("&")]
    from urllib.parse import unquote

    grid = {k: unquote(v) for k, v in pairs}
    return {"kind": grid["kind"], "unit": grid["unit"], "month": "2025-04"}


def sheet(client, grid) -> openpyxl.Workbook:
    resp = client.get("/attendance/sheet.xlsx", query_string=grid)
    assert resp.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(resp.data))


def upload(client, grid, data: bytes, name: str = "考勤.xlsx"):
    return post(client, "/attendance/upload", {**grid, "file": (io.BytesIO(data), name)},
                content_type="multipart/form-data", follow_redirects=True)


def attendance() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Attendance))


def saved(wb: openpyxl.Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def first_open_cell(ws) -> str:
    """A day cell of the first person that the sheet does not grey out (a day they hold the post)."""
    for row in ws.iter_rows(min_row=3, min_col=5):  # 1日 is column E
        for cell in row:
            if cell.fill.fill_type is None:
                return cell.coordinate
    raise AssertionError("no open day in the sheet")


# The upload as a browser sends it, measured in a child process: its peak memory growth (VmHWM of its
# own address space, KiB; not ru_maxrss, which on Linux carries the peak of the pytest process it was
# forked from) from the moment the operator is signed in. The test client streams the file from disk.
MEASURE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])


def peak_kib():
    with open("/proc/self/status") as fh:
        return int(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))


from audit import create_app
from web_helpers import PASSWORD, login, token
app = create_app({"TESTING": True, "RECOVER_DEAD_JOBS_AT_START": False})
client = app.test_client()
login(client, "operator_bd", PASSWORD)
data = {**json.loads(sys.argv[2]), "csrf_token": token(client, "/attendance/")}
base = peak_kib()
t0 = time.monotonic()
with open(sys.argv[1], "rb") as fh:
    resp = client.post("/attendance/upload", data={**data, "file": (fh, "考勤.csv")},
                       content_type="multipart/form-data")
out = {"status": resp.status_code, "seconds": time.monotonic() - t0,
       "grew_mb": (peak_kib() - base) / 1024,
       "page": resp.get_data(as_text=True)}
print(json.dumps(out))
"""


def fifty_mb_csv(path: Path) -> Path:
    """50 MB of attendance-shaped CSV (what an operator might pick by mistake, or send on purpose)."""
    row = ("GW-A1,王大山,500236********3310," + ",".join(["出勤"] * 30) + "\n").encode()
    with open(path, "wb") as fh:
        fh.write(("岗位编号,姓名,身份证号(脱敏)," + ",".join(str(d) for d in range(1, 31)) + "\n").encode())
        block = row * 1000
        while fh.tell() < 50 * MB:
            fh.write(block)
    return path


def test_a_50_mb_upload_is_refused_at_once_in_little_memory_and_time(web, client, cli_env, tmp_path):
    login(client, "operator_bd")
    grid = grid_of(client)
    big = fifty_mb_csv(tmp_path / "big.csv")
    before = attendance()
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(big), json.dumps(grid), str(ROOT / "tests")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=cli_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["status"] == 413
    assert "考勤表文件超过 4 MiB 的上限" in got["page"] and "一个单位一个月的考勤表远小于此" in got["page"]
    assert got["grew_mb"] < 100 and got["seconds"] < 10, {k: got[k] for k in ("grew_mb", "seconds")}
    print(f"50 MB attendance upload refused: {got['grew_mb']:.0f} MB, {got['seconds']:.2f} s")
    assert attendance() == before


def test_a_sheet_past_the_limit_is_refused_while_it_is_copied(app, web, client, monkeypatch):
    """A Content-Length within the form's slack: the copy to the temporary file counts, and stops."""
    import tempfile

    from audit.attendance import sheet_file

    made = []
    real = tempfile.TemporaryFile

    def spy(*a, **kw):
        f = real(*a, **kw)
        made.append((stat.S_IMODE(os.fstat(f.fileno()).st_mode), kw.get("dir")))
        return f

    monkeypatch.setattr(sheet_file.tempfile, "TemporaryFile", spy)
    app.config["ATTENDANCE_MAX_UPLOAD_BYTES"] = 64 << 10
    login(client, "operator_bd")
    grid = grid_of(client)
    before = attendance()
    resp = upload(client, grid, b"x" * (100 << 10), "考勤.csv")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "考勤表文件超过 0.0625 MiB 的上限" in page and "未能保存，未写入任何数据" in page
    assert attendance() == before
    assert made and all(mode == 0o600 for mode, _ in made)
    folder = Path(app.instance_path) / "uploads"
    assert all(Path(d) == folder for _, d in made)
    assert not any(folder.iterdir())  # unnamed files: nothing left behind, even by a crash


def test_a_sheet_declaring_a_huge_dimension_is_read_as_the_rows_it_has(web, client):
    """The operator's own sheet, its dimension patched to A1:XFD1048576: read as the rows it has and
    stored (the streaming reader that replaced openpyxl's ``iter_rows`` trusts no dimension either)."""
    login(client, "operator_bd")
    grid = grid_of(client)
    wb = sheet(client, grid)
    ws = wb.active
    at = first_open_cell(ws)
    ws[at] = "请假"
    data = saved(wb)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    parts[name], n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', parts[name])
    assert n == 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, body in parts.items():
            zf.writestr(part, body)
    before = attendance()
    page = upload(client, grid, buf.getvalue()).get_data(as_text=True)
    assert "已保存 1 条考勤" in page, re.findall(r"<li>(.*?)</li>", page)[:5]
    assert attendance() == before + 1


def shared_strings_bomb(base: bytes, inflated: int) -> bytes:
    """A workbook whose shared-string table inflates to ``inflated`` bytes (its zip: a few KB)."""
    with zipfile.ZipFile(io.BytesIO(base)) as src:
        parts = {i.filename: src.read(i) for i in src.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, body in parts.items():
            if part == "xl/sharedStrings.xml":
                continue
            if part == "[Content_Types].xml" and b"sharedStrings" not in body:
                body = body.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            zf.writestr(part, body)
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main">')
            block = b"<si><t>x</t></si>" * 10_000
            written = 0
            while written < inflated:
                fh.write(block)
                written += len(block)
            fh.write(b"</sst>")
    return out.getvalue()


def test_a_shared_string_table_past_the_limit_is_refused_before_it_is_loaded(web, client):
    """openpyxl loads the shared strings whole: 64 MB of them took 363 MB and 37 s from a 168 KB file."""
    import time

    login(client, "operator_bd")
    grid = grid_of(client)
    bomb = shared_strings_bomb(saved(sheet(client, grid)), 20 * MB)
    assert len(bomb) < 200_000
    before = attendance()
    t0 = time.monotonic()
    resp = upload(client, grid, bomb)
    seconds = time.monotonic() - t0
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    # refused by the ratio of the parts read whole (``bundle.WHOLE_PART_RATIO``) before the size of one
    assert "xl/sharedStrings.xml 压缩比异常（疑似压缩炸弹）" in page
    assert seconds < 5 and attendance() == before


def test_the_upload_form_states_the_limit(web, client):
    login(client, "operator_bd")
    page = client.get("/attendance/grid", query_string=grid_of(client)).get_data(as_text=True)
    assert "文件不超过 4 MiB" in page


def test_other_signed_in_uploads_keep_their_own_limit(web, client):
    """The attendance limit is the attendance upload's own: an auditor's ledger upload of 5 MB is taken."""
    login(client, "auditor_fj", PASSWORD)
    resp = client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": (io.BytesIO(b"x" * (5 * MB)), "notes.txt"),
                             "csrf_token": token(client, "/uploads/")})
    assert resp.status_code == 303  # refused for its type (a flash), not for its size
