"""The operator's attendance sheet (考勤表): writing a unit's month as an xlsx to download, and
reading an uploaded one (CSV or xlsx, copied to disk under a size limit) into rows; ``sheet_check.py``
checks the rows read."""
from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from ..auditlog import record
from ..ledger.grid import MARKS, MARKS_HELP
from ..transaction import unit_of_work
from .queries import Grid, month_zh, ym
from .services import (
    FORMULA,
    STATUSES,
)

# the operator's sheet: the 考勤表 of ledger-format.md, the ID masked (the note row says so)
SHEET_HEADERS = ("身份证号", "岗位或车间编号", "月份", "姓名")
# the sheet's earlier layout (岗位编号, 姓名, 身份证号(脱敏), 1…N): sheets downloaded then still upload
OLD_POST_HEADERS = ("岗位编号", "车间编号")
# the mark a stored status is written as: the first mark MARKS gives it (√ 假 × 休)
SHEET_MARK: dict[str, str] = {}
for _mark, _status in MARKS.items():
    SHEET_MARK.setdefault(_status, _mark)
MAX_SHEET_ROWS = 20000
MAX_SHEET_COLS = 80
XLSX_INFLATED_FACTOR = 8  # an uploaded xlsx inflates to at most this times ATTENDANCE_MAX_UPLOAD_BYTES


# ---- the sheet (download and upload) -------------------------------------------------------------

class SheetError(ValueError):
    """The uploaded file cannot be read as an attendance sheet; the message is for the user."""


def sheet_filename(grid: Grid) -> str:
    unit = grid.unit.unit if grid.unit.kind == "workshop" else grid.unit.label  # a code, or the unit's name
    return f"考勤表_{unit}_{ym(grid.month)}.xlsx"


def write_sheet(grid: Grid) -> bytes:
    """The grid as an xlsx in the 考勤表 layout (ledger-format.md, "Attendance kept as a monthly grid"):
    a note row, the header (身份证号, 岗位或车间编号, 月份, 姓名, 1日…N日) and one row per person and
    post, 月份 ``YYYY-MM``, the ID masked (an operator never gets full ID numbers), the days pre-filled
    with marks (√ 假 × 休); days not held (or after the as-of date) greyed."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from ..engine.export import safe_cell

    wb = Workbook()
    ws = wb.active
    ws.title = f"考勤{ym(grid.month)}"
    n = len(grid.days)
    first_day = len(SHEET_HEADERS) + 1  # column E
    last_col = get_column_letter(len(SHEET_HEADERS) + n)
    note = (f"{grid.unit.label} {month_zh(grid.month)} 考勤表。每格填写考勤标记：{MARKS_HELP}"
            "（也可写 出勤、请假、缺勤、休息）；灰色为不在岗或未到的日期，请勿填写；空白格不修改已有考勤。"
            "身份证号为脱敏显示（只留前 6 位和后 4 位），与岗位或车间编号、月份、姓名一起用于核对人员，"
            "请勿修改。")
    ws.append([safe_cell(note)])  # the unit's name comes first: it may begin with = + - @
    ws.merge_cells(f"A1:{last_col}1")
    ws["A1"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[1].height = 48
    ws.append(list(SHEET_HEADERS) + [f"{d.day}日" for d in grid.days])
    bold, red = Font(bold=True), Font(bold=True, color="B3261E")
    for j, cell in enumerate(ws[2], start=1):
        cell.font = red if j >= first_day and grid.days[j - first_day].weekday() >= 5 else bold
        cell.alignment = Alignment(horizontal="center")
    grey = PatternFill("solid", fgColor="E6E9EE")
    month = ym(grid.month)
    for r, row in enumerate(grid.rows, start=3):
        values = [safe_cell(row.id_masked), safe_cell(row.post_code), month, safe_cell(row.name)]
        for d in grid.days:
            old = grid.existing.get((row.person_id, row.post_id, d))
            values.append(SHEET_MARK.get(old[0], old[0]) if old else None)
        ws.append(values)
        for j in (1, 3):  # text, so that Excel keeps 2025-04 a month and the ID as written
            ws.cell(row=r, column=j).number_format = "@"
        for j, d in enumerate(grid.days, start=first_day):
            if d not in row.held or d > grid.as_of:
                ws.cell(row=r, column=j).fill = grey
    if grid.rows:
        # the marks first, then the words; another mark of MARKS_HELP (1, 旷 …) is warned about, not refused
        allowed = ",".join(dict.fromkeys([*SHEET_MARK.values(), *STATUSES]))
        dv = DataValidation(type="list", formula1=f'"{allowed}"', allow_blank=True, showErrorMessage=True,
                            errorStyle="warning", errorTitle="考勤标记", error=MARKS_HELP)
        dv.add(f"{get_column_letter(first_day)}3:{last_col}{2 + len(grid.rows)}")
        ws.add_data_validation(dv)
    ws.freeze_panes = f"{get_column_letter(first_day)}3"
    for letter, width in zip("ABCD", (21, 16, 9, 10), strict=True):
        ws.column_dimensions[letter].width = width
    for j in range(first_day, first_day + n):
        ws.column_dimensions[get_column_letter(j)].width = 5.5
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@unit_of_work
def log_sheet(grid: Grid) -> None:
    """A downloaded sheet (names and masked IDs of the unit's people) is logged like every export
    (one unit of work)."""
    record("attendance.sheet", table="attendance", ref=f"{grid.unit.ref}:{ym(grid.month)}",
           new={"unit": grid.unit.unit, "kind": grid.unit.kind, "month": ym(grid.month),
                "rows": len(grid.rows)})


def read_sheet(filename: str, source: BinaryIO | bytes) -> list[tuple[int, list]]:
    """The rows of an uploaded .xlsx or .csv (UTF-8 or GB18030), each with its row number as Excel
    shows it. Raises SheetError with a Chinese message for a file that is not a readable sheet.

    B8: ``source`` is the upload spooled to a file (``spool_upload``), read as a stream with the
    bundle import's readers and ``Limits.from_config``: a CSV is decoded and parsed piece by piece;
    an xlsx is read without trusting the dimension its sheet declares (rows, filled columns and
    seconds bounded). An operator's sheet is one unit and one month, so its bounds are tighter than
    a ledger's: at most ``MAX_SHEET_ROWS`` rows (``MAX_SHEET_COLS`` columns are kept), and an xlsx
    inflating to at most ``XLSX_INFLATED_FACTOR`` times ATTENDANCE_MAX_UPLOAD_BYTES, of which every
    part openpyxl reads whole (shared strings, styles, workbook) at most ATTENDANCE_MAX_UPLOAD_BYTES:
    a few hundred KB of zip may declare a shared-string table of hundreds of MB."""
    from ..ledger.bundle import BundleError, Limits

    fh = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    name = (filename or "").strip()
    lower = name.lower()
    fh.seek(0, io.SEEK_END)
    if fh.tell() == 0:
        raise SheetError("上传的文件是空的，请选择填写好的考勤表。")
    fh.seek(0)
    if lower.endswith(".xls"):
        raise SheetError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 后再上传。")
    limits = Limits.from_config(current_app.config)
    try:
        if lower.endswith(".csv"):
            return _csv_rows(fh, name)
        if not lower.endswith(".xlsx"):
            raise SheetError("只能上传 .xlsx 或 .csv 格式的考勤表（可先下载本月考勤表填写）。")
        return _xlsx_rows(fh, name, limits)
    except BundleError as exc:
        raise SheetError(str(exc)) from None


def _too_many_rows(name: str) -> SheetError:
    return SheetError(f"{name} 超过 {MAX_SHEET_ROWS} 行，不像一个单位一个月的考勤表。")


def _csv_rows(fh: BinaryIO, name: str) -> list[tuple[int, list]]:
    """A CSV read as a stream: its encoding found in one pass (a NUL refused), its rows in another."""
    from ..ledger.csvfile import scan_csv, undecodable
    from ..ledger.sources import BundleError

    @contextmanager
    def opener():  # the same file, from its start, left open for the caller
        fh.seek(0)
        yield fh

    try:
        encoding, _ = scan_csv(opener, name)
    except BundleError as exc:
        if "空字符" in str(exc):
            raise SheetError(f"{name} 不是文本格式的 CSV 文件。") from None
        raise
    fh.seek(0)
    text = io.TextIOWrapper(fh, encoding=encoding, newline="")
    out = []
    try:
        for i, r in enumerate(csv.reader(text), start=1):
            if i > MAX_SHEET_ROWS + 1:
                raise _too_many_rows(name)
            # a cell Excel would run as a formula (our own sheet writes text that begins with = as '=)
            out.append((i, [FORMULA if c.lstrip()[:1] == "=" else c for c in r[:MAX_SHEET_COLS]]))
    except csv.Error as exc:
        raise SheetError(f"{name} 不是有效的 CSV 文件：{exc}") from None
    except UnicodeDecodeError:  # UTF-8 at first, other bytes further on (``scan_csv``)
        raise SheetError(undecodable(opener, name)) from None
    finally:
        text.detach()  # the upload's file is its owner's to close
    return out


def _xlsx_rows(fh: BinaryIO, name: str, limits) -> list[tuple[int, list]]:
    """The first sheet of a workbook, read as a stream (``ledger.bundle.sheet_rows``), formulas as
    formulas: a formula cell is dropped, never taken for the value it last showed (a title or header
    may hold =HYPERLINK("http://…", "岗位编号"))."""
    import openpyxl

    from ..ledger.sources import BundleError
    from ..ledger.workbook import sheet_rows
    from ..ledger.zips import check_zip

    cap = int(current_app.config["ATTENDANCE_MAX_UPLOAD_BYTES"])
    limits = dataclasses.replace(limits, max_uncompressed=min(limits.max_uncompressed,
                                                              XLSX_INFLATED_FACTOR * cap))
    try:
        zf = zipfile.ZipFile(fh)
    except Exception:  # noqa: BLE001 - BadZipFile, and on a damaged central directory ValueError, EOFError …
        raise SheetError(f"{name} 不是有效的 xlsx 文件（文件可能已损坏，或只是改了扩展名）。") from None
    with zf:
        check_zip(zf, name, limits)
        for info in zf.infolist():  # what openpyxl reads whole; the sheets themselves are streamed
            if not info.filename.startswith("xl/worksheets/") and info.file_size > cap:
                raise SheetError(f"{name} 中的 {info.filename} 解压后有 {info.file_size / 2**20:.0f} MiB，"
                                 "不像一个单位一个月的考勤表，拒绝解析。")
    try:
        fh.seek(0)
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file
        raise SheetError(f"{name} 无法作为 xlsx 读取（{type(exc).__name__}），"
                         "请用 Excel 重新保存后再上传。") from None
    try:
        if not wb.worksheets:
            raise SheetError(f"{name} 中没有工作表。")
        out = []
        for i, row in enumerate(sheet_rows(wb.worksheets[0], name, limits, formula=FORMULA), start=1):
            if i > MAX_SHEET_ROWS + 1:
                raise _too_many_rows(name)
            out.append((i, list(row[:MAX_SHEET_COLS])))
        return out
    except (SheetError, BundleError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise SheetError(f"{name} 读取失败（{type(exc).__name__}），请用 Excel 重新保存后再上传。") from None
    finally:
        wb.close()


def spool_upload(stream: BinaryIO, folder: Path, limit: int) -> BinaryIO:
    """B8: the uploaded sheet copied, a piece at a time, to an unnamed temporary file in ``folder``
    (0600; gone when closed, and with the process if it dies), refused with ``SheetError`` as soon as
    it passes ``limit`` bytes. The caller closes it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    spool = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (returned open: the caller closes it)
    size = 0
    try:
        while chunk := stream.read(1 << 16):
            size += len(chunk)
            if size > limit:
                raise SheetError(too_large(limit))
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


# Why an attendance sheet is refused for its size ({mib}: ATTENDANCE_MAX_UPLOAD_BYTES in MiB); the
# 413 page says it when the request's Content-Length is already too large (``web.body_limit``).
too_large_template = ("考勤表文件超过 {mib} MiB 的上限：一个单位一个月的考勤表远小于此，请检查是否选错了文件"
                      "（可在考勤填报页下载本月考勤表，填写后上传）。")


def too_large(limit: int) -> str:
    return too_large_template.format(mib=f"{limit / 2**20:g}")


