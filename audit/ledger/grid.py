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
    "×": "缺勤", "✗": "缺勤", "✕": "缺勤", "x": "缺勤", "X": "缺勤", "旷": "缺勤", "缺": "缺勤", "缺勤": "缺勤",
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
