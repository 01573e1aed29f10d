"""考勤填报 through the sheet (考勤表): downloaded, changed and uploaded back; marks, layouts, a village's
own sheet, and the files refused with a clear message."""
from __future__ import annotations

import datetime as dt

import openpyxl
from sqlalchemy import func, select

from audit.ledger.grid import MARKS_HELP
from models import ChangeLog, Placement, db

from attendance_web import APRIL, attendance_count, bd_grid, masked, rows_of, sheet, text, upload
from web_helpers import login, post

# ---- the sheet -------------------------------------------------------------------------------------

def test_the_downloaded_sheet_uploaded_back_with_changes_is_stored(web, client):
    login(client, "operator_bd")
    wb = sheet(client, "2025-03")
    assert db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        # the download is logged
        ChangeLog.action == "attendance.sheet", ChangeLog.actor == "operator_bd")) == 1
    ws = wb.active
    assert [c.value for c in ws[2]][:6] == ["身份证号", "岗位或车间编号", "月份", "姓名", "1日", "2日"]
    assert ws.max_column == 4 + 31 and ws.cell(row=2, column=4 + 31).value == "31日"
    wang = next(r for r in ws.iter_rows(min_row=3) if r[3].value == "王大山")
    assert wang[0].value == masked("王大山") and wang[1].value == "GW-A1" and wang[2].value == "2025-03"
    # pre-filled with marks (the 3rd, the 31st)
    assert wang[4 + 2].value == "√" and wang[4 + 30].value == "休"
    # 王大山 did 10 days in March: the operator corrects the 17th-21st to √ and 24th to 假
    for day in (17, 18, 19, 20, 21):
        wang[3 + day].value = "√"
    wang[3 + 24].value = "假"
    page = text(upload(client, wb, month="2025-03"))
    assert "已保存 6 条考勤，审计已完成（新增 0 条、修改 6 条" in page
    stored = rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1))
    assert stored[dt.date(2025, 3, 17)] == ("出勤", "手工登记", "未核验")
    assert stored[dt.date(2025, 3, 24)][0] == "请假"
    assert sum(1 for s, _, _ in stored.values() if s == "出勤") == 15
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "attendance.submit")).one()
    assert log.new["source"] == "上传表格：考勤.xlsx" and log.new["updated"] == 6


def test_a_csv_in_gb18030_is_read(web, client):
    login(client, "operator_bd")
    head = "岗位编号,姓名,身份证号(脱敏)," + ",".join(str(d) for d in range(1, 31))
    line = f"GW-A2,李小花,{masked('李小花')},出勤,出勤" + "," * 28
    page = text(upload(client, (head + "\r\n" + line + "\r\n").encode("gb18030"), "考勤.csv"))
    assert "已保存 2 条考勤，审计已完成" in page
    assert sorted(rows_of(web, "李小花", "GW-A2", APRIL)) == [dt.date(2025, 4, 1), dt.date(2025, 4, 2)]


def test_a_doubled_row_in_the_sheet_is_refused(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    wang = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[3] == "王大山")
    first = next(i for i, r in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1)
                 if r[3] == "王大山")
    ws.append(list(wang[:4]) + ["√"] * 2)
    ws.cell(row=first, column=5).value = "√"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 {ws.max_row} 行与第 {first} 行重复：同一人员、同一岗位（王大山（{masked('王大山')}） · 岗位"
            " GW-A1）" in page)
    assert "未写入任何数据" in page
    assert attendance_count() == before


def test_sheet_errors_name_the_row_and_column(web, client):
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 4, 16)))
    db.session.commit()
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    ws.cell(row=2, column=4 + 31).value = "31日"  # a 31st of April, in column AI
    rows = {r[3].value + r[1].value: r[0].row for r in ws.iter_rows(min_row=3)}
    ws.cell(row=rows["王大山GW-A1"], column=4 + 31).value = "√"  # AI: the 31st
    ws.cell(row=rows["王大山GW-A1"], column=4 + 2).value = "上班"  # F: the 2nd
    ws.cell(row=rows["李小花GW-A1"], column=4 + 1).value = "√"  # E: the 1st, before she took the post
    ws.append(["500236********0000", "GW-A1", "2025-04", "赵某", "√"])
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    wang, li = f"王大山（{masked('王大山')}） · 岗位 GW-A1", f"李小花（{masked('李小花')}） · 岗位 GW-A1"
    assert (f"第 {rows['王大山GW-A1']} 行「31日」（AI 列，{wang}）：日期「31」不在 2025年04月 内（该月共 30"
            " 天），"
            "不能填写考勤：请把这一格留空。") in page
    assert (f"第 {rows['王大山GW-A1']} 行「2日」（F 列，2025-04-02，{wang}）：考勤标记「上班」无法识别："
            f"{MARKS_HELP}。") in page
    assert (f"第 {rows['李小花GW-A1']} 行「1日」（E 列，2025-04-01，{li}）：该日不在岗（在岗期间：2025-04-16"
            " 至 今），"
            "不能登记考勤：请把这一格留空。") in page
    assert (f"第 {ws.max_row} 行：岗位「GW-A1」、姓名「赵某」" in page
            and "不在白帝镇白帝村村民委员会 2025年04月的在岗名单中" in page)
    assert attendance_count() == before


def sheet_row(ws, name: str, post_code: str) -> int:
    return next(r[0].row for r in ws.iter_rows(min_row=3) if r[3].value == name and r[1].value == post_code)


def day_col(day: int) -> int:
    """The column of a day in the downloaded sheet (身份证号, 岗位或车间编号, 月份, 姓名, then 1日 in E)."""
    return 4 + day


def test_the_download_is_a_kaoqinbiao_with_masked_ids_and_marks(web, client):
    """The sheet follows the 考勤表 contract: its header cells, 月份 as YYYY-MM, a row per person and
    post; the ID masked (the note says so), never whole anywhere; stored days as marks."""
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 3, 16)))
    db.session.commit()
    login(client, "operator_bd")
    ws = sheet(client, "2025-03").active
    assert ([c.value for c in ws[2]] == ["身份证号", "岗位或车间编号", "月份", "姓名"]
            + [f"{d}日" for d in range(1, 32)])
    note = ws["A1"].value
    assert "2025年03月 考勤表" in note and "身份证号为脱敏显示" in note and MARKS_HELP in note
    people = [(r[3], r[1], r[0], r[2]) for r in ws.iter_rows(min_row=3, values_only=True)]
    assert people == [("李小花", "GW-A1", masked("李小花"), "2025-03"),
                      ("王大山", "GW-A1", masked("王大山"), "2025-03"),
                      ("李小花", "GW-A2", masked("李小花"), "2025-03")]  # by post, then name
    values = [str(c) for r in ws.iter_rows(values_only=True) for c in r if c is not None]
    assert not [v for v in values for full in web.ids.values() if full in v]  # no full ID number anywhere
    # stored March: 王大山 10 days 出勤 then 休息 (the fixture's month), written as √ and 休
    wang = [c.value for c in ws[sheet_row(ws, "王大山", "GW-A1")]]
    stored = rows_of(web, "王大山", "GW-A1", dt.date(2025, 3, 1))
    mark_of = {"出勤": "√", "请假": "假", "缺勤": "×", "休息": "休"}
    assert {d.day: mark_of[s] for d, (s, _, _) in stored.items()} == {
        n: wang[day_col(n) - 1] for n in range(1, 32) if wang[day_col(n) - 1] is not None}
    assert set(wang[4:]) <= {"√", "假", "×", "休", None} and "√" in wang and "休" in wang
    # 李小花 takes GW-A1 on the 16th: the 15 days before are grey, the 16th is not
    li = sheet_row(ws, "李小花", "GW-A1")
    greys = [n for n in range(1, 32) if ws.cell(row=li, column=day_col(n)).fill.fgColor.rgb == "00E6E9EE"]
    assert greys == list(range(1, 16))
    assert ws.freeze_panes == "E3"
    (dv,) = ws.data_validations.dataValidation
    assert dv.formula1 == '"√,假,×,休,出勤,请假,缺勤,休息"' and str(dv.sqref) == f"E3:AI{2 + len(people)}"


def test_a_sheet_of_marks_is_stored_as_attendance_rows(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "王大山", "GW-A1")
    marks = {1: "√", 2: "假", 3: "×", 4: 1, 5: "休", 7: "✓", 8: "出勤", 9: " 旷 "}
    for day, m in marks.items():
        ws.cell(row=r, column=day_col(day)).value = m
    page = text(upload(client, wb))
    assert "已保存 8 条考勤，审计已完成（新增 8 条、修改 0 条" in page
    stored = rows_of(web, "王大山", "GW-A1", APRIL)
    expected = {1: "出勤", 2: "请假", 3: "缺勤", 4: "出勤", 5: "休息", 7: "出勤", 8: "出勤", 9: "缺勤"}
    assert stored == {dt.date(2025, 4, d): (s, "手工登记", "未核验") for d, s in expected.items()}


def test_an_unknown_mark_is_refused_naming_row_and_day(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "王大山", "GW-A1")
    ws.cell(row=r, column=day_col(14)).value = "√"
    ws.cell(row=r, column=day_col(15)).value = "?"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 {r} 行「15日」（S 列，2025-04-15，王大山（{masked('王大山')}） · 岗位 GW-A1）：考勤标记「"
            "?」无法识别："
            f"{MARKS_HELP}。") in page
    assert "未写入任何数据" in page and "「14日」" not in page
    assert attendance_count() == before


def test_a_sheet_of_another_month_is_refused(web, client):
    login(client, "operator_bd")
    wb = sheet(client)
    ws = wb.active
    r = sheet_row(ws, "李小花", "GW-A2")
    ws.cell(row=r, column=3).value = "2025-05"
    ws.cell(row=r, column=day_col(1)).value = "√"
    before = attendance_count()
    resp = upload(client, wb)
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 {r} 行「月份」（C 列，李小花（{masked('李小花')}） · 岗位 GW-A2）：月份是 2025年05月，不是"
            "本表的 "
            "2025年04月：请写 2025-04") in page
    assert attendance_count() == before
    # a month Excel turned into a date, or written 2025年4月, is the same month
    ws.cell(row=r, column=3).value = dt.datetime(2025, 4, 1)
    assert "已保存 1 条考勤" in text(upload(client, wb))
    head = "身份证号,岗位或车间编号,月份,姓名," + ",".join(f"{d}日" for d in range(1, 31))
    # saved as CSV by Excel after it made 2025-04 a date
    line = f"{masked('李小花')},GW-A2,2025/4/1,李小花,√,假"
    assert ("已保存 1 条考勤"
            in text(upload(client, (head + "\r\n" + line + "\r\n").encode("gb18030"), "考勤.csv")))
    assert ({d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()}
            == {1: "出勤", 2: "请假"})


def test_a_sheet_in_the_earlier_layout_still_uploads(web, client):
    """Sheets downloaded before the 考勤表 layout: 岗位编号, 姓名, 身份证号(脱敏), then 1 … 30, words."""
    login(client, "operator_bd")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["白帝镇白帝村村民委员会 2025年04月 考勤表。每格填写 出勤、请假、缺勤 或 休息；…"])
    ws.append(["岗位编号", "姓名", "身份证号(脱敏)"] + list(range(1, 31)))
    ws.append(["GW-A1", "王大山", masked("王大山"), "出勤", "请假", "√"])
    ws.append(["GW-A2", "李小花", masked("李小花"), None, "缺勤"])
    page = text(upload(client, wb, "考勤表_旧.xlsx"))
    assert "已保存 4 条考勤，审计已完成（新增 4 条" in page
    assert {d.day: s for d, (s, _, _) in rows_of(web, "王大山", "GW-A1", APRIL).items()} == {
        1: "出勤", 2: "请假", 3: "出勤"}
    assert {d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()} == {2: "缺勤"}


def test_a_villages_own_kaoqinbiao_with_full_ids_is_matched(web, client):
    """A 考勤表 kept by the village: a title row, 序号, full ID numbers, no 姓名 for one row; matched to
    the unit's holders by the ID. A full ID is never shown back whole."""
    login(client, "operator_bd")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["白帝村 2025 年 4 月考勤表"])
    ws.append(["序号", "姓名", "身份证号", "岗位或车间编号", "月份"] + [f"{d}日" for d in range(1, 31)])
    ws.append([1, "王大山", web.ids["王大山"], "GW-A1", "2025-04", "√", "√", "假"])
    ws.append([2, None, web.ids["李小花"].lower(), "GW-A2", "2025年4月", "×", "休"])
    page = text(upload(client, wb, "白帝村考勤.xlsx"))
    assert "已保存 5 条考勤，审计已完成（新增 5 条" in page
    assert {d.day: s for d, (s, _, _) in rows_of(web, "王大山", "GW-A1", APRIL).items()} == {
        1: "出勤", 2: "出勤", 3: "请假"}
    assert ({d.day: s for d, (s, _, _) in rows_of(web, "李小花", "GW-A2", APRIL).items()}
            == {1: "缺勤", 2: "休息"})

    # someone of another unit, a wrong check character, a name not the ID's: refused, IDs masked
    bad = web.ids["王大山"][:-1] + ("0" if web.ids["王大山"][-1] != "0" else "1")
    ws.append([3, "张三", web.ids["张三"], "GW-A1", "2025-04", "√"])
    ws.append([4, "王大山", bad, "GW-A1", "2025-04", "√"])
    ws.append([5, "李四", web.ids["王大山"], "GW-A1", "2025-04", "√"])
    before = attendance_count()
    resp = upload(client, wb, "白帝村考勤.xlsx")
    assert resp.status_code == 422
    page = text(resp)
    assert (f"第 5 行：岗位「GW-A1」、姓名「张三」、身份证号「{masked('张三')}」不在白帝镇白帝村村民委员会 "
            "2025年04月的在岗名单中") in page
    assert "第 6 行「身份证号」（C 列）：身份证号校验码错误，按前17位应为" in page
    assert (f"第 7 行「姓名」（B 列）：姓名「李四」与身份证号 {masked('王大山')} 的在岗人员「王大山」不符"
            in page)
    assert not [full for full in (*web.ids.values(), bad) if full in page]
    assert attendance_count() == before


BAD_FILES = [
    ("考勤.xlsx", b"this is not a spreadsheet", "不是有效的 xlsx 文件"),
    ("考勤.xlsx", b"", "上传的文件是空的"),
    ("考勤.xls", b"\xd0\xcf\x11\xe0old excel", "不支持旧版 .xls 文件"),
    ("考勤.pdf", b"%PDF-1.4", "只能上传 .xlsx 或 .csv 格式的考勤表"),
    ("考勤.csv", b"", "上传的文件是空的"),
    ("考勤.csv", "随便写点什么\n没有表头".encode(), "没有找到表头行"),
    ("考勤.csv", b"\xff\xfe\x00\x00\x81", "编码无法识别"),
]


def test_bad_files_get_a_clear_message(web, client):
    login(client, "operator_bd")
    for name, data, message in BAD_FILES:
        resp = upload(client, data, name)
        assert resp.status_code in (400, 422), name
        page = text(resp)
        assert message in page and "未写入任何数据" in page, (name, data)
    resp = upload(client, openpyxl.Workbook())
    assert resp.status_code == 422 and "上传的表格是空的" in text(resp)
    resp = post(client, "/attendance/upload", bd_grid())
    assert resp.status_code == 400 and "请选择要上传的考勤表文件" in text(resp)
