"""B7: an xlsx is read without trusting the dimension its sheet declares: ``A1:XFD1048576`` on a
sheet of three rows costs nothing; a filled cell at XFD1048576, rows past IMPORT_MAX_XLSX_ROWS or a
read longer than IMPORT_MAX_XLSX_SECONDS stop the read with a Chinese message, quickly."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]

READ = r"""
import json, resource, sys, time
from audit.ledger.bundle import BundleError, Limits, open_bundle
limits = Limits(**json.loads(sys.argv[2]))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.monotonic()
out = {"error": None, "rows": 0, "cells": 0}
try:
    with open_bundle(sys.argv[1], limits) as b:
        for source in b.sources.values():
            for row in source.rows():
                out["rows"] += 1
                out["cells"] += len(row)
except BundleError as exc:
    out["error"] = str(exc)
out["seconds"] = time.monotonic() - t0
out["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


def workbook(path: Path, rows: list[list], *, dimension: str | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "persons"
    for r in rows:
        ws.append(r)
    wb.save(path)
    if dimension:  # what the sheet claims, patched into its XML
        with zipfile.ZipFile(path) as zf:
            parts = {i.filename: zf.read(i) for i in zf.infolist()}
        sheet = "xl/worksheets/sheet1.xml"
        parts[sheet], n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(),
                                  parts[sheet])
        assert n == 1
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
    return path


def read(path: Path, **limits) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-c", READ, str(path), json.dumps(limits)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the read took more than 30 s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


HEADER = ["姓名", "身份证号码", "性别"]


def test_a_huge_declared_dimension_is_not_trusted(tmp_path):
    path = workbook(tmp_path / "persons.xlsx", [HEADER, ["张三", "x", "男"], ["李四", "y", "女"]],
                    dimension="A1:XFD1048576")
    assert path.stat().st_size < 10_000
    got = read(path)
    assert got["error"] is None
    assert got["rows"] == 3 and got["cells"] == 9  # the rows there are, as wide as they are
    assert got["seconds"] < 10 and got["grew_mb"] < 300, got
    print(f"A1:XFD1048576 read: {got['grew_mb']:.0f} MB, {got['seconds']:.2f} s")


def test_a_cell_at_xfd1048576_is_refused(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "persons"
    ws.append(HEADER)
    ws.cell(row=1048576, column=16384, value="x")
    wb.save(tmp_path / "persons.xlsx")
    got = read(tmp_path / "persons.xlsx")
    assert got["error"] and "第1048576行" in got["error"] and "200 列的上限" in got["error"], got
    assert got["seconds"] < 10 and got["grew_mb"] < 300, got
    print(f"XFD1048576 refused: {got['grew_mb']:.0f} MB, {got['seconds']:.2f} s")


def test_too_many_columns_or_too_long_a_read_is_refused(tmp_path):
    path = workbook(tmp_path / "persons.xlsx", [HEADER + [f"列{i}" for i in range(20)], ["张三", "x", "男"]])
    got = read(path, max_xlsx_columns=10)
    assert got["error"] and "超过 10 列的上限" in got["error"], got
    got = read(path, max_xlsx_seconds=0)
    assert got["error"] and "读取超过 0 秒仍未读完" in got["error"], got


def test_rows_past_the_configured_limit_are_refused_by_the_cli(tmp_path, cli_env):
    path = workbook(tmp_path / "persons.xlsx", [HEADER] + [["张三", str(i), "男"] for i in range(20)],
                    dimension="A1:XFD1048576")
    env = dict(cli_env, IMPORT_MAX_XLSX_ROWS="10")
    code, text, peak_mb, seconds = run_cli(["import", str(path)], env, tmp_path, cwd=ROOT)
    assert code == 1, text
    assert ("导入被拒绝" in text and "persons.xlsx" in text
            and "超过 10 行数据（表头之外）的上限" in text), text
    assert seconds < 10 and peak_mb < 300, (seconds, peak_mb)


def test_a_shared_string_table_that_inflates_like_a_bomb_is_refused_unread(tmp_path):
    """openpyxl reads an xlsx's shared strings whole: 64 MB of them in a 164 KB workbook took 363 MB
    and 37 s. Every string is stored there once, so such a ratio is never a real workbook's."""
    path = workbook(tmp_path / "persons.xlsx", [HEADER, ["张三", "x", "男"]])
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != "xl/sharedStrings.xml"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            for _ in range(400):
                fh.write(b"<si><t>x</t></si>" * 10_000)
            fh.write(b"</sst>")
    assert path.stat().st_size < 200_000
    got = read(path)
    assert got["error"] == "persons.xlsx 中的 xl/sharedStrings.xml 压缩比异常（疑似压缩炸弹），拒绝解析", got
    assert got["seconds"] < 10 and got["grew_mb"] < 300, got
