"""The accepted forms of a ledger bundle (shared/docs/ledger-format.md), through ``import_bundle``:
CSV headers in English or Chinese, encodings, workbooks, folders, zips, and the bundles refused."""
from __future__ import annotations

import datetime as dt
import hashlib
import zipfile

import openpyxl
import pytest
from sqlalchemy import select

from audit.ledger import csvfile
from audit.ledger.bundle import Limits
from audit.ledger.schema import BY_NAME
from models import Attendance, ImportBatch, Official, Person, Position, Post, db

from bundle_files import (
    CHINESE_SHEETS,
    EXPECTED_ADDED,
    RawNameInfo,
    added,
    assert_base_values_stored,
    assert_imported,
    fill_sheet,
    fullwidth,
    messages,
    renamed,
    run,
    write_workbook,
    zip_folder,
)
from helpers import base_tables, count, write_bundle

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
    tables = {name: [dict(reversed(list(r.items()))) for r in rows] for name, rows in base_tables(people)
              .items()}
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


def test_csv_in_gb18030_whose_first_blocks_are_all_ascii(app, people, tmp_path, monkeypatch):
    """The encoding is told by the first block of the file that is not all ASCII (here the second of
    64 bytes): a header in English says nothing of it."""
    monkeypatch.setattr(csvfile, "CHUNK", 64)
    folder = write_bundle(tmp_path / "bundle", base_tables(people), encoding="gb18030")
    raw = (folder / "persons.csv").read_bytes()
    assert raw[:64].isascii() and not raw[64:128].isascii()
    result = run(folder)
    assert_imported(result)
    assert_base_values_stored()


@pytest.mark.parametrize("block", [64, 1 << 20])
def test_csv_in_utf8_then_in_gbk_is_refused_naming_the_line(app, people, tmp_path, monkeypatch, block):
    """A file put together from a UTF-8 one and a GBK one: read as UTF-8 from its first Chinese
    text, the GBK line further on refuses the import, by its line (never read as mojibake)."""
    monkeypatch.setattr(csvfile, "CHUNK", block)
    folder = write_bundle(tmp_path / "bundle", base_tables(people))
    path = folder / "persons.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 4 and len(lines[1].translate(None, csvfile.ASCII)) >= csvfile.TOLD
    lines[2] = lines[2].decode("utf-8").encode("gbk")
    path.write_bytes(b"".join(lines))
    result = run(folder)
    assert messages(result) == (
        "persons.csv 第3行有不是 UTF-8 编码的字符，而文件前面的内容是 UTF-8：文件的编码无法识别，"
        "请另存为 UTF-8 或 GB18030 编码的 CSV（常见原因：把不同编码的两个文件拼在了一起）")
    assert count(Person) == 0


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw.replace("白帝村".encode(), "白帝\x00村".encode(), 1),
     "含有空字符（NUL），不是文本格式的 CSV"),
    (lambda raw: raw.decode("utf-8").encode("utf-16"),  # Excel's "Unicode text": NULs, but not text with one
     "的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV"),
])
def test_csv_with_a_nul_is_refused_as_not_text_or_in_another_encoding(app, people, tmp_path, damage, message):
    folder = write_bundle(tmp_path / "bundle", base_tables(people))
    path = folder / "persons.csv"
    path.write_bytes(damage(path.read_bytes()))
    assert b"\x00" in path.read_bytes()
    assert messages(run(folder)) == f"persons.csv {message}"
    assert count(Person) == 0


def test_unknown_column_is_ignored_with_a_warning(app, people, tmp_path):
    tables = base_tables(people)
    for r in tables["persons"]:
        r["备注"] = "村里推荐"
    result = run(write_bundle(tmp_path / "bundle", tables))
    assert_imported(result)
    assert any("备注" in w for w in result.warnings), result.warnings
    assert_base_values_stored()


# ---- Excel workbooks ------------------------------------------------------------------------



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
    path = zip_folder(folder, tmp_path / "bundle.zip")
    result = run(path)
    assert_imported(result)
    # the batch's 文件摘要 is the zip's own SHA-256: what sha256sum (certutil on Windows) says of it
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert db.session.get(ImportBatch, result.batch_id).sha256 == digest


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
