"""Opening a ledger bundle: a folder, a .zip of that folder, or one .xlsx workbook.

Everything that concerns the bundle as a whole (unreadable files, zip bombs, a table given twice)
raises ``BundleError`` with a Chinese message before a single row is parsed."""
from __future__ import annotations

import codecs
import csv
import io
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

import openpyxl
from openpyxl.worksheet._reader import WorkSheetParser

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

    @classmethod
    def from_config(cls, c) -> Limits:
        d = cls()
        return cls(c.get("IMPORT_MAX_UNCOMPRESSED_BYTES", d.max_uncompressed),
                   c.get("IMPORT_MAX_ENTRIES", d.max_entries), c.get("IMPORT_MAX_RATIO", d.max_ratio),
                   c.get("IMPORT_MAX_XLSX_ROWS", d.max_xlsx_rows),
                   c.get("IMPORT_MAX_XLSX_COLUMNS", d.max_xlsx_columns),
                   c.get("IMPORT_MAX_XLSX_SECONDS", d.max_xlsx_seconds),
                   c.get("IMPORT_MAX_ERRORS", d.max_errors))


CHUNK = 1 << 20  # bytes read at a time from a file or a zip entry


@dataclass
class Source:
    """One table of the bundle: where it came from and its rows (header first)."""

    spec: TableSpec
    origin: str  # file or sheet name, for messages
    _open: object  # () -> Iterator[tuple]
    approx_rows: int | None = None

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

    return Source(spec, name, rows, approx_rows=max(lines - 1, 0))


def csv_problem(name: str, line: int, exc: csv.Error) -> str:
    """The csv module's complaint, for the user (its own words are English)."""
    if "field larger than field limit" in str(exc):
        return (f"{name} 第{line}行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
                "（常见原因：引号不成对，使后面的内容都并进了一个单元格）")
    return f"{name} 第{line}行附近格式错误，不是有效的 CSV（请检查引号是否成对）"


# ---- Excel -----------------------------------------------------------------------------------

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
        wb = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged file
        raise BundleError(unreadable(name)) from None
    bundle._closers.append(wb.close)
    if not wb.worksheets:
        raise BundleError(f"{name} 中没有工作表")
    if whole_bundle:
        for ws in wb.worksheets:
            t = table_for(ws.title)
            if t is None:
                bundle.warnings.append(f"未识别的工作表「{ws.title}」，已忽略（工作表应以表名命名，如 persons 或 人员信息）")
                continue
            bundle.add(t, _sheet_source(t, f"{name}「{ws.title}」", ws, limits))
    else:
        named = [ws for ws in wb.worksheets if table_for(ws.title) is spec]
        ws = named[0] if named else wb.worksheets[0]
        bundle.add(spec, _sheet_source(spec, name, ws, limits))


def unreadable(name: str) -> str:
    return f"{name} 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），请用 Excel 重新保存后再上传"


def sheet_rows(ws, origin: str, limits: Limits, *, formula=None) -> Iterator[tuple]:
    """The rows of a read-only sheet, header first, as tuples as wide as their last filled cell;
    a missing row is ``()``. The dimension the sheet declares is not trusted (``A1:XFD1048576``
    would make openpyxl pad every row to 16,384 cells and yield a million rows): a row past
    ``max_xlsx_rows`` (+1, the header), a filled cell past ``max_xlsx_columns``, or more than
    ``max_xlsx_seconds`` spent reading, stops the read with a ``BundleError``. In a workbook
    opened with ``data_only=False``, a formula cell is given as ``formula`` if that is not None
    (the attendance sheet's marker), instead of the formula's text."""
    wb = ws.parent
    spent, started = 0.0, time.monotonic()
    expected = 1
    with ws._get_source() as src:
        parser = WorkSheetParser(src, ws._shared_strings, data_only=wb.data_only, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        for idx, cells in parser.parse():
            if idx > limits.max_xlsx_rows + 1:
                raise BundleError(f"{origin} 超过 {limits.max_xlsx_rows:,} 行数据（表头之外）的上限，拒绝解析；"
                                  "请分成多个文件导入")
            width = 0
            for cell in cells:
                if cell["value"] is not None and cell["column"] > width:
                    width = cell["column"]
            if width > limits.max_xlsx_columns:
                raise BundleError(f"{origin} 第{idx}行在第 {width:,} 列有内容，超过 {limits.max_xlsx_columns} 列的上限，"
                                  "拒绝解析")
            row = [None] * width
            for cell in cells:
                if cell["column"] <= width:
                    is_formula = formula is not None and cell["data_type"] == "f"
                    row[cell["column"] - 1] = formula if is_formula else cell["value"]
            spent += time.monotonic() - started
            if spent > limits.max_xlsx_seconds:
                raise BundleError(f"{origin} 读取超过 {limits.max_xlsx_seconds:.0f} 秒仍未读完，已停止"
                                  "（工作表过大或格式异常），请另存为较小的文件或 CSV 后再导入")
            while expected < idx:  # rows the sheet leaves out
                expected += 1
                yield ()
            expected = idx + 1
            yield tuple(row)
            started = time.monotonic()


def _sheet_source(spec: TableSpec, origin: str, ws, limits: Limits = Limits()) -> Source:
    def rows() -> Iterator[tuple]:
        # read-only sheets are parsed as they are read: damage shows here, row by row
        try:
            yield from sheet_rows(ws, origin, limits)
        except BundleError:
            raise
        except Exception:  # XML errors, bad cell references, dates out of range …
            raise BundleError(unreadable(origin)) from None

    try:  # the declared dimension, for progress only
        approx = min(ws.max_row - 1, limits.max_xlsx_rows) if ws.max_row else None
    except Exception:  # a damaged dimension: the rows will tell
        approx = None
    return Source(spec, origin, rows, approx_rows=approx)
