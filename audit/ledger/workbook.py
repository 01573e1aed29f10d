"""The workbooks (xlsx) of a bundle: their sheets listed by openpyxl, their rows read by calamine
in blocks (audit/ledger/xlsx_blocks.py) or by openpyxl's streaming parser, within the row, column
and time limits."""
from __future__ import annotations

import io
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from python_calamine import CalamineWorkbook

from .schema import TableSpec, table_for
from .sources import Bundle, BundleError, Limits, Source
from .xlsx_blocks import Ahead, Joined, Uncut, grid_fits, grid_rows, row_blocks, sheet_head
from .zips import check_zip, open_entry

if TYPE_CHECKING:  # openpyxl itself is imported where a workbook is read: every `audit` command
    # would otherwise load it (half a second) to start
    from openpyxl.worksheet._reader import WorkSheetParser

# ---- Excel -----------------------------------------------------------------------------------
#
# A workbook's sheets are listed by openpyxl's reader (their names and parts, as before); their
# cells are read by calamine (python-calamine, in Rust), 10 to 20 times faster than openpyxl's
# parser. calamine reads a sheet whole into a dense grid (every cell between the first and the last
# filled one, 32 bytes each: one cell at A1 and one at XFD1048576 asks for 512 GiB and aborts the
# process), so no sheet is handed to it whole. The sheet's XML is streamed (bounded like every zip
# entry) and cut into blocks of whole rows (BLOCK_BYTES); a block goes to calamine, as a little
# workbook of its own, only once its bytes show that its grid is small (``grid_fits``: every cell a
# plain <c r="B7"> with Excel's own attributes, within the row and column limits, the grid at most
# a cell per BYTES_PER_CELL bytes). Any other block (error cells such as #N/A, which calamine reads
# as empty; cells out of order; damaged tags) is parsed by openpyxl's streaming parser as every
# sheet was before, with the same limits and messages. Two threads work ahead of the reader: one
# cuts and checks the blocks, one hands them to calamine, which parses without the GIL.

BLOCK_BYTES = 8 << 20  # a block of rows given to calamine (more when the shared strings are large)
BLOCK_BYTES_MAX = 64 << 20

_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([^\"]*)\"")

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


class Workbook:
    """An xlsx being read: its sheets as openpyxl lists them (name, part), their XML streamed."""

    def __init__(self, data, name: str, limits: Limits):
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.xml.constants import ARC_STYLE, SHARED_STRINGS

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
            from openpyxl.utils.datetime import CALENDAR_MAC_1904

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
        from openpyxl.reader.strings import read_string_table
        from openpyxl.styles.stylesheet import apply_stylesheet
        from openpyxl.worksheet._reader import WorkSheetParser

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
        from openpyxl.utils.cell import range_boundaries

        try:
            with self.open(part) as fh:
                m = _DIMENSION.search(fh.read(64 << 10))
            return range_boundaries(m.group(1).decode())[3] if m else None
        except Exception:  # a damaged sheet or dimension: the rows will tell
            return None


def open_workbook(bundle: Bundle, data, name: str, limits: Limits, *, whole_bundle: bool,
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
        book = Workbook(data, name, limits)
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
                bundle.warnings.append(f"未识别的工作表「{title}」，已忽略"
                                       "（工作表应以表名命名，如 persons 或 人员信息）")
                continue
            bundle.add(t, sheet_source(t, f"{name}「{title}」", book, part))
    else:
        named = [s for s in book.sheets if table_for(s[0]) is spec]
        _, part = named[0] if named else book.sheets[0]
        bundle.add(spec, sheet_source(spec, name, book, part))


def unreadable(name: str) -> str:
    return f"{name} 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），请用 Excel 重新保存后再上传"


def _too_many_rows(origin: str, limits: Limits) -> BundleError:
    return BundleError(f"{origin} 超过 {limits.max_xlsx_rows:,} 行数据（表头之外）的上限，"
                       "拒绝解析；请分成多个文件导入")


def _too_wide(origin: str, idx: int, width: int, limits: Limits) -> BundleError:
    return BundleError(f"{origin} 第{idx}行在第 {width:,} 列有内容，"
                       f"超过 {limits.max_xlsx_columns} 列的上限，拒绝解析")


def numbered(rows: Iterator[tuple[int, tuple]], origin: str, limits: Limits) -> Iterator[tuple]:
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


def parsed(parser: WorkSheetParser, origin: str, limits: Limits,
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
    from openpyxl.worksheet._reader import WorkSheetParser

    wb = ws.parent
    with ws._get_source() as src:
        parser = WorkSheetParser(src, ws._shared_strings, data_only=wb.data_only, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        yield from numbered(parsed(parser, origin, limits, formula), origin, limits)


def _calamine_grid(book: Workbook, block: bytes):
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


def _checked_blocks(book: Workbook, fh, rest: bytes) -> Iterator[tuple[str, bytes]]:
    """The blocks of a sheet, ("grid", block) for calamine or ("block", block) for openpyxl; last
    ("uncut", the bytes read) if the rest of the sheet cannot be cut. (The first thread.)"""
    blocks = row_blocks(fh, rest, book.block_bytes)
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            return
        except Uncut as uncut:
            yield "uncut", uncut.pending
            return
        yield ("grid" if grid_fits(block, book.limits) else "block"), block


def _loaded_blocks(book: Workbook, checked: Ahead) -> Iterator[tuple[str, object, bytes]]:
    """The ``checked`` blocks with calamine's grid of each "grid" block (None if calamine cannot
    read it). (The second thread: calamine runs without the GIL, beside the checks of the next
    block and the importer's work on the rows of the last.)"""
    try:
        for kind, block in checked:
            yield kind, _calamine_grid(book, block) if kind == "grid" else None, block
    finally:
        checked.close()


def _xlsx_rows(book: Workbook, part: str, origin: str) -> Iterator[tuple[int, tuple]]:
    """(row number, row) of a sheet, in the order of its XML, a row as wide as its last filled cell."""
    limits = book.limits
    with book.open(part) as fh:
        head, footer, rest = sheet_head(fh)
        if head is None:
            yield from parsed(book.parser(io.BufferedReader(Joined(rest, fh)), 0), origin, limits)
            return
        if not footer:
            return
        book.mini_parts()  # the shared strings, read once: the size of the blocks depends on them
        checked = Ahead(partial(_checked_blocks, book, fh, rest))
        ahead = Ahead(partial(_loaded_blocks, book, checked))
        try:
            last = 0
            for kind, grid, block in ahead:
                if kind == "uncut":
                    ahead.close()
                    checked.close()  # its thread reads ``fh`` no more
                    src = io.BufferedReader(Joined(head + block, fh))
                    yield from parsed(book.parser(src, last), origin, limits)
                    return
                rows = grid_rows(grid) if grid is not None else None
                if rows is None:
                    src = io.BytesIO(b"".join((head, block, footer)))
                    rows = parsed(book.parser(src, last), origin, limits)
                for idx, row in rows:
                    last = idx
                    yield idx, row
        finally:
            ahead.close()
            checked.close()


def sheet_source(spec: TableSpec, origin: str, book: Workbook, part: str) -> Source:
    def rows() -> Iterator[tuple]:
        # sheets are parsed as they are read: damage shows here, block by block
        try:
            yield from numbered(_xlsx_rows(book, part, origin), origin, book.limits)
        except BundleError:
            raise
        except Exception:  # XML errors, bad cell references, dates out of range …
            raise BundleError(unreadable(origin)) from None

    declared = book.declared_rows(part)
    approx = min(declared - 1, book.limits.max_xlsx_rows) if declared else None
    return Source(spec, origin, rows, approx_rows=approx)
