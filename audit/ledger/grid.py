"""Attendance kept as a monthly grid — 考勤表 (ledger-format.md, "Attendance kept as a monthly grid"):
a row per person and post, a column per day, a mark in each cell. One definition of the marks, read
by the ledger importer (table ``attendance_grid``) and by the operator's attendance sheet."""
from __future__ import annotations

import re

from .values import CellError, nfkc

# a mark -> the attendance status it stands for (the statuses themselves are marks too)
MARKS: dict[str, str] = {
    "√": "出勤", "✓": "出勤", "✔": "出勤", "1": "出勤", "出": "出勤", "出勤": "出勤",
    "假": "请假", "请假": "请假",
    "×": "缺勤", "✗": "缺勤", "✕": "缺勤", "x": "缺勤", "X": "缺勤",
    "旷": "缺勤", "缺": "缺勤", "缺勤": "缺勤",
    "休": "休息", "休息": "休息",
}
MARKS_HELP = "√（或 ✓、1、出）= 出勤，假 = 请假，×（或 旷、缺）= 缺勤，休 = 休息，空白 = 无记录"
METHOD = "手工登记"  # how a grid's rows are stored
VERIFIED = "未核验"
DAYS = range(1, 32)


def day_key(n: int) -> str:
    return f"d{n}"


def mark(value) -> str:
    """The status a cell's mark stands for; an unknown mark is a ``CellError``."""
    if isinstance(value, bool):
        raise CellError(f"无法识别的考勤标记：{MARKS_HELP}")
    if isinstance(value, (int, float)):
        if value == 1:
            return "出勤"
        raise CellError(f"考勤标记「{value:g}」无法识别：{MARKS_HELP}")
    text = re.sub(r"\s+", "", nfkc(str(value)))
    status = MARKS.get(text) or MARKS.get(str(value).strip())
    if status is None:
        raise CellError(f"考勤标记「{text}」无法识别：{MARKS_HELP}")
    return status


def month_days(month) -> int:
    import calendar

    return calendar.monthrange(month.year, month.month)[1]


def expand(spec, grid, error, name_of):
    """The attendance rows of a grid (``grid``: ``sheet.TableRows`` of the 考勤表 sheet), as a
    ``sheet.TableRows`` of rows in the attendance table's column order, each numbered by its grid row:
    (ID number, post code, date, status, check-in time, method, device, verified), as read (the importer
    converts ID and post as for attendance). ``error(row, column, value, reason)`` reports a bad cell;
    ``name_of(raw ID)`` is the person's name on file, or None. A row with a bad month, an unknown mark,
    a mark on a day the month does not have, or a name not the person's gives its errors and no rows."""
    import datetime as dt

    from . import values as v
    from .schema import BY_NAME, header_key
    from .sheet import TableRows

    attendance = BY_NAME["attendance"]
    found: dict[str, int] = {}
    for i, cell in enumerate(grid.header or ()):
        if cell is not None and str(cell).strip():
            key = header_key(spec, cell)
            if key and key not in found:
                found[key] = i
    out = TableRows(tuple(c.zh for c in attendance.columns), grid.header_row, iter(()))
    missing = [c for c in spec.columns if c.required and c.key not in found]
    for c in missing:
        error(grid.header_row, c.zh, "", f"缺少必填列「{c.zh}」（{c.key}）："
                                         f"请在表头行（第{grid.header_row}行）加上这一列")
    if missing or grid.header is None:
        return out
    days = [(n, found[day_key(n)]) for n in DAYS if day_key(n) in found]
    if not days:
        error(grid.header_row, "1日 … 31日", "", "没有日期列：表头应有 1日 至 31日（或 1 至 31）的日期列")
        return out
    i_id, i_post, i_month, i_name = found["id_number"], found["post_code"], found["month"], found.get("name")

    def cell(row, i):
        return row[i] if i is not None and i < len(row) else None

    def rows():
        for row_no, row in grid.rows:
            raw_month = cell(row, i_month)
            try:
                month = v.month(raw_month) if raw_month not in (None, "") else None
            except CellError as exc:
                error(row_no, "月份", _show(raw_month), str(exc))
                continue
            if month is None:
                error(row_no, "月份", "", "必填项为空：请写作 YYYY-MM（如 2025-10）")
                continue
            last = month_days(month)
            marks, bad = [], False
            for n, i in days:
                x = cell(row, i)
                if x is None or (isinstance(x, str) and not x.strip()):
                    continue
                if n > last:
                    error(row_no, f"{n}日", _show(x),
                          f"{month.year}年{month.month}月只有{last}天，没有{n}日：请删去这一格")
                    bad = True
                    continue
                try:
                    marks.append((n, mark(x)))
                except CellError as exc:
                    error(row_no, f"{n}日", _show(x), str(exc))
                    bad = True
            raw_id, raw_name = cell(row, i_id), cell(row, i_name)
            if raw_name not in (None, "") and raw_id not in (None, ""):
                on_file = name_of(raw_id)
                if on_file is not None and v.name_key(str(raw_name)) != v.name_key(on_file):
                    error(row_no, "姓名", _show(raw_name), f"与人员信息表中此身份证号的姓名「{on_file}」"
                                                          "不符：请核对是否填错了人或身份证号")
                    bad = True
            if bad:
                continue
            post = cell(row, i_post)
            if not marks:  # a person without a mark this month: nothing to store
                continue
            for n, status in marks:
                yield row_no, (raw_id, post, dt.date(month.year, month.month, n), status, None, METHOD, None,
                               VERIFIED)

    out.rows = rows()
    return out


def _show(x) -> str:
    s = x.isoformat() if hasattr(x, "isoformat") else str(x)
    return s if len(s) <= 60 else s[:57] + "…"
