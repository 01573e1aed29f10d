"""Attendance an operator submits: checking a month grid (from the web form or from an uploaded
sheet), storing it, and auditing at once.

- **Checked** before anything is written: the person holds that post on that day; the day is in
  the month (and not after the as-of date); no cell or sheet row is given twice; the status is one
  of 出勤 / 请假 / 缺勤 / 休息; the person and post are of the unit. Every problem is reported, in
  Chinese, naming the person (name and masked ID), the post and the date (and, for a sheet, its
  row and column); one problem and nothing is written.
- **Stored** in one transaction: new rows inserted, changed rows updated (both with method
  手工登记, verified 未核验), unchanged cells untouched. Only rows entered by hand (or without a
  method) may be changed: a machine's record (人脸识别, 指纹, 小程序定位) is evidence and stays as
  it is — such cells are closed in the grid and refused in a sheet. **An empty cell leaves an
  existing row as it is** (nothing is deleted here). One ``attendance.submit`` entry in the audit
  log per submission: the counts and every changed cell, old → new status, IDs masked.
- **Audited at once**: every rule is run (``run_audit``) as of the as-of date.

The as-of date is ``audit.engine.asof.as_of_date()`` (config or environment ``AUDIT_AS_OF``, else
today); no attendance may be entered after it.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import tempfile
import unicodedata
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError, OperationalError

from models import Attendance, db

from ..auditlog import record
from ..engine.asof import as_of_date  # noqa: F401  (the grid's and the audit's date)
from ..ledger.grid import MARKS, MARKS_HELP
from ..ledger.values import CellError
from ..pii import mask_id, mask_identifiers
from ..vocab import ATTENDANCE_STATUS
from .queries import SUBMIT_ACTION, Grid, GridRow, holders_by_person, month_zh, ym

STATUSES = ATTENDANCE_STATUS  # 出勤 / 请假 / 缺勤 / 休息
PRESENT = "出勤"
METHOD = "手工登记"
VERIFIED = "未核验"
# the operator's sheet: the 考勤表 of ledger-format.md, the ID masked (the note row says so)
SHEET_HEADERS = ("身份证号", "岗位或车间编号", "月份", "姓名")
# the sheet's earlier layout (岗位编号, 姓名, 身份证号(脱敏), 1…N): sheets downloaded then still upload
OLD_POST_HEADERS = ("岗位编号", "车间编号")
# the mark a stored status is written as: the first mark MARKS gives it (√ 假 × 休)
SHEET_MARK: dict[str, str] = {}
for _mark, _status in MARKS.items():
    SHEET_MARK.setdefault(_status, _mark)
MAX_ERRORS = 200  # listed; the rest are counted
MAX_SHEET_ROWS = 20000
MAX_SHEET_COLS = 80
XLSX_INFLATED_FACTOR = 8  # an uploaded xlsx inflates to at most this times ATTENDANCE_MAX_UPLOAD_BYTES
WEEKDAYS = "一二三四五六日"


# ---- checking ------------------------------------------------------------------------------------

@dataclass
class Cell:
    row: GridRow
    day: dt.date
    status: str


@dataclass
class Checked:
    cells: list[Cell] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad: set[str] = field(default_factory=set)  # "<person>-<post>-<day>" of the cells in error
    values: dict[str, str] = field(default_factory=dict)  # the grid's input, to show it again
    more: int = 0  # problems beyond MAX_ERRORS

    @property
    def ok(self) -> bool:
        return not self.errors and not self.more

    def error(self, message: str, cell: str | None = None) -> None:
        if cell:
            self.bad.add(cell)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
        else:
            self.more += 1


class _Formula:
    """A cell of an uploaded sheet that holds a formula (``=HYPERLINK(…)``): never read as a value,
    stored or shown back; ``read_sheet`` puts this in its place."""

    def __repr__(self) -> str:
        return "FORMULA"


FORMULA = _Formula()


def _text(value) -> str:
    """A cell as text: NFKC, trimmed; whole floats without ``.0``; a formula escape undone; a
    formula is no text at all."""
    if value is None or value is FORMULA:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]
    return text


def _shown(text: str) -> str:
    return text if len(text) <= 20 else text[:20] + "…"


def machine_record(existing: tuple[str, str | None] | None) -> str | None:
    """The check-in method of a stored row recorded by a machine (face, fingerprint, mini program),
    or None. Such rows are evidence (IM01, IM02 read their verification and device): an operator
    may not overwrite them; only a row entered by hand (or without a method) may be changed."""
    if existing and existing[1] and existing[1] != METHOD:
        return existing[1]
    return None


def _judge(grid: Grid, row: GridRow, day: dt.date, status: str) -> str | None:
    """Why this status may not be entered for this person, post and day (None: it may)."""
    machine = machine_record(grid.existing.get((row.person_id, row.post_id, day)))
    if machine and grid.existing[(row.person_id, row.post_id, day)][0] != status:
        return (f"该日已有{machine}签到记录（{grid.existing[(row.person_id, row.post_id, day)][0]}），"
                "机器记录不能手工修改；如确有错误，请联系审计人员核实")
    if status not in STATUSES:
        return f"「{_shown(status)}」不是有效的考勤状态（应为 出勤、请假、缺勤、休息 之一，或留空）"
    if day not in row.held:
        return f"该日不在岗（在岗期间：{row.spans_text()}），不能登记考勤"
    if day > grid.as_of:
        return f"日期晚于审计基准日 {grid.as_of.isoformat()}，不能预先登记考勤"
    stored = grid.existing.get((row.person_id, row.post_id, day))
    if status == PRESENT and row.dead_on(day) and not (stored and stored[0] == PRESENT):
        return (f"此人已于 {row.death_date.isoformat()} 死亡（民政/公安死亡名单），死亡之后不能登记出勤；"
                "如名单有误，请联系审计人员核实")
    return None


CELL_NAME = re.compile(r"^c-(\d{1,12})-(\d{1,12})-(\d{1,4})$")


def check_form(grid: Grid, form) -> Checked:
    """The grid as the browser sent it: fields ``c-<person>-<post>-<day>`` (a MultiDict)."""
    out = Checked()
    parsed = []
    for name in form.keys():
        if not name.startswith("c-"):
            continue
        values = form.getlist(name)
        m = CELL_NAME.match(name)
        if not m:
            out.error(f"无法识别的单元格「{_shown(name)}」，请刷新页面后重新填写。")
            continue
        pid, post_id, day = map(int, m.groups())
        parsed.append((pid, post_id, day, name, [_text(v) for v in values]))
    order = {(r.person_id, r.post_id): i for i, r in enumerate(grid.rows)}
    parsed.sort(key=lambda p: (order.get((p[0], p[1]), len(order)), p[0], p[1], p[2]))
    codes = {p.id: p.code for p in grid.unit.posts}
    names = holders_by_person(grid.unit, {p[0] for p in parsed if grid.row(p[0], p[1]) is None})
    seen: set[tuple[int, int, int]] = set()
    n_days = len(grid.days)
    for pid, post_id, day, name, values in parsed:
        status = values[-1] if values else ""
        out.values[f"{pid}-{post_id}-{day}"] = status
        row = grid.row(pid, post_id)
        if row is None:
            if not status:
                continue
            if post_id not in codes:
                out.error(f"岗位（编号 {post_id}）不属于{grid.unit.label}，不能登记考勤。")
            elif pid in names:
                out.error(f"{names[pid]} · 岗位 {codes[post_id]}：{month_zh(grid.month)}不在此岗位，不能登记考勤。")
            else:
                out.error(f"人员（编号 {pid}）不在{grid.unit.label} {month_zh(grid.month)}的在岗名单中，不能登记考勤。")
            continue
        where = f"{row.who} · 岗位 {row.post_code}"
        if not 1 <= day <= n_days:
            out.error(f"{where} · 第 {day} 日：不在 {month_zh(grid.month)} 内（该月共 {n_days} 天）。")
            continue
        date = grid.days[day - 1]
        key = f"{pid}-{post_id}-{day}"
        if (pid, post_id, day) in seen or len(values) > 1:
            out.error(f"{where} · {date.isoformat()}：同一天提交了多次，请只填写一次。", key)
            continue
        seen.add((pid, post_id, day))
        if not status:
            continue  # an empty cell changes nothing
        why = _judge(grid, row, date, status)
        if why:
            out.error(f"{where} · {date.isoformat()}：{why}。", key)
            continue
        out.cells.append(Cell(row, date, status))
    return out


# ---- filling the working days -------------------------------------------------------------------

@dataclass
class Filled:
    """The grid after a fill (not saved): its cells' values, how many blank working days became
    出勤, and whom (and which days) the fill left alone and why."""

    values: dict[str, str] = field(default_factory=dict)
    filled: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per person and post
    later: dt.date | None = None  # working days after this date (the as-of date) were not filled


def _md(day: dt.date) -> str:
    return f"{day.month} 月 {day.day} 日"


def _runs(days: list[dt.date]) -> str:
    """Consecutive days (of one month) as ranges: 4 月 1 日至 15 日、4 月 28 日."""
    runs: list[list[dt.date]] = []
    for d in sorted(days):
        if runs and (d - runs[-1][-1]).days == 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return "、".join(_md(r[0]) if len(r) == 1 else f"{_md(r[0])}至 {r[-1].day} 日" for r in runs)


def typed_values(form) -> dict[str, str]:
    """The grid's cells as the browser sent them (``c-<person>-<post>-<day>``), unchecked."""
    out = {}
    for name in form.keys():
        m = CELL_NAME.match(name)
        if m:
            values = form.getlist(name)
            out["-".join(m.groups())] = _text(values[-1]) if values else ""
    return out


def fill_workdays(grid: Grid, form, only: str | None = None) -> Filled:
    """Fill the blank working days (Monday to Friday) of every row (or of the row ``only``, its
    ``<person>-<post>`` key) with 出勤, on top of what the operator has typed. Never filled: a day
    after the person's death (the deaths list), a day the person does not hold the post, a day
    after the as-of date, and a cell that already has a status (typed or stored, by hand or by a
    machine): it is never overwritten. Nothing is saved: the operator reviews, then saves (and the
    save checks every cell again)."""
    out = Filled(values=typed_values(form))
    workdays = [d for d in grid.days if d.weekday() < 5]
    if any(d > grid.as_of for d in workdays):
        out.later = grid.as_of
    for row in grid.rows:
        if only is not None and row.key != only:
            continue
        dead: list[dt.date] = []
        kept: dict[str, int] = {}
        for d in workdays:
            if d > grid.as_of:
                continue
            if d not in row.held:
                continue  # described below from the whole month
            if row.dead_on(d):
                dead.append(d)
                continue
            key = f"{row.person_id}-{row.post_id}-{d.day}"
            old = grid.existing.get((row.person_id, row.post_id, d))
            typed = out.values.get(key, "")
            current = typed or (old[0] if old else "")  # a blank cell leaves a stored status as it is
            if machine_record(old):
                current = old[0]
            if current:
                if current != PRESENT:
                    kept[current] = kept.get(current, 0) + 1
                continue
            out.values[key] = PRESENT
            out.filled += 1
        why = []
        if dead:
            if row.death_date < grid.month:
                why.append(f"已于 {row.death_date.isoformat()} 死亡（死亡名单），本月一律未填")
            else:
                why.append(f"{_md(row.death_date)}死亡（死亡名单），{_md(dead[0])}起未填")
        off = [d for d in grid.days if d not in row.held and d <= grid.as_of]
        if any(d.weekday() < 5 for d in off):
            why.append(f"{_runs(off)}未在岗（在岗期间：{row.spans_text()}）")
        if kept:
            what = "、".join(f"{s} {n} 天" for s, n in kept.items())
            why.append(f"已登记{what}，未覆盖")
        if why:
            out.skipped.append(f"{row.who} · 岗位 {row.post_code}：" + "；".join(why))
    return out


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
            "身份证号为脱敏显示（只留前 6 位和后 4 位），与岗位或车间编号、月份、姓名一起用于核对人员，请勿修改。")
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
    for letter, width in zip("ABCD", (21, 16, 9, 10)):
        ws.column_dimensions[letter].width = width
    for j in range(first_day, first_day + n):
        ws.column_dimensions[get_column_letter(j)].width = 5.5
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def log_sheet(grid: Grid) -> None:
    """A downloaded sheet (names and masked IDs of the unit's people) is logged like every export."""
    record("attendance.sheet", table="attendance", ref=f"{grid.unit.ref}:{ym(grid.month)}",
           new={"unit": grid.unit.unit, "kind": grid.unit.kind, "month": ym(grid.month), "rows": len(grid.rows)})
    db.session.commit()


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
    from ..ledger.bundle import BundleError, _scan_csv

    @contextmanager
    def opener():  # the same file, from its start, left open for the caller
        fh.seek(0)
        yield fh

    try:
        encoding, _ = _scan_csv(opener, name)
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
    finally:
        text.detach()  # the upload's file is its owner's to close
    return out


def _xlsx_rows(fh: BinaryIO, name: str, limits) -> list[tuple[int, list]]:
    """The first sheet of a workbook, read as a stream (``ledger.bundle.sheet_rows``), formulas as
    formulas: a formula cell is dropped, never taken for the value it last showed (a title or header
    may hold =HYPERLINK("http://…", "岗位编号"))."""
    import openpyxl

    from ..ledger.bundle import BundleError, check_zip, sheet_rows

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
        raise SheetError(f"{name} 无法作为 xlsx 读取（{type(exc).__name__}），请用 Excel 重新保存后再上传。") from None
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
    spool = tempfile.TemporaryFile(dir=folder)
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


DAY_ONLY = re.compile(r"^(\d{1,2})\s*[日号]?$")
FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?:\s+00:00(?::00)?)?$")
MONTH_DAY = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$")


def _header_day(value, month: dt.date) -> tuple[str, object]:
    """A day column's header: ('day', n) a day number (maybe outside the month), ('date', d) a full
    date (maybe of another month), ('empty', None), or ('bad', text)."""
    if value is FORMULA:
        return "formula", None
    if value is None or (isinstance(value, str) and not value.strip()):
        return "empty", None
    if isinstance(value, dt.datetime):
        return "date", value.date()
    if isinstance(value, dt.date):
        return "date", value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        return "day", int(value)
    text = _text(value)
    if m := DAY_ONLY.match(text):
        return "day", int(m.group(1))
    try:
        if m := FULL_DATE.match(text):
            return "date", dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := MONTH_DAY.match(text):
            return "date", dt.date(month.year, int(m.group(1)), int(m.group(2)))
    except ValueError:
        return "bad", text
    return "bad", text


def _name_key(text: str) -> str:
    return re.sub(r"\s+", "", _text(text))


FIXED = ("id_number", "post_code", "month", "name")
FIXED_ZH = {"id_number": "身份证号", "post_code": "岗位或车间编号", "month": "月份", "name": "姓名"}


def _fixed_key(value) -> str | None:
    """The person columns of a sheet's header (``FIXED``, or ``IGNORED`` for 序号) as the 考勤表
    contract spells them (``ledger.schema.header_key``: white space, brackets and a leading * do
    not count, so 身份证号(脱敏) is 身份证号), or the earlier layout's 岗位编号; None for any other."""
    from ..ledger.schema import BY_NAME, IGNORED, header_key, header_text

    if value is None or value is FORMULA or isinstance(value, (dt.date, dt.datetime)):
        return None
    if header_text(value) in OLD_POST_HEADERS:
        return "post_code"
    key = header_key(BY_NAME["attendance_grid"], value)
    return key if key in FIXED or key == IGNORED else None


def _find_header(rows: list[tuple[int, list]]) -> tuple[int, dict[str, int], set[int]] | None:
    """The header among the first 30 rows: its index, the column of each person column found
    (身份证号 and 岗位或车间编号 at least) and the 序号 columns."""
    from ..ledger.schema import IGNORED

    for i, (_, cells) in enumerate(rows[:30]):
        found: dict[str, int] = {}
        ignored: set[int] = set()
        for j, value in enumerate(cells):
            key = _fixed_key(value)
            if key == IGNORED:
                ignored.add(j)
            elif key and key not in found:
                found[key] = j
        if "id_number" in found and "post_code" in found:
            return i, found, ignored
    return None


def _echo(value) -> str:
    """A cell's text as a message shows it: ID numbers masked, long text cut."""
    return _shown(mask_identifiers(_text(value)))


def check_sheet(grid: Grid, rows: list[tuple[int, list]], pii=None) -> Checked:
    """An uploaded sheet, checked exactly as the grid is. The sheet is the 考勤表 the page gives
    (身份证号 masked, 岗位或车间编号, 月份, 姓名, 1日…N日), the earlier layout (岗位编号, 姓名,
    身份证号(脱敏), 1…N), or a 考勤表 with full ID numbers (matched to the unit's holders by the ID's
    keyed hash; 姓名 may be left out). A day holds a mark or a word (``ledger.grid.mark``); 月份, when
    there, must be the grid's month. Every message names the sheet's row as Excel numbers it and the
    column by its name (「15日」) and letter, and says what to write instead."""
    from openpyxl.utils import get_column_letter

    from ..ledger import values as v
    from ..ledger.grid import mark

    if pii is None:
        pii = current_app.extensions["pii"]
    out = Checked()
    found = _find_header(rows)
    if found is None:
        if not any(_text(c) for _, cells in rows for c in cells):
            out.error("上传的表格是空的，没有任何内容。")
        else:
            out.error("没有找到表头行：表头应包含「身份证号」「岗位或车间编号」「月份」「姓名」四列和 1日 至月末的"
                      "日期列（请在本页下载考勤表后填写）。")
        return out
    header_at, fixed, ignored = found
    header_row, header = rows[header_at]
    c_id, c_post, c_month, c_name = (fixed.get(k) for k in FIXED)
    person_cols = {j for j in fixed.values()} | ignored
    letter = lambda j: get_column_letter(j + 1)  # noqa: E731
    n_days = len(grid.days)
    # the day columns: j -> a date of the month, or the reason it is not one
    day_of: dict[int, dt.date] = {}
    not_day: dict[int, str] = {}
    first_col_of: dict[dt.date, int] = {}

    def at(r: int, j: int, *context: str) -> str:
        """Where a message is: 第 7 行「15日」（Q 列，2025-04-15，王大山…）."""
        if j in day_of:
            name = f"{day_of[j].day}日"
        elif j in fixed.values():
            name = next(FIXED_ZH[k] for k, i in fixed.items() if i == j)
        else:
            name = _echo(header[j]) if j < len(header) and header[j] is not FORMULA else ""
        inside = "，".join([f"{letter(j)} 列", *context])
        return f"第 {r} 行「{name}」（{inside}）" if name else f"第 {r} 行（{inside}）"

    for j, value in enumerate(header):
        if j in person_cols:
            continue
        kind, d = _header_day(value, grid.month)
        if kind == "formula":
            not_day[j] = f"表头是公式（已忽略，应为日期 1日 至 {n_days}日）"
        elif kind == "empty":
            not_day[j] = f"该列没有表头（应为日期 1日 至 {n_days}日）"
        elif kind == "bad":
            not_day[j] = f"表头「{_echo(d)}」不是日期"
        elif kind == "day" and not 1 <= d <= n_days:
            not_day[j] = f"日期「{d}」不在 {month_zh(grid.month)} 内（该月共 {n_days} 天）"
        elif kind == "date" and (d.year, d.month) != (grid.month.year, grid.month.month):
            not_day[j] = f"日期「{d.isoformat()}」不在 {month_zh(grid.month)} 内"
        else:
            d = grid.days[d - 1] if kind == "day" else d
            if d in first_col_of:
                other = first_col_of[d]
                out.error(f"第 {header_row} 行 {letter(j)} 列：与 {letter(other)} 列是同一天（{d.day}日，"
                          f"{d.isoformat()}），表头重复：请删去其中一列。")
                not_day[j] = f"与 {letter(other)} 列重复"
                continue
            first_col_of[d] = j
            day_of[j] = d
    by_masked: dict[tuple[str, str], list[GridRow]] = {}
    by_hash: dict[tuple[str, str], GridRow] = {}
    for gr in grid.rows:
        by_masked.setdefault((gr.post_code.upper(), gr.id_masked.upper()), []).append(gr)
        by_hash[(gr.post_code.upper(), gr.id_hash)] = gr
    roster = f"{grid.unit.label} {month_zh(grid.month)}的在岗名单"
    first_row_of: dict[tuple[int, int], int] = {}
    for r, cells in rows[header_at + 1:]:
        texts = [_text(c) for c in cells]
        if not any(texts):
            continue
        get = lambda j: texts[j] if j is not None and j < len(texts) else ""  # noqa: E731
        idn, code, name = get(c_id), get(c_post), get(c_name)
        missing = "、".join(f"「{h}」" for h, x in (("身份证号", idn), ("岗位或车间编号", code)) if not x)
        if missing:
            out.error(f"第 {r} 行：缺少{missing}，无法对应到人员：请按下载时的内容填写。")
            continue
        shown_id = _echo(idn)
        if "*" in idn:  # masked, as the page gives it: the name tells apart two of the same mask
            found_rows = by_masked.get((code.upper(), idn.upper()), [])
            if name:
                found_rows = [x for x in found_rows if _name_key(x.name) == _name_key(name)]
            if len(found_rows) > 1:
                out.error(f"第 {r} 行：岗位「{_echo(code)}」上有 {len(found_rows)} 人的身份证号都是「{shown_id}」："
                          "请在「姓名」列填写姓名（或填写完整身份证号）以区分。")
                continue
            row = found_rows[0] if found_rows else None
        else:  # a full ID number: by its keyed hash, never shown back whole
            try:
                number = v.id_number(cells[c_id])
            except CellError as exc:
                out.error(f"{at(r, c_id)}：{exc}。")
                continue
            shown_id = mask_id(number)
            row = by_hash.get((code.upper(), pii.digest(number)))
            if row is not None and name and _name_key(row.name) != _name_key(name):
                out.error(f"{at(r, c_name)}：姓名「{_echo(name)}」与身份证号 {shown_id} 的在岗人员"
                          f"「{row.name}」不符：请核对是否填错了人或身份证号。")
                continue
        if row is None:
            who = (f"岗位「{_echo(code)}」、" + (f"姓名「{_echo(name)}」、" if name else "")
                   + f"身份证号「{shown_id}」")
            out.error(f"第 {r} 行：{who}不在{roster}中（身份证号、岗位或车间编号、姓名请保持下载时的内容）。")
            continue
        pair = (row.person_id, row.post_id)
        if pair in first_row_of:
            out.error(f"第 {r} 行与第 {first_row_of[pair]} 行重复：同一人员、同一岗位（{row.who} · 岗位 "
                      f"{row.post_code}），请合并为一行。")
            continue
        first_row_of[pair] = r
        whom = f"{row.who} · 岗位 {row.post_code}"
        raw = cells[c_month] if c_month is not None and c_month < len(cells) else None
        if raw is FORMULA or get(c_month):  # an empty 月份 is the grid's month
            month, why = None, "单元格是公式"
            if raw is not FORMULA:
                try:
                    month = v.month(raw)
                except CellError as exc:
                    why = str(exc)
            if month is None:
                out.error(f"{at(r, c_month, whom)}：月份「{_echo(raw)}」无法识别（{why}）："
                          f"请写 {ym(grid.month)}。")
                continue
            if month != grid.month:
                out.error(f"{at(r, c_month, whom)}：月份是 {month_zh(month)}，不是本表的 "
                          f"{month_zh(grid.month)}：请写 {ym(grid.month)}（{month_zh(month)}的考勤请到该月的考勤页上传）。")
                continue
        for j, value in enumerate(cells):
            if j in person_cols:
                continue
            if value is FORMULA:
                out.error(f"{at(r, j, whom)}：单元格是公式，已忽略；请直接填写考勤标记：{MARKS_HELP}。")
                continue
            if not texts[j]:
                continue
            if j not in day_of:
                reason = not_day.get(j, "该列没有表头")
                out.error(f"{at(r, j, whom)}：{reason}，不能填写考勤：请把这一格留空。")
                continue
            d = day_of[j]
            key = f"{row.person_id}-{row.post_id}-{d.day}"
            try:
                status = mark(value)
            except CellError as exc:
                out.error(f"{at(r, j, d.isoformat(), whom)}：{mask_identifiers(str(exc))}。", key)
                continue
            why = _judge(grid, row, d, status)
            if why:
                out.error(f"{at(r, j, d.isoformat(), whom)}：{why}{_instead(grid, row, d)}。", key)
                continue
            out.cells.append(Cell(row, d, status))
    return out


def _instead(grid: Grid, row: GridRow, day: dt.date) -> str:
    """What a refused sheet cell should hold instead (appended to ``_judge``'s reason)."""
    stored = grid.existing.get((row.person_id, row.post_id, day))
    if machine_record(stored):
        return f"：请填回「{SHEET_MARK.get(stored[0], stored[0])}」或留空"
    if day not in row.held or day > grid.as_of:
        return "：请把这一格留空"
    if row.dead_on(day):
        return "：请留空，或填写 ×（缺勤）、休"
    return ""


# ---- storing and auditing ------------------------------------------------------------------------

class SaveConflict(RuntimeError):
    """Someone else changed the same attendance at the same moment; the message is for the user."""


@dataclass
class Saved:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


def store(grid: Grid, cells: list[Cell], *, source: str) -> Saved:
    """Insert the new cells and update the changed ones, in one transaction with its audit-log
    entry. Cells equal to what is stored are left alone; nothing is deleted."""
    from .queries import current_statuses

    saved = Saved()
    db.session.rollback()  # a fresh transaction: what is stored now, not what the page was built from
    stored = current_statuses(grid)
    new, changed, log = [], [], []
    for c in cells:
        key = (c.row.person_id, c.row.post_id, c.day)
        old = stored.get(key)
        if old == c.status:
            saved.unchanged += 1
            continue
        log.append({"person": c.row.who, "post": c.row.post_code, "date": c.day.isoformat(), "old": old,
                    "new": c.status})
        if old is None:
            new.append({"person_id": c.row.person_id, "post_id": c.row.post_id, "work_month": grid.month,
                        "work_date": c.day, "status": c.status, "method": METHOD, "verified": VERIFIED})
        else:
            changed.append({"b_person": c.row.person_id, "b_post": c.row.post_id, "b_month": grid.month,
                            "b_date": c.day, "v_status": c.status})
    saved.inserted, saved.updated = len(new), len(changed)
    if not log:
        db.session.rollback()
        return saved
    att = Attendance.__table__
    try:
        if new:
            db.session.execute(insert(att), new)
        if changed:
            by_key = update(att).where(
                att.c.person_id == bindparam("b_person"), att.c.post_id == bindparam("b_post"),
                att.c.work_month == bindparam("b_month"), att.c.work_date == bindparam("b_date"))
            db.session.execute(by_key.values(status=bindparam("v_status"), method=METHOD, verified=VERIFIED,
                                             check_in_time=None, device_id=None), changed)
        record(SUBMIT_ACTION, table="attendance", ref=f"{grid.unit.ref}:{ym(grid.month)}",
               old={"cells": [{k: e[k] for k in ("person", "post", "date", "old")} for e in log if e["old"]]},
               new={"unit": grid.unit.unit, "kind": grid.unit.kind, "month": ym(grid.month), "source": source,
                    "inserted": saved.inserted, "updated": saved.updated, "unchanged": saved.unchanged,
                    "changes": log})
        db.session.commit()
    except (IntegrityError, OperationalError):  # a concurrent insert of the same day; a busy database
        db.session.rollback()
        raise SaveConflict("保存时发现同一考勤刚被他人修改，未写入任何数据。请刷新页面后重新提交。") from None
    return saved


def audit_now(actor: str):
    """Run every rule (set-based, over all data) as of the as-of date."""
    from ..engine.runner import run_audit

    return run_audit(db.engine, as_of=as_of_date(), actor=actor)
