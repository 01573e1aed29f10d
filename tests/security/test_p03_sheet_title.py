"""P3 (issue 13): a formula in the attendance sheet — its title, a header, a cell — is never taken for
the value it last showed, stored or shown back; the sheet the system writes holds no formula."""
from __future__ import annotations

import io
import re
import zipfile

import openpyxl
from sqlalchemy import func, select

from models import Attendance, ChangeLog, Person, db

from web_helpers import login, post

EVIL = "evil.example"
GRID = {"kind": "employer", "unit": "奉节县/白帝镇/白帝村村民委员会", "month": "2025-04"}


def sheet(client) -> bytes:
    resp = client.get("/attendance/sheet.xlsx", query_string=GRID)
    assert resp.status_code == 200
    return resp.data


def upload(client, data: bytes, name: str = "考勤.xlsx"):
    return post(client, "/attendance/upload", {**GRID, "file": (io.BytesIO(data), name)},
                content_type="multipart/form-data", follow_redirects=True)


def with_formulas(data: bytes, formulas: dict[str, tuple[str, str]]) -> bytes:
    """The xlsx with cells replaced by formulas that carry a cached result, as Excel saves them:
    {"A1": ('HYPERLINK("http://evil.example/","点此")', "点此")}."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = body.decode()
                for ref, (formula, cached) in formulas.items():
                    cell = (f'<c r="{ref}"'
                            f' t="str"><f>{formula.replace("&", "&amp;").replace(chr(34), "&quot;")}'
                            f"</f><v>{cached}</v></c>")
                    xml, n = re.subn(rf'<c r="{ref}"(?: [^>]*)?(?:/>|>.*?</c>)', cell, xml, count=1)
                    assert n == 1, ref
                body = xml.encode()
            dst.writestr(item, body)
    return out.getvalue()


def cell_of(ws, name: str, day: int) -> str:
    """The cell of ``day`` in the 考勤表 row of ``name`` (身份证号, 岗位或车间编号, 月份, 姓名, 1日…)."""
    row = next(r for r in ws.iter_rows(min_row=3) if r[3].value == name)
    return row[3 + day].coordinate


def attendance() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Attendance))


def test_the_written_sheet_has_no_formula_cell(web, client):
    person = db.session.get(Person, web.person_id["王大山"])
    person.name = f'=HYPERLINK("http://{EVIL}/","王大山")'
    db.session.commit()
    login(client, "operator_bd")
    wb = openpyxl.load_workbook(io.BytesIO(sheet(client)))  # formulas as formulas
    formulas = [c.coordinate for row in wb.active.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    assert any(c.value == f'\'=HYPERLINK("http://{EVIL}/","王大山")' for c in wb.active["D"])


def test_a_formula_in_the_title_and_a_day_header_is_dropped(web, client):
    login(client, "operator_bd")
    data = sheet(client)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    day_30 = ws.cell(row=2, column=4 + 30).coordinate
    wang_2 = cell_of(ws, "王大山", 2)
    wang_30 = cell_of(ws, "王大山", 30)
    ws[wang_2] = "请假"
    ws[wang_30] = "出勤"
    buf = io.BytesIO()
    ws.parent.save(buf)
    tampered = with_formulas(buf.getvalue(), {
        "A1": (f'HYPERLINK("http://{EVIL}/t","白帝村考勤表")', "白帝村考勤表"),
        day_30: (f'HYPERLINK("http://{EVIL}/h","点此领取补贴")', "点此领取补贴"),
    })
    before = attendance()
    resp = upload(client, tampered)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "表头是公式（已忽略" in page
    assert "点此领取补贴" not in page and EVIL not in page
    assert attendance() == before
    assert not any(EVIL in str(e.new) or "点此" in str(e.new) for e in db.session.scalars(select(ChangeLog)))


def test_a_formula_in_a_status_cell_is_not_taken_for_its_result(web, client):
    login(client, "operator_bd")
    wb = openpyxl.load_workbook(io.BytesIO(sheet(client)))
    wang_2 = cell_of(wb.active, "王大山", 2)
    wb.active[wang_2] = "休息"  # a cell the formula then replaces
    buf = io.BytesIO()
    wb.save(buf)
    tampered = with_formulas(buf.getvalue(), {wang_2: (f'HYPERLINK("http://{EVIL}/s","出勤")', "出勤"),
                                    "A1": (f'HYPERLINK("http://{EVIL}/t","考勤表")', "考勤表")})
    before = attendance()
    resp = upload(client, tampered)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "单元格是公式，已忽略" in page and EVIL not in page
    assert attendance() == before


def test_a_title_formula_alone_is_ignored_and_the_rest_is_stored(web, client):
    login(client, "operator_bd")
    data = sheet(client)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.active
    ws[cell_of(ws, "王大山", 2)] = "请假"
    buf = io.BytesIO()
    wb.save(buf)
    tampered = with_formulas(buf.getvalue(), {"A1": (f'HYPERLINK("http://{EVIL}/t","考勤表")', "考勤表")})
    page = upload(client, tampered).get_data(as_text=True)
    assert "已保存 1 条考勤" in page and EVIL not in page
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "attendance.submit")).one()
    assert EVIL not in str(log.new) and EVIL not in str(log.old)


def test_a_formula_in_a_csv_header_is_not_echoed(web, client):
    login(client, "operator_bd")
    masked = db.session.scalar(select(Person.id_masked).where(Person.name == "李小花"))
    head = ("岗位编号,姓名,身份证号(脱敏)," + ",".join(str(d) for d in range(1, 30))
            + f',"=HYPERLINK(""http://{EVIL}/c"",""30"")"')
    line = f"GW-A2,李小花,{masked},出勤" + "," * 28 + ",出勤"
    resp = upload(client, (f'"=HYPERLINK(""http://{EVIL}/t"",""考勤"")"\r\n' + head + "\r\n" + line + "\r\n")
                  .encode(), "考勤.csv")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "表头是公式（已忽略" in page and EVIL not in page
