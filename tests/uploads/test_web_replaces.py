"""Corrections through the web upload (ledger-format.md, "Corrections: replacing what a bundle covers"):
an auditor may replace only inside their own regions; the preview lists, masked, what would be
deleted, and the commit deletes exactly that."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from test_web_upload import error_rows, job_of, page, upload, zipped

from audit.pii import mask_id
from models import Attendance, ChangeLog, Wage, db

from web_helpers import login, post


def _wages() -> list[tuple[str, str]]:
    """(post code, month) of every stored payment."""
    from models import Post

    db.session.rollback()
    return sorted((code, p.strftime("%Y-%m")) for code, p in db.session.execute(
        select(Post.code, Wage.period).join(Post, Post.id == Wage.post_id)))


def _deleted_rows(html: str) -> list[tuple[str, str]]:
    """The preview's rows to be deleted as the user reads them: (record, old values)."""
    out = []
    for table in re.findall(r'<details class="[^"]*upload-deleted"[^>]*>(.*?)</details>', html, re.S):
        for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            out.append(tuple(re.sub(r"<[^>]+>", "", c).strip() for c in cells))
    return out


def test_a_district_auditor_may_not_replace_another_districts_rows(client, web, tmp_path):
    login(client, "auditor_ws")  # 巫山县
    wages, attendance = _wages(), db.session.scalar(select(func.count()).select_from(Attendance))
    job = job_of(upload(client, zipped({"replaces": [
        {"table": "工资发放", "period_from": "2025-02", "district": "奉节县"},  # row 2: another district
        {"table": "考勤记录", "period_from": "2025-03", "post_code": "GW-A1"},  # row 3: a post of 奉节县
        {"table": "wages", "period_from": "2025-02"},  # row 4: no district: the whole database
    ]}, tmp_path / "fj")))
    html = page(client, job)
    assert "导入被拒绝：共有 3 处错误" in html and "确认导入" not in html
    assert error_rows(html) == [
        ("替换范围", "2", "区县", "奉节县", "不在您的管辖范围内（奉节县；您的管辖范围：巫山县）"),
        ("替换范围", "3", "岗位或车间编号", "GW-A1",
         "不在您的管辖范围内（公益性岗位 GW-A1 属于其他地区；您的管辖范围：巫山县）"),
        ("替换范围", "4", "区县", "（空）",
         "不在您的管辖范围内（未填写区县，无法确认属于您的管辖范围：巫山县）")]
    # nothing of 奉节县's is listed, even masked, nor counted as to be deleted
    assert "将删除" not in html and "王大山" not in html
    assert post(client, f"/uploads/{job}/commit").status_code == 303
    assert "此次上传未通过检查，不能导入" in page(client, job)
    assert _wages() == wages
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == attendance


def test_a_district_auditor_replaces_their_own_districts_rows(client, web, tmp_path):
    """巫山县's February pay again, without 刘一's (paid for a month he never worked): the preview
    names his payment, masked, as the one row to go; 奉节县's February stays."""
    login(client, "auditor_ws")
    liu = web.ids["刘一"]
    kept = [w for w in web.county.t["wages"]
            if w["period"] == "2025-02" and w["post_code"] in ("GW-B1", "CJ-B1") and w["id_number"] != liu]
    assert [w["post_code"] for w in kept] == ["CJ-B1"]
    before = _wages()
    job = job_of(upload(client, zipped({"replaces": [{"table": "工资发放", "period_from": "2025-02",
                                                      "district": "巫山县"}], "wages": kept},
                                       tmp_path / "ws")))
    html = page(client, job)
    assert "检查通过" in html and "将删除的记录" in html, error_rows(html)
    [(record, old)] = _deleted_rows(html)
    assert record.startswith(f"刘一（{mask_id(liu)}）") and "GW-B1" in record and "2025-02" in record
    assert "800.00" in old
    assert liu not in html and web.county.accounts[liu] not in html
    assert _wages() == before  # the check deleted nothing

    post(client, f"/uploads/{job}/commit")
    assert "导入完成" in page(client, job)
    after = _wages()
    assert len(after) == len(before) - 1
    gone_rows = list(before)
    for row in after:
        gone_rows.remove(row)
    assert gone_rows == [("GW-B1", "2025-02")] and ("GW-A1", "2025-02") in after  # 奉节县's stays
    gone = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "import.delete")).all()
    assert len(gone) == 1 and gone[0].actor == "auditor_ws" and gone[0].table_name == "wages"
    assert liu not in str(gone[0].old) and gone[0].old["id_number"] == mask_id(liu)


def test_a_grid_of_another_districts_post_is_refused(client, web, tmp_path):
    """A 考勤表 is attendance: its posts are checked like those of 考勤记录."""
    import openpyxl

    login(client, "auditor_ws")
    liu = web.ids["刘一"]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "考勤表"
    ws.append(["身份证号", "岗位或车间编号", "月份", "姓名", *(f"{n}日" for n in range(1, 32))])
    ws.append([liu, "GW-B1", "2025-04", "刘一", "√", "√"])
    ws.append([liu, "GW-A1", "2025-04", "刘一", "√", "√"])
    folder = tmp_path / "grid"
    folder.mkdir()
    wb.save(folder / "考勤表.xlsx")
    before = db.session.scalar(select(func.count()).select_from(Attendance))
    job = job_of(upload(client, (folder / "考勤表.xlsx").read_bytes(), "考勤表.xlsx"))
    html = page(client, job)
    assert error_rows(html) == [("考勤表", "3", "岗位或车间编号", "GW-A1",
                                 "不在您的管辖范围内（公益性岗位 GW-A1 属于其他地区；您的管辖范围：巫山县）")]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == before
