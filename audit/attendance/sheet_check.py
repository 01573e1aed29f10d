"""Checking an uploaded attendance sheet (rows read by ``sheet_file.py``) against the unit's month grid:
the header found (the fixed columns and the day columns, in the layouts operators use), each
mark read, each cell judged as the web form's cells are (``services.py``); every problem named with
its row and column."""
from __future__ import annotations

import datetime as dt
import re

from flask import current_app

from ..ledger.grid import MARKS_HELP
from ..ledger.values import CellError
from ..pii import mask_id, mask_identifiers
from .queries import Grid, GridRow, month_zh, ym
from .services import FORMULA, Cell, Checked, cell_text, judge, machine_record, shown
from .sheet_file import OLD_POST_HEADERS, SHEET_MARK

DAY_ONLY = re.compile(r"^(\d{1,2})\s*[日号]?$")
FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
                       r"(?:\s+00:00(?::00)?)?$")
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
    text = cell_text(value)
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
    return re.sub(r"\s+", "", cell_text(text))


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
    return shown(mask_identifiers(cell_text(value)))


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
        if not any(cell_text(c) for _, cells in rows for c in cells):
            out.error("上传的表格是空的，没有任何内容。")
        else:
            out.error("没有找到表头行：表头应包含「身份证号」「岗位或车间编号」「月份」「姓名」四列"
                      "和 1日 至月末的日期列（请在本页下载考勤表后填写）。")
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
        texts = [cell_text(c) for c in cells]
        if not any(texts):
            continue
        get = lambda j, texts=texts: texts[j] if j is not None and j < len(texts) else ""  # noqa: E731
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
                out.error(f"第 {r} 行：岗位「{_echo(code)}」上有 {len(found_rows)} 人的身份证号"
                          f"都是「{shown_id}」：请在「姓名」列填写姓名（或填写完整身份证号）以区分。")
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
                          f"{month_zh(grid.month)}：请写 {ym(grid.month)}"
                          f"（{month_zh(month)}的考勤请到该月的考勤页上传）。")
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
            why = judge(grid, row, d, status)
            if why:
                out.error(f"{at(r, j, d.isoformat(), whom)}：{why}{_instead(grid, row, d)}。", key)
                continue
            out.cells.append(Cell(row, d, status))
    return out


def _instead(grid: Grid, row: GridRow, day: dt.date) -> str:
    """What a refused sheet cell should hold instead (appended to ``judge``'s reason)."""
    stored = grid.existing.get((row.person_id, row.post_id, day))
    if machine_record(stored):
        return f"：请填回「{SHEET_MARK.get(stored[0], stored[0])}」或留空"
    if day not in row.held or day > grid.as_of:
        return "：请把这一格留空"
    if row.dead_on(day):
        return "：请留空，或填写 ×（缺勤）、休"
    return ""


