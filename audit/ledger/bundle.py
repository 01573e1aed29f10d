"""Opening a ledger bundle: a folder, a .zip of that folder, or one .xlsx workbook.

Everything that concerns the bundle as a whole (unreadable files, zip bombs, a table given twice)
raises ``BundleError`` with a Chinese message before a single row is parsed."""
from __future__ import annotations

import codecs
import csv
import io
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from openpyxl.reader.excel import ExcelReader
from openpyxl.reader.strings import read_string_table
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from openpyxl.worksheet._reader import WorkSheetParser
from openpyxl.xml.constants import ARC_STYLE, SHARED_STRINGS
from python_calamine import CalamineWorkbook

from .schema import TableSpec, table_for


class BundleError(Exception):
    """The bundle cannot be read at all; the message is for the user."""


@dataclass(frozen=True)
class Limits:
    max_uncompressed: int = 4 << 30
    max_entries: int = 2000
    max_ratio: int = 1000
    max_xlsx_rows: int = 2_000_000
    max_xlsx_columns: int = 200
    max_xlsx_seconds: float = 600.0
    # row errors kept before the check stops (a file of junk rows, e.g. a zip bomb of a small ratio,
    # would otherwise keep millions of them in memory); the last one says that it stopped
    max_errors: int = 10_000
    # PostgreSQL: a CSV of attendance or wages from this many rows takes the importer's fast path
    # (audit/ledger/fast.py); a smaller one is read row by row
    fast_min_rows: int = 10_000

    @classmethod
    def from_config(cls, c) -> Limits:
        d = cls()
        return cls(c.get("IMPORT_MAX_UNCOMPRESSED_BYTES", d.max_uncompressed),
                   c.get("IMPORT_MAX_ENTRIES", d.max_entries), c.get("IMPORT_MAX_RATIO", d.max_ratio),
                   c.get("IMPORT_MAX_XLSX_ROWS", d.max_xlsx_rows),
                   c.get("IMPORT_MAX_XLSX_COLUMNS", d.max_xlsx_columns),
                   c.get("IMPORT_MAX_XLSX_SECONDS", d.max_xlsx_seconds),
                   c.get("IMPORT_MAX_ERRORS", d.max_errors),
                   fast_min_rows=c.get("IMPORT_FAST_MIN_ROWS", d.fast_min_rows))


CHUNK = 1 << 20  # bytes read at a time from a file or a zip entry


@dataclass
class Source:
    """One table of the bundle: where it came from and its rows (header first)."""

    spec: TableSpec
    origin: str  # file or sheet name, for messages
    _open: object  # () -> Iterator[tuple]
    approx_rows: int | None = None
    text: Callable[[], Iterator[str]] | None = None  # a CSV's text in blocks, decoded (importer's fast path)

    def rows(self) -> Iterator[tuple]:
        return self._open()


@dataclass
class Bundle:
    name: str
    sources: dict[str, Source] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for c in reversed(self._closers):
            c()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, spec: TableSpec, source: Source) -> None:
        if spec.name in self.sources:
            raise BundleError(
                f"表 {spec.label} 出现了两次（{self.sources[spec.name].origin} 和 {source.origin}），请只保留一个")
        self.sources[spec.name] = source


def open_bundle(path: str | Path, limits: Limits = Limits()) -> Bundle:
    p = Path(path)
    if not p.exists():
        raise BundleError(f"找不到 {p}")
    bundle = Bundle(name=p.name)
    try:
        if p.is_dir():
            _open_folder(bundle, p, limits)
        elif p.suffix.lower() == ".zip":
            _open_zip(bundle, p, limits)
        elif p.suffix.lower() in (".xlsx", ".xlsm"):
            _open_workbook(bundle, p, p.name, limits, whole_bundle=True)
        elif p.suffix.lower() == ".csv":
            raise BundleError("单个 CSV 文件不是台账包：请把各表的 CSV 放在一个文件夹（或其 zip）中，文件名为表名，如 persons.csv")
        else:
            raise BundleError(f"无法识别的台账包：{p.name}（应为文件夹、.zip 或 .xlsx）")
    except BaseException:
        bundle.close()
        raise
    if not bundle.sources:
        bundle.close()
        raise BundleError(f"{p.name} 中没有可识别的表（文件或工作表应以表名命名，如 persons.csv、人员信息）")
    return bundle


# ---- folders and zips ------------------------------------------------------------------------

def _table_file(bundle: Bundle, name: str) -> tuple[TableSpec, str] | None:
    """(spec, suffix) for a file name that names a table; a warning for other visible files."""
    pure = PurePosixPath(name)
    if pure.name.startswith((".", "~$")) or "__MACOSX" in pure.parts:
        return None
    suffix = pure.suffix.lower()
    spec = table_for(pure.stem) if suffix in (".csv", ".xlsx", ".xlsm") else None
    if spec is None:
        bundle.warnings.append(f"未识别的文件 {name}，已忽略（文件名应为表名，如 persons.csv）")
        return None
    return spec, suffix


def _open_folder(bundle: Bundle, folder: Path, limits: Limits) -> None:
    files = sorted(f for f in folder.iterdir() if f.is_file())
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if not files and len(subdirs) == 1:  # a folder holding the bundle folder
        return _open_folder(bundle, subdirs[0], limits)
    for f in files:
        hit = _table_file(bundle, f.name)
        if hit:
            spec, suffix = hit
            _add_file(bundle, spec, f.name, suffix, partial(open, f, "rb"), limits)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Entry names without the UTF-8 flag: UTF-8 all the same (macOS), else GBK (Chinese Windows)."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="ignore")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


WHOLE_PARTS = ("sharedStrings.xml", "styles.xml")
WHOLE_PART_RATIO = 50  # their real ratio is a few to one: every string is stored there once


def check_zip(zf: zipfile.ZipFile, what: str, limits: Limits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise BundleError(f"{what} 含 {len(infos)} 个条目，超过上限 {limits.max_entries}，拒绝解析")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed:
        biggest = max(infos, key=lambda i: i.file_size)
        raise BundleError(
            f"{what} 解压后共 {total / 2**20:.0f} MiB（其中 {_zip_name(biggest)} {biggest.file_size / 2**20:.0f} MiB），"
            f"超过上限 {limits.max_uncompressed / 2**20:.0f} MiB，拒绝解析（疑似压缩炸弹）")
    for i in infos:
        # the parts of an xlsx that openpyxl reads whole (shared strings, styles) hold each text once:
        # they never compress like a table's rows, and a bomb there would be read whole into memory
        ratio = min(limits.max_ratio, WHOLE_PART_RATIO) if i.filename.endswith(WHOLE_PARTS) else limits.max_ratio
        if i.file_size > (1 << 20) and i.file_size > ratio * max(i.compress_size, 1):
            raise BundleError(f"{what} 中的 {i.filename} 压缩比异常（疑似压缩炸弹），拒绝解析")


def _open_zip(bundle: Bundle, path: Path, limits: Limits) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except Exception:  # BadZipFile, and on a damaged central directory ValueError, EOFError, …
        raise BundleError(f"{path.name} 不是有效的 zip 文件（文件已损坏或不完整）") from None
    bundle._closers.append(zf.close)
    check_zip(zf, path.name, limits)
    budget: dict[str, int] = {}
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = _zip_name(info)
        hit = _table_file(bundle, name)
        if hit:
            spec, suffix = hit
            _add_file(bundle, spec, name, suffix, partial(open_entry, zf, info, name, limits, budget), limits)


def _entry_problem(name: str) -> BundleError:
    """A damaged, encrypted or oddly compressed entry, for the user (call in an ``except``)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, BundleError):
        return exc
    if isinstance(exc, NotImplementedError):  # before RuntimeError, of which it is a kind
        return BundleError(f"压缩包中的 {name} 使用了不支持的压缩方式，请用常见的 zip 工具重新打包后再上传")
    if isinstance(exc, RuntimeError):  # zipfile's word for an encrypted entry
        return BundleError(f"压缩包中的 {name} 设有密码，请不加密重新打包后再上传")
    # a wrong CRC, a truncated or damaged stream (zlib, bz2, lzma errors, EOFError)
    return BundleError(f"压缩包中的 {name} 已损坏，无法解压，请重新打包后再上传")


class _Counted(io.RawIOBase):
    """A zip entry read as a stream, its bytes counted as they come out of the decompressor: past
    the size limit, or past ``max_ratio`` times its compressed size, the read stops with a
    ``BundleError`` naming the entry. (Never trust the sizes the zip declares.) ``budget`` (one per
    zip: entry -> the most bytes read from it) bounds the whole zip's inflated size the same way."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits,
                 budget: dict | None = None):
        self.name, self.limits, self.count, self.raw = name, limits, 0, None
        self.packed = max(info.compress_size, 1)
        self.budget = {} if budget is None else budget
        try:
            self.raw = zf.open(info)
        except Exception:
            raise _entry_problem(name) from None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self.raw.read(min(len(buf), CHUNK))
        except Exception:
            raise _entry_problem(self.name) from None
        n = len(data)
        buf[:n] = data
        self.count += n
        lim = self.limits
        if self.count > self.budget.get(self.name, 0):
            self.budget[self.name] = self.count
        if sum(self.budget.values()) > lim.max_uncompressed:
            raise BundleError(f"压缩包中的 {self.name} 解压后（连同其他文件）超过上限 {lim.max_uncompressed / 2**20:.0f} MiB，"
                              "拒绝解析（疑似压缩炸弹）")
        if self.count > (1 << 20) and self.count > lim.max_ratio * self.packed:
            raise BundleError(f"压缩包中的 {self.name} 压缩比超过 {lim.max_ratio}:1（疑似压缩炸弹），拒绝解析")
        return n

    def close(self) -> None:
        if not self.closed and self.raw is not None:
            self.raw.close()
        super().close()


def open_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits = Limits(),
               budget: dict | None = None):
    """An entry as a buffered binary stream, bounded as ``_Counted`` says."""
    return io.BufferedReader(_Counted(zf, info, name, limits, budget), CHUNK)


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits = Limits()) -> bytes:
    """An entry's bytes (bounded); a damaged, encrypted or oddly compressed entry is a ``BundleError``."""
    with open_entry(zf, info, name, limits) as fh:
        return fh.read()


def _add_file(bundle: Bundle, spec: TableSpec, name: str, suffix: str, opener, limits: Limits) -> None:
    if suffix == ".csv":
        bundle.add(spec, _csv_source(spec, name, opener))
    else:  # a workbook inside the zip: copied, bounded, to a temporary file (never whole in memory)
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        bundle._closers.append(spool.close)
        with opener() as fh:
            shutil.copyfileobj(fh, spool, CHUNK)
        spool.seek(0)
        _open_workbook(bundle, spool, name, limits, whole_bundle=False, spec=spec)


# ---- CSV -------------------------------------------------------------------------------------

def decode_csv(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB18030 (what Excel on a Chinese Windows saves)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BundleError(f"{name} 的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV") from None


def _scan_csv(opener, name: str) -> tuple[str, int]:
    """(encoding, lines) of a CSV, read as a stream (the bounds of a zip entry apply as it is read):
    UTF-8 (with or without BOM), else GB18030; a NUL or another encoding is a ``BundleError``."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with opener() as fh:
                while chunk := fh.read(CHUNK):
                    text = decoder.decode(chunk)
                    if "\x00" in text:
                        raise BundleError(f"{name} 含有空字符（NUL），不是文本格式的 CSV")
                    lines += text.count("\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
    raise BundleError(f"{name} 的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV")


def _csv_source(spec: TableSpec, name: str, opener) -> Source:
    encoding, lines = _scan_csv(opener, name)

    def rows() -> Iterator[tuple]:
        with opener() as fh:
            reader = csv.reader(io.TextIOWrapper(fh, encoding=encoding, newline=""))
            try:
                yield from reader
            except csv.Error as exc:
                raise BundleError(csv_problem(name, reader.line_num, exc)) from None

    def text() -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(encoding)()  # utf-8-sig: without the BOM
        with opener() as fh:
            while chunk := fh.read(CHUNK):
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)

    return Source(spec, name, rows, approx_rows=max(lines - 1, 0), text=text)


def csv_problem(name: str, line: int, exc: csv.Error) -> str:
    """The csv module's complaint, for the user (its own words are English)."""
    if "field larger than field limit" in str(exc):
        return (f"{name} 第{line}行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
                "（常见原因：引号不成对，使后面的内容都并进了一个单元格）")
    return f"{name} 第{line}行附近格式错误，不是有效的 CSV（请检查引号是否成对）"


# ---- Excel -----------------------------------------------------------------------------------
#
# A workbook's sheets are listed by openpyxl's reader (their names and parts, as before); their
# cells are read by calamine (python-calamine, in Rust), 10 to 20 times faster than openpyxl's
# parser. calamine reads a sheet whole into a dense grid (every cell between the first and the last
# filled one, 32 bytes each: one cell at A1 and one at XFD1048576 asks for 512 GiB and aborts the
# process), so no sheet is handed to it whole. The sheet's XML is streamed (bounded like every zip
# entry) and cut into blocks of whole rows (BLOCK_BYTES); a block goes to calamine, as a little
# workbook of its own, only once its bytes show that its grid is small (``_grid_fits``: every cell a
# plain <c r="B7"> with Excel's own attributes, within the row and column limits, the grid at most
# a cell per BYTES_PER_CELL bytes). Any other block (error cells such as #N/A, which calamine reads
# as empty; cells out of order; damaged tags) is parsed by openpyxl's streaming parser as every
# sheet was before, with the same limits and messages. Two threads work ahead of the reader: one
# cuts and checks the blocks, one hands them to calamine, which parses without the GIL.

BLOCK_BYTES = 8 << 20  # a block of rows given to calamine (more when the shared strings are large)
BLOCK_BYTES_MAX = 64 << 20
ROW_BYTES_MAX = 64 << 20  # a single row longer than this: openpyxl reads the sheet from there on
HEAD_BYTES_MAX = 1 << 20  # the part of a sheet's XML before <sheetData>
# a block's grid (32 bytes a cell) may have a cell per BYTES_PER_CELL bytes of the block, + GRID_SLACK:
# a filled cell takes 20 bytes and more (<c r="A1"><v>1</v></c>), so a grid of filled rows passes
BYTES_PER_CELL = 8
GRID_SLACK = 1 << 20
INT_EXACT = 10**15  # Excel keeps 15 digits: a whole number below this is the integer typed

_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)")
_ROOT = re.compile(rb"<(?![?!])([^\s/>]+)")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([^\"]*)\"")
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
_ANY_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MINI_ROOT_RELS = (f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/officeDocument" '
                   'Target="xl/workbook.xml"/></Relationships>').encode()
_MINI_BOOK_RELS = (f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/worksheet" '
                   'Target="worksheets/sheet1.xml"/></Relationships>').encode()
_MINI_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'.encode()
_MINI_FOOT = b"</sheetData></worksheet>"


def _mini_book(date1904: bool) -> bytes:
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    return (f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}">{pr}<sheets><sheet name="s" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>').encode()


class _Workbook:
    """An xlsx being read: its sheets as openpyxl lists them (name, part), their XML streamed."""

    def __init__(self, data, name: str, limits: Limits):
        self.name, self.limits, self.budget = name, limits, {}
        reader = ExcelReader(data, read_only=True, data_only=True)
        try:
            reader.read_manifest()
            reader.read_workbook()
            valid = set(reader.valid_files)
            self.sheets = [(sheet.name, rel.target) for sheet, rel in reader.parser.find_sheets()
                           if rel.target in valid and "chartsheet" not in rel.Type]
            sst = reader.package.find(SHARED_STRINGS)
            self.strings_part = sst.PartName[1:] if sst is not None and sst.PartName[1:] in valid else None
            self.styles_part = ARC_STYLE if ARC_STYLE in valid else None
        except BaseException:
            reader.archive.close()
            raise
        self.reader, self.zf = reader, reader.archive
        self._mini_parts: dict[str, bytes] | None = None
        self._openpyxl: tuple | None = None
        self.block_bytes = BLOCK_BYTES

    def close(self) -> None:
        self.zf.close()

    def open(self, part: str):
        return open_entry(self.zf, self.zf.getinfo(part), part, self.limits, self.budget)

    def read(self, part: str) -> bytes:
        with self.open(part) as fh:
            return fh.read()

    def mini_parts(self) -> dict[str, bytes]:
        """The parts of a little workbook but its sheet: our shared strings, styles, date system."""
        if self._mini_parts is None:
            parts = {"_rels/.rels": _MINI_ROOT_RELS, "xl/_rels/workbook.xml.rels": _MINI_BOOK_RELS,
                     "xl/workbook.xml": _mini_book(self.reader.wb.epoch == CALENDAR_MAC_1904)}
            if self.strings_part:
                parts["xl/sharedStrings.xml"] = self.read(self.strings_part)
            if self.styles_part:
                parts["xl/styles.xml"] = self.read(self.styles_part)
            self._mini_parts = parts
            # calamine parses the shared strings again for each block: larger blocks when they are large
            shared = sum(len(v) for v in parts.values())
            self.block_bytes = min(max(BLOCK_BYTES, 2 * shared), BLOCK_BYTES_MAX)
        return self._mini_parts

    def mini(self, rows: bytes, fh) -> None:
        """Write to ``fh`` a workbook of one sheet holding ``rows`` (whole <row> elements of one of
        ours): what calamine reads."""
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for part, body in self.mini_parts().items():
                zf.writestr(part, body)
            zf.writestr("xl/worksheets/sheet1.xml", b"".join((_MINI_HEAD, rows, _MINI_FOOT)))

    def parser(self, src, row: int) -> WorkSheetParser:
        """openpyxl's streaming parser of ``src`` (a sheet's XML), counting rows without a number
        on from ``row``."""
        if self._openpyxl is None:
            strings = []
            if self.strings_part:
                with self.open(self.strings_part) as fh:
                    strings = read_string_table(fh)
            wb = self.reader.wb
            apply_stylesheet(self.zf, wb)
            self._openpyxl = (strings, wb.epoch, wb._date_formats, wb._timedelta_formats)
        strings, epoch, date_formats, timedelta_formats = self._openpyxl
        parser = WorkSheetParser(src, strings, data_only=True, epoch=epoch, date_formats=date_formats,
                                 timedelta_formats=timedelta_formats)
        parser.row_counter = row
        return parser

    def declared_rows(self, part: str) -> int | None:
        """The last row of the dimension the sheet declares (for progress only: never trusted)."""
        try:
            with self.open(part) as fh:
                m = _DIMENSION.search(fh.read(64 << 10))
            return range_boundaries(m.group(1).decode())[3] if m else None
        except Exception:  # a damaged sheet or dimension: the rows will tell
            return None


def _open_workbook(bundle: Bundle, data, name: str, limits: Limits, *, whole_bundle: bool,
                   spec: TableSpec | None = None) -> None:
    """``data``: the workbook's path, or a seekable binary file."""
    try:
        zf = zipfile.ZipFile(data)
    except Exception:  # BadZipFile, and on a damaged central directory ValueError, EOFError, …
        raise BundleError(f"{name} 不是有效的 xlsx 文件（可能是旧版 .xls，请另存为 .xlsx）") from None
    with zf:
        check_zip(zf, name, limits)
    try:
        if hasattr(data, "seek"):
            data.seek(0)
        book = _Workbook(data, name, limits)
    except BundleError:
        raise
    except Exception:  # openpyxl raises many kinds on a damaged file
        raise BundleError(unreadable(name)) from None
    bundle._closers.append(book.close)
    if not book.sheets:
        raise BundleError(f"{name} 中没有工作表")
    if whole_bundle:
        for title, part in book.sheets:
            t = table_for(title)
            if t is None:
                bundle.warnings.append(f"未识别的工作表「{title}」，已忽略（工作表应以表名命名，如 persons 或 人员信息）")
                continue
            bundle.add(t, _sheet_source(t, f"{name}「{title}」", book, part))
    else:
        named = [s for s in book.sheets if table_for(s[0]) is spec]
        _, part = named[0] if named else book.sheets[0]
        bundle.add(spec, _sheet_source(spec, name, book, part))


def unreadable(name: str) -> str:
    return f"{name} 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），请用 Excel 重新保存后再上传"


def _too_many_rows(origin: str, limits: Limits) -> BundleError:
    return BundleError(f"{origin} 超过 {limits.max_xlsx_rows:,} 行数据（表头之外）的上限，拒绝解析；请分成多个文件导入")


def _too_wide(origin: str, idx: int, width: int, limits: Limits) -> BundleError:
    return BundleError(f"{origin} 第{idx}行在第 {width:,} 列有内容，超过 {limits.max_xlsx_columns} 列的上限，拒绝解析")


def _numbered(rows: Iterator[tuple[int, tuple]], origin: str, limits: Limits) -> Iterator[tuple]:
    """(row number, row) pairs as the rows of the sheet, header first: a row the sheet leaves out
    is ``()``. More than ``max_xlsx_seconds`` spent reading (not counting the caller's time between
    rows) stops the read with a ``BundleError``."""
    spent, started = 0.0, time.monotonic()
    expected = 1
    for idx, row in rows:
        spent += time.monotonic() - started
        if spent > limits.max_xlsx_seconds:
            raise BundleError(f"{origin} 读取超过 {limits.max_xlsx_seconds:.0f} 秒仍未读完，已停止"
                              "（工作表过大或格式异常），请另存为较小的文件或 CSV 后再导入")
        while expected < idx:  # rows the sheet leaves out
            expected += 1
            yield ()
        expected = idx + 1
        yield row
        started = time.monotonic()


def _parsed(parser: WorkSheetParser, origin: str, limits: Limits,
            formula=None) -> Iterator[tuple[int, tuple]]:
    """(row number, row) of openpyxl's parse, a row as wide as its last filled cell: a row past
    ``max_xlsx_rows`` (+1, the header) or a filled cell past ``max_xlsx_columns`` stops the read
    with a ``BundleError`` (checked before the row is built)."""
    for idx, cells in parser.parse():
        if idx > limits.max_xlsx_rows + 1:
            raise _too_many_rows(origin, limits)
        width = 0
        for cell in cells:
            if cell["value"] is not None and cell["column"] > width:
                width = cell["column"]
        if width > limits.max_xlsx_columns:
            raise _too_wide(origin, idx, width, limits)
        row = [None] * width
        for cell in cells:
            if cell["column"] <= width:
                is_formula = formula is not None and cell["data_type"] == "f"
                row[cell["column"] - 1] = formula if is_formula else cell["value"]
        yield idx, tuple(row)


def sheet_rows(ws, origin: str, limits: Limits, *, formula=None) -> Iterator[tuple]:
    """The rows of an openpyxl read-only sheet, parsed by openpyxl (the operator's attendance upload,
    which needs its formula cells), header first, as tuples as wide as their last filled cell; a
    missing row is ``()``. The dimension the sheet declares is not trusted (``A1:XFD1048576``
    would make openpyxl pad every row to 16,384 cells and yield a million rows): a row past
    ``max_xlsx_rows`` (+1, the header), a filled cell past ``max_xlsx_columns``, or more than
    ``max_xlsx_seconds`` spent reading, stops the read with a ``BundleError``. In a workbook
    opened with ``data_only=False``, a formula cell is given as ``formula`` if that is not None
    (the attendance sheet's marker), instead of the formula's text."""
    wb = ws.parent
    with ws._get_source() as src:
        parser = WorkSheetParser(src, ws._shared_strings, data_only=wb.data_only, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        yield from _numbered(_parsed(parser, origin, limits, formula), origin, limits)


class _Uncut(Exception):
    """The rest of a sheet cannot be cut into blocks of rows (``pending``: its bytes read so far)."""

    def __init__(self, pending: bytes):
        self.pending = pending


class _Joined(io.RawIOBase):
    """``first`` and then the rest of ``rest``, as one stream."""

    def __init__(self, first: bytes, rest):
        self.first, self.rest = memoryview(first), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.first:
            n = min(len(buf), len(self.first))
            buf[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        data = self.rest.read(min(len(buf), CHUNK))
        buf[:len(data)] = data
        return len(data)


def _row_blocks(fh, pending: bytes, size: int) -> Iterator[bytes]:
    """The <row> elements of a sheet's <sheetData> (``pending``: the bytes read after its start
    tag), whole rows of at most ``size`` bytes at a time (a longer row alone). Raises ``_Uncut``
    for a row longer than ROW_BYTES_MAX, or cells after the last </row>."""
    done, want = False, size
    while True:
        if not done and len(pending) < want:
            parts, have = [pending], len(pending)
            while have < want:
                chunk = fh.read(CHUNK)
                if not chunk:
                    done = True
                    break
                parts.append(chunk)
                have += len(chunk)
            pending = b"".join(parts)
        end = pending.find(b"</sheetData>")
        if end >= 0:
            pending, done = pending[:end], True
        cut = pending.rfind(b"</row>", 0, size)
        if cut < 0:
            cut = pending.find(b"</row>")
        if cut < 0:
            if done:
                if _ANY_CELL.search(pending):
                    raise _Uncut(pending)
                return
            if len(pending) > ROW_BYTES_MAX:
                raise _Uncut(pending)
            want = len(pending) + CHUNK
            continue
        cut += len(b"</row>")
        yield pending[:cut]
        pending, want = pending[cut:], size


def _digits_between(lo: str, hi: str) -> str:
    """A regular expression of the numbers from ``lo`` to ``hi``, written with as many digits."""
    n = len(lo)
    if lo == hi:
        return lo
    if lo.strip("0") == "" and hi.strip("9") == "":
        return f"[0-9]{{{n}}}"
    if lo[0] == hi[0]:
        return lo[0] + "(?:" + _digits_between(lo[1:], hi[1:]) + ")"
    rest = f"[0-9]{{{n - 1}}}" if n > 1 else ""
    parts = [lo[0] + "(?:" + _digits_between(lo[1:], "9" * (n - 1)) + ")" if n > 1 else lo[0]]
    if int(hi[0]) - int(lo[0]) > 1:
        parts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" + rest)
    parts.append(hi[0] + "(?:" + _digits_between("0" * (n - 1), hi[1:]) + ")" if n > 1 else hi[0])
    return "|".join(parts)


def _rows_between(low: int, high: int) -> str:
    """A regular expression of the row numbers ``low`` to ``high`` (no leading zero)."""
    lo, hi = str(low), str(high)
    if len(lo) == len(hi):
        return _digits_between(lo, hi)
    parts = [_digits_between(lo, "9" * len(lo))]
    parts += [f"[1-9][0-9]{{{k - 1}}}" for k in range(len(lo) + 1, len(hi))]
    parts.append(_digits_between("1" + "0" * (len(hi) - 1), hi))
    return "|".join(parts)


def _columns_upto(column: int) -> str:
    """A regular expression of the column letters of columns 1 to ``column``."""
    letters = get_column_letter(max(1, min(column, 18278)))
    parts = [f"[A-Z]{{1,{len(letters) - 1}}}"] if len(letters) > 1 else []
    for i, ch in enumerate(letters):
        if ch > "A":
            parts.append(letters[:i] + f"[A-{chr(ord(ch) - 1)}]" + "[A-Z]" * (len(letters) - i - 1))
    parts.append(letters)
    return "|".join(parts)


_PLAIN_CELL = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')
# what may follow a cell's r in its start tag: calamine takes the last of two r attributes (<c r="A1"
# r="XFD1048576"> would ask for a grid of 17 billion cells), so nothing but the attributes Excel writes;
# no error cell (t="e": calamine reads #N/A as empty, openpyxl as the text "#N/A", a row error)
_CELL_ATTRIBUTES = r'(?:\s+(?:(?:[sp]|cm|vm|ph)="[^"<>]*"|t="(?!e")[^"<>]*"))*\s*/?>'


def _grid_fits(block: bytes, limits: Limits) -> bool:
    """Whether calamine may read ``block`` (whole <row> elements): every cell a plain <c r="B7">
    with Excel's own attributes (none placed by its order, none namespace prefixed, no error cell),
    between the rows of the first and the last cell and within the column limit (first tried:
    within Z), as many "<" as ">" (openpyxl refuses a damaged tag that calamine reads past), the
    last row within the row limit, and the grid from the first row to the last at most a cell per
    BYTES_PER_CELL bytes of the block (+ GRID_SLACK). Cells out of order, sheets wider than allowed
    and the like are left to openpyxl. A few passes over the bytes: about 5 s per GB of sheet XML."""
    if _PREFIXED_CELL.search(block):  # a prefixed <x:c>
        return False
    if block.count(b"<") != block.count(b">"):  # a damaged tag (calamine reads past some), or a ">" in text
        return False
    first = _PLAIN_CELL.search(block)
    if first is None:
        return not _ANY_CELL.search(block)
    last = _PLAIN_CELL.match(block, block.rfind(b'<c r="'))
    if last is None:
        return False
    low, high = sorted((int(first.group(1)), int(last.group(1))))
    if high > limits.max_xlsx_rows + 1:
        return False
    rows = _rows_between(low, high)
    for width in sorted({min(26, limits.max_xlsx_columns), limits.max_xlsx_columns}):
        other = f'<c(?! r="(?:{_columns_upto(width)})(?:{rows})"{_CELL_ATTRIBUTES})[\\s/>]'.encode()
        if not re.search(other, block):
            return (high - low + 1) * width <= len(block) // BYTES_PER_CELL + GRID_SLACK
    return False


def _calamine_grid(book: _Workbook, block: bytes):
    """calamine's grid of ``block`` (a CalamineSheet), or None if calamine cannot read it. Runs in
    the reading thread: calamine lets go of the GIL while it parses."""
    try:
        # from a file, not a Python stream: calamine reads it without taking the GIL back
        with tempfile.NamedTemporaryFile(prefix="xlsx-block-", suffix=".xlsx") as fh:
            book.mini(block, fh)
            fh.flush()
            wb = CalamineWorkbook.from_path(fh.name)
            try:
                return wb.get_sheet_by_name("s")
            finally:
                wb.close()
    except BaseException as exc:  # CalamineError, and a Rust panic (pyo3's PanicException)
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        return None


def _grid_rows(grid) -> list[tuple[int, tuple]] | None:
    """(row number, row) of the filled rows of calamine's ``grid``; None if it cannot give them.
    Values as openpyxl gives them: an empty cell None, a whole number below INT_EXACT an int (calamine
    gives every number as a float; 2025.1 stays a float, an 18-digit ID typed as a number too)."""
    try:
        start = grid.start
        values = grid.to_python(skip_empty_area=True) if start is not None else []
    except Exception:
        return None
    if not values:
        return []
    top, left = start
    pad = (None,) * left
    out = []
    append = out.append
    for i, vals in enumerate(values):
        while vals and vals[-1] == "":
            vals.pop()
        if not vals:
            continue
        if "" in vals or float in map(type, vals):  # else (most rows of text) as they are
            vals = [None if v == "" else
                    int(v) if v.__class__ is float and v.is_integer() and -INT_EXACT < v < INT_EXACT else v
                    for v in vals]
        append((top + i + 1, pad + tuple(vals) if left else tuple(vals)))
    return out


def _sheet_head(fh) -> tuple[bytes | None, bytes, bytes]:
    """(head, footer, rest) of a sheet's XML: ``head`` up to and including <sheetData>, or None
    if the sheet is not one we cut in blocks (its <sheetData> not found near the start, namespace
    prefixed, or not in UTF-8); ``rest`` the bytes read after the head (or all read, if None)."""
    buf, m = b"", None
    while len(buf) <= HEAD_BYTES_MAX:
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        buf += chunk
        m = _SHEET_DATA.search(buf)
        if m:
            break
    if m is None or m.group(1):
        return None, b"", buf
    enc = _ENCODING.match(buf)
    root = _ROOT.search(buf, 0, m.start())
    if (enc and enc.group(1).lower() not in (b"utf-8", b"utf8")) or root is None:
        return None, b"", buf
    if m.group(2):  # <sheetData/>: no rows
        return buf[:m.end()], b"", b""
    return buf[:m.end()], b"</sheetData></" + root.group(1) + b">", buf[m.end():]


class _Ahead:
    """The items of ``make()``, made in a thread of their own at most ``depth`` ahead of the reader
    (the next blocks of a sheet are cut, checked and parsed by calamine while the importer works
    on the rows of this one). An exception there is raised here; ``close`` stops the thread."""

    def __init__(self, make, depth: int = 1):
        self.queue: queue.Queue = queue.Queue(depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make,), name="xlsx-blocks", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, make) -> None:
        items = make()
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((False, None))
        except BaseException as exc:  # handed to the reader, who raises it
            self._put((False, exc))
        finally:
            items.close()

    def __iter__(self):
        while True:
            more, item = self.queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self.thread.join()


def _checked_blocks(book: _Workbook, fh, rest: bytes) -> Iterator[tuple[str, bytes]]:
    """The blocks of a sheet, ("grid", block) for calamine or ("block", block) for openpyxl; last
    ("uncut", the bytes read) if the rest of the sheet cannot be cut. (The first thread.)"""
    blocks = _row_blocks(fh, rest, book.block_bytes)
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            return
        except _Uncut as uncut:
            yield "uncut", uncut.pending
            return
        yield ("grid" if _grid_fits(block, book.limits) else "block"), block


def _loaded_blocks(book: _Workbook, checked: _Ahead) -> Iterator[tuple[str, object, bytes]]:
    """The ``checked`` blocks with calamine's grid of each "grid" block (None if calamine cannot
    read it). (The second thread: calamine runs without the GIL, beside the checks of the next
    block and the importer's work on the rows of the last.)"""
    try:
        for kind, block in checked:
            yield kind, _calamine_grid(book, block) if kind == "grid" else None, block
    finally:
        checked.close()


def _xlsx_rows(book: _Workbook, part: str, origin: str) -> Iterator[tuple[int, tuple]]:
    """(row number, row) of a sheet, in the order of its XML, a row as wide as its last filled cell."""
    limits = book.limits
    with book.open(part) as fh:
        head, footer, rest = _sheet_head(fh)
        if head is None:
            yield from _parsed(book.parser(io.BufferedReader(_Joined(rest, fh)), 0), origin, limits)
            return
        if not footer:
            return
        book.mini_parts()  # the shared strings, read once: the size of the blocks depends on them
        checked = _Ahead(partial(_checked_blocks, book, fh, rest))
        ahead = _Ahead(partial(_loaded_blocks, book, checked))
        try:
            last = 0
            for kind, grid, block in ahead:
                if kind == "uncut":
                    ahead.close()
                    checked.close()  # its thread reads ``fh`` no more
                    src = io.BufferedReader(_Joined(head + block, fh))
                    yield from _parsed(book.parser(src, last), origin, limits)
                    return
                rows = _grid_rows(grid) if grid is not None else None
                if rows is None:
                    src = io.BytesIO(b"".join((head, block, footer)))
                    rows = _parsed(book.parser(src, last), origin, limits)
                for idx, row in rows:
                    last = idx
                    yield idx, row
        finally:
            ahead.close()
            checked.close()


def _sheet_source(spec: TableSpec, origin: str, book: _Workbook, part: str) -> Source:
    def rows() -> Iterator[tuple]:
        # sheets are parsed as they are read: damage shows here, block by block
        try:
            yield from _numbered(_xlsx_rows(book, part, origin), origin, book.limits)
        except BundleError:
            raise
        except Exception:  # XML errors, bad cell references, dates out of range …
            raise BundleError(unreadable(origin)) from None

    declared = book.declared_rows(part)
    approx = min(declared - 1, book.limits.max_xlsx_rows) if declared else None
    return Source(spec, origin, rows, approx_rows=approx)
