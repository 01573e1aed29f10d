"""Workbooks as calamine reads them (issue 14), through ``import_bundle``: a workbook's sheets are read
by calamine, block by block of whole rows; a block it may not read (error cells, odd cell tags) by
openpyxl. What a user notices must not depend on which."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
from sqlalchemy import select

from audit.ledger.schema import BY_NAME
from models import Placement, db

from bundle_files import (
    CHINESE_SHEETS,
    assert_base_values_stored,
    assert_imported,
    fill_sheet,
    messages,
    run,
    wage_of,
    write_workbook,
)
from helpers import base_tables, write_bundle


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _rezip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def _sheet_parts(parts: dict[str, bytes]) -> list[str]:
    return [n for n in parts if n.startswith("xl/worksheets/sheet")]


def with_shared_strings(path: Path) -> Path:
    """The workbook with its text in a shared-string table, as Excel saves it (openpyxl writes
    each text into its cell, an inline string)."""
    import re

    parts = _parts(path)
    strings: dict[bytes, int] = {}

    def shared(m) -> bytes:
        index = strings.setdefault(m.group(3), len(strings))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (m.group(1), m.group(2), index)

    for name in _sheet_parts(parts):
        inline = rb'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>'
        parts[name], n = re.subn(inline, shared, parts[name])
        assert n and b"inlineStr" not in parts[name]
    main = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts["xl/sharedStrings.xml"] = (b'<sst xmlns="%s" uniqueCount="%d">' % (main, len(strings))
                                     + b"".join(b"<si><t>%s</t></si>" % s for s in strings) + b"</sst>")
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                     b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/'
                             b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                             b"</Relationships>")
    return _rezip(path, parts)


def test_a_workbook_with_shared_strings_imports_like_one_with_inline_strings(app, people, tmp_path):
    tables = base_tables(people)
    sheet_name = lambda name: BY_NAME[name].zh if name in CHINESE_SHEETS else name  # noqa: E731
    path = with_shared_strings(write_workbook(tmp_path / "台账.xlsx", tables, sheet_name))
    assert b"<si><t>" + "王大山".encode() + b"</t></si>" in _parts(path)["xl/sharedStrings.xml"]
    result = run(path)
    assert_imported(result)
    assert_base_values_stored()  # the dates (date cells) and times (time cells) too


def test_an_id_number_kept_as_a_number_is_a_row_error(app, people, tmp_path):
    """Excel keeps 15 digits of a number: an 18-digit ID typed into a number cell has lost its last
    ones. It is refused by row, never stored as the digits left."""
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", tables, lambda name: name)
    wb = openpyxl.load_workbook(path)
    wb["persons"]["A3"].value = int(tables["persons"][1]["id_number"][:17]) * 10  # 李小花, a number
    wb.save(path)
    result = run(path, dry_run=True)
    errors = [e for e in result.errors if e.table == "persons"]
    assert [(e.row, e.column) for e in errors] == [(3, "身份证号")]
    assert "身份证号被 Excel 存成了数字" in errors[0].reason


def test_whole_numbers_and_a_formula_s_last_value_are_read_as_excel_shows_them(app, people, tmp_path):
    """A wage of 900 in a number cell, and a wage worked out by a formula (=400*2, whose value Excel
    keeps beside it), are stored as 900.00 and 800.00 yuan."""
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", {"positions": tables["positions"]}, lambda name: name)
    parts = _parts(path)
    sheet = _sheet_parts(parts)[0]
    assert b'<c r="H2" t="n"><v>800</v></c>' in parts[sheet]
    parts[sheet] = parts[sheet].replace(b'<c r="H2" t="n"><v>800</v></c>',
                                        b'<c r="H2"><f>400*2</f><v>800</v></c>')
    folder = write_bundle(tmp_path / "bundle", {k: t for k, t in tables.items() if k != "positions"})
    _rezip(folder / "positions.xlsx", parts)
    assert_imported(run(folder))
    assert (wage_of("GW-001"), wage_of("GW-002")) == (80000, 90000)


def test_an_error_cell_is_a_row_error_not_an_empty_cell(app, people, tmp_path):
    """#N/A (a lookup that found nothing) in an end date is a row error: read as empty, the
    placement would be taken as still running."""
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", tables, lambda name: name)
    wb = openpyxl.load_workbook(path)
    ws = wb["placements"]
    col = [c.value for c in ws[1]].index("end_date") + 1
    ws.cell(row=3, column=col, value="#N/A")  # an error cell (t="e"), as a formula leaves it
    wb.save(path)
    assert b't="e"' in _parts(path)["xl/worksheets/sheet3.xml"]
    result = run(path, dry_run=True)
    errors = [e for e in result.errors if e.table == "placements"]
    assert [(e.row, e.column, e.value) for e in errors] == [(3, "离岗日期", "#N/A")], messages(result)


def test_dates_of_a_workbook_counting_from_1904(app, people, tmp_path):
    """A workbook made on an old Mac counts its dates from 1904: a date cell is the date it shows."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    tables = base_tables(people)
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    wb.remove(wb.active)
    fill_sheet(wb.create_sheet("placements"), "placements", tables["placements"])
    folder = write_bundle(tmp_path / "bundle", {k: t for k, t in tables.items() if k != "placements"})
    wb.save(folder / "placements.xlsx")
    assert b'date1904="1"' in _parts(folder / "placements.xlsx")["xl/workbook.xml"]
    assert_imported(run(folder))
    assert sorted(db.session.scalars(select(Placement.start_date))) == [dt.date(2025, 1, 1)] * 2


def test_a_gap_of_empty_rows_keeps_excel_s_row_numbers(app, people, tmp_path, monkeypatch):
    """A sheet of many rows, read in blocks (made small here), with 300 rows left out and a bad row
    after them: the error names the row as Excel numbers it, and every good row is read."""
    from audit.ledger import workbook

    monkeypatch.setattr(workbook, "BLOCK_BYTES", 4096)
    tables = base_tables(people)
    idn, post = tables["attendance"][0]["id_number"], tables["attendance"][0]["post_code"]
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(150)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "考勤记录"
    ws.append(["身份证号", "岗位或车间编号", "日期", "考勤状态"])
    for day in days[:100]:
        ws.append([idn, post, day, "出勤"])
    for day in days[100:]:
        ws.cell(row=ws.max_row + 300 if day == days[100] else ws.max_row + 1, column=1, value=idn)
        ws.cell(row=ws.max_row, column=2, value=post)
        ws.cell(row=ws.max_row, column=3, value=day if day != days[120] else "2025-02-30")
        ws.cell(row=ws.max_row, column=4, value="出勤")
    folder = write_bundle(tmp_path / "bundle", {k: t for k, t in tables.items() if k != "attendance"})
    wb.save(folder / "attendance.xlsx")
    sheet = _parts(folder / "attendance.xlsx")["xl/worksheets/sheet1.xml"]
    assert len(sheet) > 3 * 4096 and b'<row r="401">' in sheet and b'<row r="102">' not in sheet
    result = run(folder, dry_run=True)
    errors = [e for e in result.errors if e.table == "attendance"]
    assert [(e.row, e.column, e.reason) for e in errors] == [(421, "日期", "日期不存在")], messages(result)
    assert result.counts["attendance"].rows == 149  # every good row, across blocks and the gap


def test_a_second_cell_reference_in_a_cell_is_refused_quickly(app, tmp_path):
    """calamine takes the last of two r attributes: <c r="A2" r="XFD1048576"> would have it
    allocate 512 GiB for the grid between A2 and XFD1048576 and abort the process. Such a cell
    never reaches it; the workbook is refused as damaged, in a second and a little memory."""
    import json
    import subprocess
    import sys

    wb = openpyxl.Workbook()
    wb.active.title = "persons"
    wb.active.append(["姓名", "身份证号码", "性别"])
    wb.active.append(["张三", "x", "男"])
    path = tmp_path / "persons.xlsx"
    wb.save(path)
    parts = _parts(path)
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b'<c r="A2"', b'<c r="A2" r="XFD1048576"', 1)
    _rezip(path, parts)
    # the peak of this process's own memory (VmHWM): ru_maxrss would carry the peak of the pytest
    # process it was forked from, on Linux, and grow with the suite run before this test
    script = ("import json, sys, time\n"
              "from audit.ledger.bundle import BundleError, open_bundle\n"
              "t0 = time.monotonic()\n"
              "try:\n"
              "    with open_bundle(sys.argv[1]) as b:\n"
              "        rows = [r for s in b.sources.values() for r in s.rows()]\n"
              "    error = None\n"
              "except BundleError as exc:\n"
              "    error = str(exc)\n"
              "print(json.dumps({'error': error, 'seconds': time.monotonic() - t0,\n"
              "                  'mb': int(next(line.split()[1] for line in open('/proc/self/status')\n"
              "                                 if line.startswith('VmHWM:'))) / 1024}))\n")
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]  # not aborted
    got = json.loads(proc.stdout)
    assert got["error"] == ("persons.xlsx「persons」 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），"
                            "请用 Excel 重新保存后再上传"), got
    assert got["seconds"] < 10 and got["mb"] < 300, got
