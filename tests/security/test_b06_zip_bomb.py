"""B6: a zip bomb (a few hundred KB that inflates to 100 MB of CSV) is refused while it is being
decompressed, naming the entry, in little memory and time; and a large CSV inside a zip that is
within the limits is read as a stream, never held whole in memory."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import run_cli

MB = 1 << 20

# A child process reads the bundle and reports its peak memory growth (ru_maxrss is in KiB on Linux)
READ = r"""
import json, resource, sys, time
from audit.ledger.bundle import BundleError, Limits, open_bundle
limits = Limits(**json.loads(sys.argv[2]))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.monotonic()
out = {"error": None, "rows": 0}
try:
    with open_bundle(sys.argv[1], limits) as b:
        for source in b.sources.values():
            for _ in source.rows():
                out["rows"] += 1
except BundleError as exc:
    out["error"] = str(exc)
out["seconds"] = time.monotonic() - t0
out["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


def write_zip(path: Path, size: int, row) -> Path:
    """persons.csv of ``size`` bytes, written to the zip in pieces (the test holds little of it)."""
    with (zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
          zf.open("bundle/persons.csv", "w", force_zip64=True) as fh):
            fh.write("姓名,身份证号码,性别\n".encode())
            written, i = 0, 0
            while written < size:
                chunk = "".join(row(i + k) for k in range(5000)).encode()
                fh.write(chunk)
                written += len(chunk)
                i += 5000
    return path


def read(path: Path, **limits) -> dict:
    proc = subprocess.run([sys.executable, "-c", READ, str(path), json.dumps(limits)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_bomb_refused_by_the_cli_naming_the_entry(tmp_path, cli_env):
    bomb = write_zip(tmp_path / "bomb.zip", 100 * MB, lambda i: "张三,500236198005060011,男\n")
    assert bomb.stat().st_size < MB  # a real bomb: under 1 MB on disk
    env = dict(cli_env, IMPORT_MAX_UNCOMPRESSED_BYTES=str(16 * MB), IMPORT_MAX_RATIO="100")
    code, text, peak_mb, seconds = run_cli(["import", str(bomb)], env, tmp_path)
    assert code == 1, text
    assert "导入被拒绝" in text and "persons.csv" in text and "疑似压缩炸弹" in text, text
    # the whole command (Python, Flask, SQLAlchemy and all) stays under 300 MB
    assert peak_mb < 300 and seconds < 10, (peak_mb, seconds)
    print(f"CLI import of the bomb: {peak_mb:.0f} MB peak, {seconds:.2f} s")


def test_bomb_refused_while_inflating_in_little_memory(tmp_path):
    bomb = write_zip(tmp_path / "bomb.zip", 100 * MB, lambda i: "张三,500236198005060011,男\n")
    got = read(bomb, max_uncompressed=16 * MB, max_ratio=100)
    assert got["error"] and "persons.csv" in got["error"] and "疑似压缩炸弹" in got["error"]
    assert got["rows"] == 0  # refused before a row was parsed
    assert got["grew_mb"] < 300 and got["seconds"] < 10, got
    print(f"bomb refused: {got['grew_mb']:.0f} MB, {got['seconds']:.2f} s")


def test_a_large_csv_within_the_limits_is_read_as_a_stream(tmp_path):
    """100 MB of varied rows, within the default limits: read to the end without holding the file
    (or its text, or a copy of it) in memory."""
    big = write_zip(tmp_path / "big.zip", 100 * MB,
                    lambda i: f"张三{i % 997},5002361980{i % 10000:04d}{i % 97:04d},{'男女'[i % 2]}\n")
    got = read(big)
    assert got["error"] is None
    assert got["rows"] > 2_000_000
    assert got["grew_mb"] < 300, got
    print(f"100 MB CSV read: {got['rows']} rows, {got['grew_mb']:.0f} MB, {got['seconds']:.2f} s")


def test_an_entry_that_inflates_past_its_declared_size_is_not_read_past_it(tmp_path):
    """A forged central directory declaring 1 KB for 100 MB: refused (as damaged), never inflated."""
    path = write_zip(tmp_path / "forged.zip", 100 * MB, lambda i: "张三,500236198005060011,男\n")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    cd = data.rfind(b"PK\x01\x02")  # the central directory entry: uncompressed size at offset 24
    assert int.from_bytes(data[cd + 24:cd + 28], "little") == info.file_size
    data[cd + 24:cd + 28] = (1024).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    got = read(path)
    assert got["error"] and "persons.csv" in got["error"]
    assert got["grew_mb"] < 300 and got["seconds"] < 10, got


def test_the_stream_itself_stops_at_the_size_and_the_ratio(tmp_path):
    """Behind the check of the declared sizes, the bytes are counted as they are inflated: the read
    stops at the limit, naming the entry, whatever the zip says of itself."""
    from audit.ledger.bundle import BundleError, Limits, open_entry

    bomb = write_zip(tmp_path / "bomb.zip", 40 * MB, lambda i: "张三,500236198005060011,男\n")
    with zipfile.ZipFile(bomb) as zf:
        info = zf.infolist()[0]
        for limits, words in ((Limits(max_uncompressed=8 * MB), "超过上限 8 MiB"),
                              (Limits(max_ratio=50), "压缩比超过 50:1")):
            read_before = 0
            try:
                with open_entry(zf, info, "persons.csv", limits) as fh:
                    while chunk := fh.read(MB):
                        read_before += len(chunk)
            except BundleError as exc:
                assert "persons.csv" in str(exc) and words in str(exc) and "疑似压缩炸弹" in str(exc)
            else:
                raise AssertionError("read to the end")
            assert read_before <= 8 * MB


def test_a_bomb_within_the_ratio_stops_at_the_error_limit_on_the_web(app, client, quick_hashes, tmp_path):
    """A bomb of a ratio under IMPORT_MAX_RATIO (about 400 here, the default is 1000) is read, but its
    junk rows cannot fill the memory: the check stops at IMPORT_MAX_ERRORS row errors and says so."""
    from audit.auth.services import create_user
    from models import db

    from web_helpers import PASSWORD, login, upload_zip, wait_upload

    create_user("auditor_bomb", "auditor", PASSWORD, regions=["奉节县"], by="test")
    db.session.commit()
    login(client, "auditor_bomb")
    bomb = write_zip(tmp_path / "bomb.zip", 30 * MB, lambda i: "张三,500236198005060011,男\n")
    assert bomb.stat().st_size < MB
    job = upload_zip(client, bomb.read_bytes(), "bomb.zip")
    state = wait_upload(client, job)
    page = client.get(f"/uploads/{job}").get_data(as_text=True)
    assert state["status"] == "done" and "错误过多：已发现 10000 处错误，检查到此停止" in page
    limit = app.config["IMPORT_MAX_ERRORS"]
    assert limit == 10_000
