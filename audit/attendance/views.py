"""考勤填报: an operator's units, the month grid (people × days), its xlsx sheet, and the submission
of either, checked, stored and audited at once (see services.py; the sheet: sheet_file.py,
sheet_check.py)."""
from __future__ import annotations

import io
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from models import FINDING_STATUSES, db

from ..access import deny, scope
from ..findings.evidence import for_reader
from ..findings.queries import person_names
from ..ledger.grid import MARKS_HELP
from ..web import body_limit
from . import bp, queries, services, sheet_check, sheet_file
from .queries import month_zh, ym


def _operator() -> None:
    if not scope().can_enter_attendance:
        deny()


def _unit(source) -> queries.Unit:
    unit = queries.find_unit(source.get("kind"), source.get("unit"))
    if unit is None:
        abort(404)
    return unit


def _month(source):
    text = source.get("month")
    if not text:
        return services.as_of_date().replace(day=1)
    month = queries.parse_month(text)
    if month is None:
        abort(400, description="月份格式应为 YYYY-MM，例如 2025-04。")
    return month


def _grid_url(grid) -> str:
    return url_for("attendance.grid", kind=grid.unit.kind, unit=grid.unit.unit, month=ym(grid.month))


@bp.get("/")
@login_required
def index():
    _operator()
    as_of = services.as_of_date()
    units = queries.my_units()
    months = {u.ref: queries.months_with_attendance(u) for u in units}
    return render_template("attendance/index.html", units=units, months=months,
                           submissions=queries.recent_submissions(units), this_month=ym(as_of.replace(day=1)),
                           ym=ym, month_zh=month_zh, kinds=queries.KINDS)


def _cells(grid, checked=None, values=None):
    """What each row of the table shows: per day the select's name, value and state (``values``:
    the cells as typed or filled, shown instead of what is stored; a cell that differs is marked)."""
    if values is None:
        values = checked.values if checked is not None else None
    bad = checked.bad if checked is not None else set()
    out = []
    for row in grid.rows:
        cells = []
        for d in grid.days:
            key = f"{row.person_id}-{row.post_id}-{d.day}"
            old = grid.existing.get((row.person_id, row.post_id, d))
            value = values.get(key, old[0] if old else "") if values is not None else (old[0] if old else "")
            machine = services.machine_record(old)
            open_ = d in row.held and d <= grid.as_of and not machine
            if not open_:
                why = "不在岗" if d not in row.held else \
                    ("未到日期" if d > grid.as_of else f"{machine}签到记录，不能手工修改")
                title = f"{d.isoformat()} {why}" + (f"（已有记录：{old[0]}）" if old else "")
            else:
                title = (f"{d.isoformat()} 已登记：{old[0]}（{old[1] or '未注明方式'}）" if old
                         else d.isoformat())
            if row.dead_on(d):
                title += f"（此人已于 {row.death_date.isoformat()} 死亡，不能登记出勤）"
            cells.append({"name": f"c-{key}", "value": value, "open": open_, "we": d.weekday() >= 5,
                          "bad": key in bad, "title": title,
                          "changed": open_ and value != (old[0] if old else "")})
        out.append((row, cells))
    return out


def _render_grid(grid, *, checked=None, upload_errors=None, upload_name=None, filled=None, status=200):
    findings = queries.unit_findings(grid.unit, grid.month)
    # the findings as this reader may read them: people outside the unit are not named, posts by name
    explained = {f.id: for_reader(f.evidence, f.explanation, scope()).explanation for f in findings}
    names = person_names({f.person_id for f in findings if f.person_id})
    return render_template(
        "attendance/grid.html", grid=grid, rows=_cells(grid, checked, filled.values if filled else None),
        checked=checked, filled=filled, explained=explained, names=names,
        upload_errors=upload_errors, upload_name=upload_name, findings=findings,
        open_findings=sum(1 for f in findings if f.is_active),
        statuses=services.STATUSES, weekday=services.WEEKDAYS, marks_help=MARKS_HELP,
        month_zh=month_zh, ym=ym,
        prev_month=ym(queries.shift_month(grid.month, -1)), next_month=ym(queries.shift_month(grid.month, 1)),
        finding_statuses=FINDING_STATUSES,
        existing_count=len(grid.existing)), status


@bp.get("/grid")
@login_required
def grid():
    return _render_grid(_operators_grid(request.args))


def _save_and_audit(grid, cells, source: str):
    actor = current_user.username
    try:
        saved = services.store(grid, cells, source=source)
    except services.SaveConflict as exc:
        flash(str(exc), "error")
        return redirect(_grid_url(grid))
    if not saved.changed:
        flash("没有改动：填写的考勤与已登记的一致，未写入任何数据（空白单元格不会删除已有考勤）。", "info")
        return redirect(_grid_url(grid))
    detail = f"新增 {saved.inserted} 条、修改 {saved.updated} 条"
    try:
        services.audit_now(actor)
    except Exception:  # noqa: BLE001 - the attendance is saved; say the audit did not finish
        current_app.logger.exception("audit after an attendance submission failed")
        flash(f"已保存 {saved.changed} 条考勤（{detail}），但审计未能完成，"
              "请稍后联系审计人员重新运行审计。", "warning")
        return redirect(_grid_url(grid))
    db.session.rollback()  # see what the audit (on its own connection) committed
    findings = queries.unit_findings(grid.unit, grid.month)
    still = sum(1 for f in findings if f.is_active)
    pending = f"有 {still} 条待处理的审计发现，见下方列表" if still else "没有待处理的审计发现"
    flash(f"已保存 {saved.changed} 条考勤，审计已完成（{detail}；审计基准日 {grid.as_of.isoformat()}）："
          f"本单位 {month_zh(grid.month)}{pending}。", "success")
    return redirect(_grid_url(grid))


def _operators_grid(source):
    """The grid that the form or query names: the signed-in operator's unit and month (403 for
    others, 404 for a unit that is not theirs)."""
    _operator()
    return queries.load_grid(_unit(source), _month(source), services.as_of_date())


@bp.post("/grid")
@login_required
def submit():
    grid = _operators_grid(request.form)
    checked = services.check_form(grid, request.form)
    if not checked.ok:
        return _render_grid(grid, checked=checked, status=422)
    return _save_and_audit(grid, checked.cells, "网页填报")


@bp.post("/grid/fill")
@login_required
def fill():
    """「全部人员工作日填出勤」 and each row's 「工作日出勤」: the grid again, its blank working days
    filled (not saved), with whom the fill skipped and why. The save checks every cell again."""
    grid = _operators_grid(request.form)
    target = request.form.get("fill", "all")
    only = None if target == "all" else target
    if only is not None and not any(r.key == only for r in grid.rows):
        abort(400, description="要填写的人员不在本单位本月的在岗名单中，请刷新页面后重试。")
    return _render_grid(grid, filled=services.fill_workdays(grid, request.form, only))


@bp.get("/sheet.xlsx")
@login_required
def sheet():
    grid = _operators_grid(request.args)
    data = sheet_file.write_sheet(grid)
    sheet_file.log_sheet(grid)
    return send_file(io.BytesIO(data), as_attachment=True, download_name=sheet_file.sheet_filename(grid),
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.post("/upload")
@body_limit("ATTENDANCE_MAX_UPLOAD_BYTES", sheet_file.too_large_template)
@login_required
def upload():
    """B8: the body is bounded before it is read (``body_limit``: a larger Content-Length answers
    413 with the reason); the sheet is copied to a temporary file, counted as it goes, and read from
    there as a stream (``sheet_file.read_sheet``), never held whole in memory."""
    grid = _operators_grid(request.form)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _render_grid(grid, upload_errors=["请选择要上传的考勤表文件（.xlsx 或 .csv）。"], status=400)
    name = file.filename
    limit = int(current_app.config["ATTENDANCE_MAX_UPLOAD_BYTES"])
    try:
        folder = Path(current_app.instance_path) / "uploads"
        with sheet_file.spool_upload(file.stream, folder, limit) as spool:
            rows = sheet_file.read_sheet(name, spool)
    except sheet_file.SheetError as exc:
        return _render_grid(grid, upload_errors=[str(exc)], upload_name=name, status=400)
    finally:
        file.close()
    checked = sheet_check.check_sheet(grid, rows)
    if not checked.ok:
        errors = checked.errors + ([f"……另有 {checked.more} 处错误未列出。"] if checked.more else [])
        return _render_grid(grid, upload_errors=errors, upload_name=name, status=422)
    if not checked.cells:
        return _render_grid(grid, upload_errors=["表格中没有填写任何考勤（所有日期格都是空白）。"],
                            upload_name=name, status=422)
    return _save_and_audit(grid, checked.cells, f"上传表格：{name[:100]}")
