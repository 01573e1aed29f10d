"""The accepted forms of a ledger bundle (shared/docs/ledger-format.md), through ``import_bundle``:
CSV headers in English or Chinese, encodings, workbooks, folders, zips, and the bundles refused."""
from __future__ import annotations

import copy
import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from flask import current_app
from sqlalchemy import select

from audit.ledger import values as v
from audit.ledger.bundle import Limits
from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME
from models import (
    Attendance,
    ImportBatch,
    Official,
    Person,
    Placement,
    Position,
    Post,
    Report,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

from helpers import base_tables, count, write_bundle

# What base_tables() adds to an empty database.
EXPECTED_ADDED = {"persons": 3, "positions": 2, "placements": 2, "workshops": 1, "workshop_staff": 1,
                  "attendance": 4, "wages": 2, "reports": 2, "deaths": 1, "officials": 1}


def run(path, **kw):
    return import_bundle(path, engine=db.engine, pii=current_app.extensions["pii"], **kw)


def added(result) -> dict[str, int]:
    return {t: c.added for t, c in result.counts.items()}


def messages(result) -> str:
    return "\n".join(str(e) for e in result.errors)


def assert_imported(result, expected=EXPECTED_ADDED):
    assert result.ok, messages(result)
    assert added(result) == expected
    assert {t: c.rows for t, c in result.counts.items()} == expected


def wage_of(code: str) -> int:
    return db.session.scalar(select(Position.monthly_wage_fen).join(Post, Post.id == Position.id)
                             .where(Post.code == code))


def assert_base_values_stored():
    """The values of base_tables(), as stored."""
    assert set(db.session.scalars(select(Person.name))) == {"王大山", "李小花", "张三"}
    assert wage_of("GW-001") == 80000
    assert wage_of("GW-002") == 90000
    assert db.session.scalar(select(WorkshopStaff.monthly_wage_fen)) == 250000
    assert db.session.scalar(select(WorkshopStaff.start_date)) == dt.date(2024, 10, 1)
    assert sorted(db.session.scalars(select(Placement.start_date))) == [dt.date(2025, 1, 1)] * 2
    assert list(db.session.scalars(select(Placement.end_date))) == [None, None]
    assert sorted(set(db.session.scalars(select(Attendance.work_date)))) == [dt.date(2025, 1, 2),
                                                                           dt.date(2025, 1, 3)]
    assert sorted(t for t in db.session.scalars(select(Attendance.check_in_time)) if t) == [
        dt.time(7, 55), dt.time(8, 1), dt.time(8, 30)]
    assert sorted(db.session.execute(select(Wage.period, Wage.paid_on, Wage.amount_fen)).all()) == [
        (dt.date(2025, 1, 1), dt.date(2025, 2, 10), 80000), (dt.date(2025, 1, 1), dt.date(2025, 2, 12), 250000)]
    assert sorted(db.session.scalars(select(Report.value_x100))) == [100, 250000]


def renamed(tables: dict[str, list[dict]], header) -> dict[str, list[dict]]:
    """The same bundle with each column header replaced by ``header(spec, key, index)``."""
    out = {}
    for name, rows in tables.items():
        spec = BY_NAME[name]
        keys = list(rows[0])
        out[name] = [{header(spec, k, i): r.get(k, "") for i, k in enumerate(keys)} for r in rows]
    return out


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# ---- Excel ----------------------------------------------------------------------------------

def excel_cell(spec, key: str, text: str):
    """A cell as Excel holds it: real dates, numbers for money and counts, text for IDs and codes."""
    if text == "":
        return None
    parse = spec.col(key).parse
    if parse is v.date:
        return dt.datetime.fromisoformat(text)
    if parse is v.month:
        return dt.datetime.strptime(text, "%Y-%m")
    if parse is v.time:
        return dt.time.fromisoformat(text)
    if parse in (v.money, v.decimal_x100):
        d = Decimal(text)
        return int(d) if d == d.to_integral_value() else float(d)
    if parse is v.integer:
        return int(text)
    return text


def fill_sheet(ws, name: str, rows: list[dict]) -> None:
    spec = BY_NAME[name]
    keys = list(rows[0])
    ws.append(keys)
    for r in rows:
        ws.append([excel_cell(spec, k, r.get(k, "")) for k in keys])


def write_workbook(path: Path, tables: dict[str, list[dict]], sheet_name) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in tables.items():
        fill_sheet(wb.create_sheet(sheet_name(name)), name, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ---- zips -----------------------------------------------------------------------------------

class RawNameInfo(zipfile.ZipInfo):
    """An entry whose name is written as raw bytes (``filename`` is those bytes decoded as cp437) and
    without the UTF-8 flag 0x800: what zip tools on a Chinese Windows write. (zipfile would otherwise
    store any non-ASCII name as UTF-8 and set the flag.)"""

    def _encodeFilenameFlags(self):
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


def zip_folder(folder: Path, path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if prefix:
            zf.writestr(prefix, b"")  # the folder's own entry, as zip tools write it
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return path


# ---- CSV headers ----------------------------------------------------------------------------

def test_csv_with_chinese_headers_imports_like_english_headers(app, people, tmp_path):
    tables = base_tables(people)
    english = write_bundle(tmp_path / "english", tables)
    chinese = write_bundle(tmp_path / "chinese", renamed(tables, lambda spec, k, i: spec.col(k).zh))
    assert "身份证号" in (chinese / "persons.csv").read_text(encoding="utf-8").splitlines()[0]

    dry = run(english, dry_run=True)
    assert_imported(dry)
    result = run(chinese)
    assert_imported(result)
    assert added(result) == added(dry)
    assert result.warnings == []
    assert_base_values_stored()

    # the English-headed bundle holds exactly the same data: nothing to add or change
    again = run(english)
    assert again.ok, messages(again)
    assert all(c.added == 0 and c.changed == 0 and c.unchanged == c.rows for c in again.counts.values())


def test_headers_with_spaces_and_full_width_characters(app, people, tmp_path):
    def header(spec, key, i):
        if i % 3 == 0:
            return f"  {fullwidth(key.upper())} "  # e.g. "  ＩＤ＿ＮＵＭＢＥＲ "
        if i % 3 == 1:
            return f"\u3000{spec.col(key).zh}\u3000"  # ideographic spaces around the Chinese header
        return f" {key} "

    folder = write_bundle(tmp_path / "bundle", renamed(base_tables(people), header))
    assert "ＩＤ＿ＮＵＭＢＥＲ" in (folder / "persons.csv").read_text(encoding="utf-8")
    result = run(folder)
    assert_imported(result)
    assert result.warnings == []
    assert_base_values_stored()


def test_columns_in_any_order(app, people, tmp_path):
    tables = {name: [dict(reversed(list(r.items()))) for r in rows] for name, rows in base_tables(people).items()}
    assert_imported(run(write_bundle(tmp_path / "bundle", tables)))
    assert_base_values_stored()


# ---- encodings ------------------------------------------------------------------------------

def test_csv_in_gb18030(app, people, tmp_path):
    folder = write_bundle(tmp_path / "bundle", base_tables(people), encoding="gb18030")
    raw = (folder / "persons.csv").read_bytes()
    assert "王大山".encode("gb18030") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    result = run(folder)
    assert_imported(result)
    assert_base_values_stored()
    assert db.session.scalar(select(Person.name).where(Person.name == "王大山")) == "王大山"
    assert db.session.scalar(select(Position.title).where(Position.id == select(Post.id).where(
        Post.code == "GW-002").scalar_subquery())) == "护林员"
    assert db.session.scalar(select(Official.name)) == "赵书记"


def test_csv_in_gb18030_with_chinese_headers(app, people, tmp_path):
    tables = renamed(base_tables(people), lambda spec, k, i: spec.col(k).zh)
    result = run(write_bundle(tmp_path / "bundle", tables, encoding="gb18030"))
    assert_imported(result)
    assert_base_values_stored()


def test_csv_in_utf8_with_bom(app, people, tmp_path):
    folder = write_bundle(tmp_path / "bundle", base_tables(people), encoding="utf-8-sig")
    assert (folder / "persons.csv").read_bytes().startswith(b"\xef\xbb\xbfid_number,")
    result = run(folder)
    assert_imported(result)
    assert result.warnings == []  # the BOM did not make the first header unknown
    assert_base_values_stored()


def test_unknown_column_is_ignored_with_a_warning(app, people, tmp_path):
    tables = base_tables(people)
    for r in tables["persons"]:
        r["备注"] = "村里推荐"
    result = run(write_bundle(tmp_path / "bundle", tables))
    assert_imported(result)
    assert any("备注" in w for w in result.warnings), result.warnings
    assert_base_values_stored()


# ---- Excel workbooks ------------------------------------------------------------------------

CHINESE_SHEETS = {"persons", "placements", "attendance", "reports", "officials"}


def test_one_workbook_with_a_sheet_per_table(app, people, tmp_path):
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", tables,
                          lambda name: BY_NAME[name].zh if name in CHINESE_SHEETS else name)
    wb = openpyxl.load_workbook(path)
    assert "人员信息" in wb.sheetnames and "positions" in wb.sheetnames
    assert isinstance(wb["安置台账"]["C2"].value, dt.datetime)  # a real Excel date cell
    assert wb["positions"]["H3"].value == 900  # a number, not text
    assert wb["人员信息"]["A2"].data_type == "s"  # the ID number is text

    result = run(path)
    assert_imported(result)
    assert result.warnings == []
    assert_base_values_stored()


def test_workbook_with_an_unknown_sheet_warns(app, people, tmp_path):
    tables = base_tables(people)
    path = tmp_path / "bundle.xlsx"
    write_workbook(path, tables, lambda name: name)
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("说明").append(["本台账由白帝镇填报"])
    wb.save(path)
    result = run(path)
    assert_imported(result)
    assert any("说明" in w for w in result.warnings), result.warnings


def test_folder_of_per_table_workbooks(app, people, tmp_path):
    folder = tmp_path / "bundle"
    for i, (name, rows) in enumerate(base_tables(people).items()):
        wb = openpyxl.Workbook()
        fill_sheet(wb.active, name, rows)
        wb.active.title = ("Sheet1", BY_NAME[name].zh, name)[i % 3]
        folder.mkdir(exist_ok=True)
        wb.save(folder / f"{name}.xlsx")
    result = run(folder)
    assert_imported(result)
    assert_base_values_stored()


def test_folder_mixing_csv_and_xlsx(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", {k: t for k, t in tables.items() if k != "attendance"})
    write_workbook(folder / "attendance.xlsx", {"attendance": tables["attendance"]}, lambda name: name)
    assert_imported(run(folder))
    assert_base_values_stored()


def test_time_cell_next_to_midnight_is_a_row_result_not_a_crash(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", {k: t for k, t in tables.items() if k != "attendance"})
    path = write_workbook(folder / "attendance.xlsx", {"attendance": tables["attendance"]}, lambda name: name)
    wb = openpyxl.load_workbook(path)
    cell = wb["attendance"]["E2"]  # check_in_time of the first row
    cell.value, cell.number_format = 0.9999999, "General"  # a plain number, as a formula result can be
    wb.save(path)
    result = run(folder)
    assert result.ok
    assert db.session.scalar(select(Attendance.check_in_time).where(
        Attendance.work_date == dt.date(2025, 1, 2), Attendance.status == "出勤",
        Attendance.device_id == "KQJ-01")) == dt.time(23, 59, 59)


# ---- zips -----------------------------------------------------------------------------------

def test_zip_with_the_bundle_folder_inside(app, people, tmp_path):
    folder = write_bundle(tmp_path / "src" / "bundle", base_tables(people))
    path = zip_folder(folder, tmp_path / "bundle.zip", prefix="bundle/")
    with zipfile.ZipFile(path, "a") as zf:  # what macOS Finder adds
        zf.writestr("__MACOSX/bundle/._persons.csv", b"\x00\x05\x16\x07junk")
    assert "bundle/persons.csv" in zipfile.ZipFile(path).namelist()
    result = run(path)
    assert_imported(result)
    assert result.warnings == []
    assert_base_values_stored()


def test_zip_with_files_at_the_top(app, people, tmp_path):
    folder = write_bundle(tmp_path / "src", base_tables(people))
    assert_imported(run(zip_folder(folder, tmp_path / "bundle.zip")))


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])  # Chinese Windows tools; macOS Finder
def test_zip_with_chinese_entry_names_and_no_utf8_flag(app, people, tmp_path, encoding):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "src", tables)
    path = tmp_path / "台账.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in tables:
            entry = f"台账/{BY_NAME[name].zh}.csv".encode(encoding).decode("cp437")
            info = RawNameInfo(entry, date_time=(2025, 3, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (folder / f"{name}.csv").read_bytes())
    raw = path.read_bytes()
    assert "人员信息.csv".encode(encoding) in raw
    assert all(not i.flag_bits & 0x800 for i in zipfile.ZipFile(path).infolist())

    result = run(path)
    assert_imported(result)
    assert result.warnings == []
    assert_base_values_stored()


def test_zip_bomb_is_refused_before_parsing(app, people, tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as zf, zf.open("persons.csv", "w") as fh:
        zeros = bytes(1 << 20)
        for _ in range(50):  # 50 MiB of zeros
            fh.write(zeros)
    assert path.stat().st_size < 10_000
    result = run(path)
    assert not result.ok
    assert [e.table for e in result.errors] == ["bundle"]  # refused as a whole, not row by row
    assert "压缩" in messages(result)
    assert count(Person) == 0 and count(ImportBatch) == 0


@pytest.mark.parametrize("entries, refused", [(5, False), (6, True)])
def test_zip_with_too_many_entries(app, people, tmp_path, entries, refused):
    tables = base_tables(people)
    names = ["persons", "positions", "placements", "workshops", "workshop_staff", "attendance"][:entries]
    folder = write_bundle(tmp_path / "src", {n: tables[n] for n in names})
    path = zip_folder(folder, tmp_path / "bundle.zip")
    assert len(zipfile.ZipFile(path).namelist()) == entries
    result = run(path, limits=Limits(max_entries=5))
    if refused:
        assert not result.ok
        assert [e.table for e in result.errors] == ["bundle"]
        msg = messages(result)
        assert "上限 5" in msg and "6" in msg
        assert count(Person) == 0
    else:
        assert_imported(result, {n: EXPECTED_ADDED[n] for n in names})


# ---- not a bundle ---------------------------------------------------------------------------

def test_a_single_csv_is_not_a_bundle(app, people, tmp_path):
    folder = write_bundle(tmp_path / "bundle", base_tables(people))
    result = run(folder / "persons.csv")
    assert not result.ok
    assert "单个 CSV" in messages(result) and "不是台账包" in messages(result)
    assert count(Person) == 0


def test_a_path_that_does_not_exist(app, tmp_path):
    result = run(tmp_path / "nowhere")
    assert not result.ok
    assert "找不到" in messages(result)


def test_a_file_named_zip_that_is_not_a_zip(app, tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_text("id_number,name\n", encoding="utf-8")
    result = run(path)
    assert not result.ok
    assert "不是有效的 zip" in messages(result)


def test_a_folder_without_any_table(app, tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello", encoding="utf-8")
    result = run(folder)
    assert not result.ok
    assert "没有可识别的表" in messages(result)


def test_the_same_table_given_twice(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", tables)
    write_workbook(folder / "persons.xlsx", {"persons": tables["persons"]}, lambda name: name)
    result = run(folder)
    assert not result.ok
    assert "两次" in messages(result)
    assert "persons.csv" in messages(result) and "persons.xlsx" in messages(result)
    assert count(Person) == 0


def test_the_same_table_under_both_names(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", tables)
    (folder / "人员信息.csv").write_bytes((folder / "persons.csv").read_bytes())
    result = run(folder)
    assert not result.ok
    assert "两次" in messages(result)


# ---- empty cells and blank lines ------------------------------------------------------------

def test_empty_end_date_means_still_active(app, people, tmp_path):
    tables = base_tables(people)
    tables["placements"][1]["end_date"] = "2025-06-30"
    result = run(write_bundle(tmp_path / "bundle", tables))
    assert_imported(result)
    ends = dict(db.session.execute(select(Post.code, Placement.end_date)
                                   .join(Post, Post.id == Placement.position_id)).all())
    assert ends == {"GW-001": None, "GW-002": dt.date(2025, 6, 30)}


def _insert_line(path: Path, after: int, line: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(after, line)
    path.write_text("".join(lines), encoding="utf-8")


def test_a_line_of_only_commas_is_ignored(app, people, tmp_path):
    tables = base_tables(people)
    folder = write_bundle(tmp_path / "bundle", tables)
    width = len(tables["persons"][0])
    _insert_line(folder / "persons.csv", 2, "," * (width - 1) + "\r\n")  # between the 1st and 2nd person
    _insert_line(folder / "attendance.csv", 5, "\r\n")  # a truly empty line at the end
    (folder / "wages.csv").write_text((folder / "wages.csv").read_text(encoding="utf-8") + ",,,\r\n,,,,,,,\r\n",
                                      encoding="utf-8")
    result = run(folder)
    assert_imported(result)
    assert_base_values_stored()


def test_a_blank_line_does_not_shift_row_numbers(app, people, tmp_path):
    tables = base_tables(people)
    tables["persons"][1]["id_number"] = tables["persons"][1]["id_number"][:17]  # 17 characters
    folder = write_bundle(tmp_path / "bundle", tables)
    _insert_line(folder / "persons.csv", 2, "," * (len(tables["persons"][0]) - 1) + "\r\n")
    result = run(folder)
    assert not result.ok
    bad = [e for e in result.errors if e.table == "persons"]
    assert [(e.row, e.column) for e in bad] == [(4, "身份证号")]  # header 1, person 2, blank 3, person 4
    assert "18位" in bad[0].reason
    assert count(Person) == 0


# ---- dry run --------------------------------------------------------------------------------

def test_dry_run_counts_but_changes_nothing(app, people, tmp_path):
    folder = write_bundle(tmp_path / "bundle", base_tables(people))
    result = run(folder, dry_run=True)
    assert result.dry_run and not result.committed
    assert_imported(result)
    assert result.batch_id is None
    for model in (Person, Post, Position, Placement, Workshop, WorkshopStaff, Attendance, Wage, Report, Official,
                  ImportBatch):
        assert count(model) == 0, model.__name__

    # the real import then adds exactly what the dry run announced
    db.session.rollback()  # end the session's read transaction, to see what the import commits
    real = run(folder)
    assert added(real) == added(result)
    assert count(Person) == 3


def test_dry_run_on_a_loaded_database_shows_changes(app, people, tmp_path):
    tables = base_tables(people)
    assert_imported(run(write_bundle(tmp_path / "first", tables)))
    changed = copy.deepcopy(tables)
    changed["positions"][1]["monthly_wage"] = "950"
    result = run(write_bundle(tmp_path / "second", changed), dry_run=True)
    assert result.ok, messages(result)
    assert (result.counts["positions"].added, result.counts["positions"].changed) == (0, 1)
    assert wage_of("GW-002") == 90000  # unchanged: it was a dry run


def test_a_month_excel_turned_into_a_number_is_a_row_error_not_january(app, people, tmp_path):
    """2025.10 typed into a General cell is kept by Excel as 2025.1: stored as January it gave one
    county 1,247 false findings. The row is refused, asking for text (ledger-format.md)."""
    tables = base_tables(people)
    path = write_workbook(tmp_path / "台账.xlsx", tables, lambda name: name)
    wb = openpyxl.load_workbook(path)
    ws = wb["wages"]
    col = [c.value for c in ws[1]].index("period") + 1
    cell = ws.cell(row=2, column=col, value=2025.1)  # a number in a General cell, as Excel keeps 2025.10
    cell.number_format = "General"
    wb.save(path)
    result = run(path, dry_run=True)
    errors = [e for e in result.errors if e.table == "wages"]
    assert [(e.row, e.column) for e in errors] == [(2, "所属月份")]  # the column's Chinese name
    assert "月份被 Excel 存成了数字 2025.1" in errors[0].reason and "2025-10" in errors[0].reason


def test_a_month_excel_made_a_date_and_saved_as_csv_is_that_month(app, people, tmp_path):
    """2025-10 typed into a cell Excel makes a date and, saved as CSV, writes 2025/10/1: that month.
    Another day of the month in a month column is still refused."""
    tables = base_tables(people)
    tables["wages"][0]["period"] = "2025/1/1"
    assert run(write_bundle(tmp_path / "ok", tables)).ok
    db.session.rollback()
    assert {w.period for w in db.session.scalars(select(Wage))} >= {dt.date(2025, 1, 1)}
    tables["wages"][0]["period"] = "2025/1/15"
    result = run(write_bundle(tmp_path / "day", tables), dry_run=True)
    assert [(e.table, e.row, e.column) for e in result.errors] == [("wages", 2, "所属月份")]
    assert "月份格式应为 YYYY-MM" in result.errors[0].reason


# ---- workbooks as calamine reads them (issue 14) ----------------------------------------------
# A workbook's sheets are read by calamine, block by block of whole rows; a block it may not read
# (error cells, odd cell tags) by openpyxl. What a user notices must not depend on which.

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
    from audit.ledger import bundle

    monkeypatch.setattr(bundle, "BLOCK_BYTES", 4096)
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
