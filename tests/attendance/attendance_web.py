"""What the tests of 考勤填报 (tests/attendance/) read off the pages and the database: the grid's
cells, the rows stored, the sheet downloaded and uploaded."""
from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
from sqlalchemy import func, select

from models import Attendance, Finding, Person, db

from web_helpers import BAIDI, post

APRIL = dt.date(2025, 4, 1)
AS_OF = "2025-06-30"

def weekdays(month: dt.date) -> list[dt.date]:
    out, d = [], month
    while d.month == month.month:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def text(resp) -> str:
    return resp.get_data(as_text=True)


def selected(page: str, pid: int, post_id: int, day: int) -> str | None:
    """The status a cell of the grid shows ("" when blank); None when the cell cannot be filled."""
    m = re.search(rf'<select name="c-{pid}-{post_id}-{day}"[^>]*>(.*?)</select>', page, re.S)
    if m is None:
        return None
    chosen = re.search(r'<option value="([^"]*)" selected>', m.group(1))
    return chosen.group(1) if chosen else ""


def masked(name: str) -> str:
    return db.session.scalar(select(Person.id_masked).where(Person.name == name))


def rows_of(web, name: str, post_code: str, month: dt.date) -> dict[dt.date, tuple[str, str, str]]:
    db.session.rollback()
    q = select(Attendance.work_date, Attendance.status, Attendance.method, Attendance.verified).where(
        Attendance.person_id == web.person_id[name], Attendance.post_id == web.post_id[post_code],
        Attendance.work_month == month)
    return {r.work_date: (r.status, r.method, r.verified) for r in db.session.execute(q)}


def attendance_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Attendance))


def cells(web, name: str, post_code: str, days: list[dt.date], status: str = "出勤") -> dict[str, str]:
    pid, post_id = web.person_id[name], web.post_id[post_code]
    return {f"c-{pid}-{post_id}-{d.day}": status for d in days}


def bd_grid(month: str = "2025-04") -> dict[str, str]:
    return {"kind": "employer", "unit": BAIDI, "month": month}


def grid_url(month: str = "2025-04") -> str:
    return f"/attendance/grid?kind=employer&unit={BAIDI}&month={month}"


def unit_findings_of(month: str) -> list[Finding]:
    db.session.rollback()
    return [f for f in db.session.scalars(select(Finding).where(Finding.unit == BAIDI))
            if month in f.periods]


def sheet(client, month: str = "2025-04"):
    resp = client.get(f"/attendance/sheet.xlsx?kind=employer&unit={BAIDI}&month={month}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(resp.data))


def upload(client, wb_or_bytes, name: str = "考勤.xlsx", month: str = "2025-04"):
    if isinstance(wb_or_bytes, bytes):
        data = wb_or_bytes
    else:
        buf = io.BytesIO()
        wb_or_bytes.save(buf)
        data = buf.getvalue()
    return post(client, "/attendance/upload", {**bd_grid(month), "file": (io.BytesIO(data), name)},
                content_type="multipart/form-data", follow_redirects=True)
