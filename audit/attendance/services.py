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

The operator's sheet is written and read in ``sheet_file.py`` and checked in ``sheet_check.py``.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError, OperationalError

from models import Attendance, db

from ..auditlog import record
from ..engine.asof import as_of_date  # noqa: F401  (the grid's and the audit's date)
from ..vocab import ATTENDANCE_STATUS
from .queries import SUBMIT_ACTION, Grid, GridRow, holders_by_person, month_zh, ym

STATUSES = ATTENDANCE_STATUS  # 出勤 / 请假 / 缺勤 / 休息
PRESENT = "出勤"
METHOD = "手工登记"
VERIFIED = "未核验"
MAX_ERRORS = 200  # listed; the rest are counted
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


def cell_text(value) -> str:
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


def shown(text: str) -> str:
    return text if len(text) <= 20 else text[:20] + "…"


def machine_record(existing: tuple[str, str | None] | None) -> str | None:
    """The check-in method of a stored row recorded by a machine (face, fingerprint, mini program),
    or None. Such rows are evidence (IM01, IM02 read their verification and device): an operator
    may not overwrite them; only a row entered by hand (or without a method) may be changed."""
    if existing and existing[1] and existing[1] != METHOD:
        return existing[1]
    return None


def judge(grid: Grid, row: GridRow, day: dt.date, status: str) -> str | None:
    """Why this status may not be entered for this person, post and day (None: it may)."""
    machine = machine_record(grid.existing.get((row.person_id, row.post_id, day)))
    if machine and grid.existing[(row.person_id, row.post_id, day)][0] != status:
        return (f"该日已有{machine}签到记录（{grid.existing[(row.person_id, row.post_id, day)][0]}），"
                "机器记录不能手工修改；如确有错误，请联系审计人员核实")
    if status not in STATUSES:
        return f"「{shown(status)}」不是有效的考勤状态（应为 出勤、请假、缺勤、休息 之一，或留空）"
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
    for name in form:
        if not name.startswith("c-"):
            continue
        values = form.getlist(name)
        m = CELL_NAME.match(name)
        if not m:
            out.error(f"无法识别的单元格「{shown(name)}」，请刷新页面后重新填写。")
            continue
        pid, post_id, day = map(int, m.groups())
        parsed.append((pid, post_id, day, name, [cell_text(v) for v in values]))
    order = {(r.person_id, r.post_id): i for i, r in enumerate(grid.rows)}
    parsed.sort(key=lambda p: (order.get((p[0], p[1]), len(order)), p[0], p[1], p[2]))
    codes = {p.id: p.code for p in grid.unit.posts}
    names = holders_by_person(grid.unit, {p[0] for p in parsed if grid.row(p[0], p[1]) is None})
    seen: set[tuple[int, int, int]] = set()
    n_days = len(grid.days)
    for pid, post_id, day, _, values in parsed:
        status = values[-1] if values else ""
        out.values[f"{pid}-{post_id}-{day}"] = status
        row = grid.row(pid, post_id)
        if row is None:
            if not status:
                continue
            if post_id not in codes:
                out.error(f"岗位（编号 {post_id}）不属于{grid.unit.label}，不能登记考勤。")
            elif pid in names:
                out.error(f"{names[pid]} · 岗位 {codes[post_id]}：{month_zh(grid.month)}不在此岗位，"
                          "不能登记考勤。")
            else:
                out.error(f"人员（编号 {pid}）不在{grid.unit.label} {month_zh(grid.month)}的在岗名单中，"
                          "不能登记考勤。")
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
        why = judge(grid, row, date, status)
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
    for name in form:
        m = CELL_NAME.match(name)
        if m:
            values = form.getlist(name)
            out["-".join(m.groups())] = cell_text(values[-1]) if values else ""
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
