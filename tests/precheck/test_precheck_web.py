"""发放前校验 on the web (issue 17, shared/docs/precheck.md "Output / on the web"): the two districts of
tests/web_helpers.py with April's attendance and a death; April's draft payroll uploaded by
奉节县's auditor is judged (pass, hold, reject with reasons), another district's post is refused by
row, the pass rows are approved (with or without the held ones) once only, signed and logged, the
XLSX download is masked with the verdicts, and operators cannot reach any of it."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import ChangeLog, Precheck, PrecheckRow, db

import web_helpers as wh
from precheck_web import CHECK_DAY, HEADER, csv_bytes, draft_rows
from web_helpers import RequestClient, text


def upload(client, data: bytes, name: str = "白帝镇4月工资发放表.csv", as_of: str = CHECK_DAY):
    return client.post("/prechecks/", content_type="multipart/form-data", data={
        "file": (io.BytesIO(data), name), "as_of": as_of, "csrf_token": wh.token(client, "/prechecks/")})


def signed_in(app, username: str) -> RequestClient:
    client = RequestClient(app)
    wh.login(client, username)
    return client


def uploaded(client, web) -> int:
    resp = upload(client, csv_bytes(draft_rows(web)))
    assert resp.status_code == 303, text(resp)[:3000]
    return int(re.search(r"/prechecks/(\d+)$", resp.headers["Location"]).group(1))


def test_upload_shows_verdicts_with_reasons_and_totals(app, april):
    au = signed_in(app, "auditor_fj")
    assert "发放前校验" in text(au.get("/dashboard/"))  # in the main nav
    pid = uploaded(au, april)
    page = text(au.get(f"/prechecks/{pid}"))
    assert "已完成发放前校验" in page and "待审批" in page
    # each row: name, masked ID, post title, month, amount, verdict, allowed amount, rule titles and reasons
    for name in ("李小花", "王大山", "张三", "陈工"):
        assert name in page and april.ids[name] not in page
    masked = db.session.scalars(select(PrecheckRow.id_masked).where(PrecheckRow.precheck_id == pid)
                                .order_by(PrecheckRow.row_no)).all()
    assert all(m in page for m in masked) and all("*" in m for m in masked)
    assert "护林员（白帝镇白帝村村民委员会）" in page and "CJ-A1帮扶车间" in page
    by = {r.row_no: r for r in db.session.scalars(select(PrecheckRow).where(PrecheckRow.precheck_id == pid))}
    assert {n: r.verdict for n, r in by.items()} == {2: "pass", 3: "hold", 4: "reject", 5: "pass"}
    assert by[3].rules == ["PS02"] and "PS04" in by[4].rules and by[2].rules == by[5].rules == []
    assert "死亡后仍发放工资" in page and "出勤不足却足额或超额发放工资" in page  # titles, not codes only
    assert "死亡" in by[4].reasons[by[4].rules.index("PS04")] and by[4].allowed_fen == 0
    assert by[3].allowed_fen == 40000  # 800.00 × 10 ÷ 20
    # totals by verdict, counted from the rows, to the fen
    assert re.search(r"可发放 2 行 金额 3,300.00 元 · 可发放金额 3,300.00 元", page)
    assert re.search(r"暂缓发放 1 行 金额 800.00 元 · 可发放金额 400.00 元", page)
    assert re.search(r"不予发放 1 行 金额 800.00 元 · 可发放金额 0.00 元", page)
    assert re.search(r"合计 4 行 金额 4,900.00 元 · 可发放金额 3,700.00 元", page)
    # the filter by verdict
    rejected = text(au.get(f"/prechecks/{pid}?verdict=reject"))
    assert "张三" in rejected and "李小花" not in rejected and "陈工" not in rejected
    # the list
    listing = text(au.get("/prechecks/"))
    assert f"第 {pid} 号" in listing and "白帝镇4月工资发放表.csv" in listing
    # the upload is logged (the command line's sentence)
    entry = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.create")).one()
    assert entry.actor == "auditor_fj" and entry.row_id == pid and entry.new["reject"] == 1


def test_another_districts_post_and_bad_rows_are_refused_by_row_and_nothing_is_stored(app, april):
    au = signed_in(app, "auditor_fj")
    resp = upload(au, csv_bytes(draft_rows(april, ("刘一", "GW-B1", "800.00"))))
    assert resp.status_code == 422
    page = text(resp)
    assert "校验未进行" in page and "本次没有保存任何内容" in page
    assert (re.search(r"6 岗位或车间编号 GW-B1 不在您的管辖范围内（岗位或车间 GW-B1 属于其他地区；您的管辖"
                      r"范围：奉节县）", page))
    assert april.ids["刘一"] not in page
    # a bad cell and an unknown person: named by row, in Chinese
    rows = draft_rows(april)
    rows[1][3] = "八百"
    rows[2][0] = "110101199003077777"
    page = text(upload(au, csv_bytes(rows)))
    assert re.search(r"3 发放金额 八百 \S+", page), page[:3000]
    # a bad date, a wrong file type
    assert "不是日期" in text(upload(au, csv_bytes(draft_rows(april)), as_of="2025-13-40"))
    assert "不支持的文件类型" in text(upload(au, b"x", name="工资.pdf"))
    assert db.session.scalar(select(func.count()).select_from(Precheck)) == 0
    # 巫山县's auditor sees no pre-check of 奉节县's posts (404), nor in the list
    pid = uploaded(au, april)
    other = signed_in(app, "auditor_ws")
    assert other.get(f"/prechecks/{pid}").status_code == 404
    assert other.get(f"/prechecks/{pid}.xlsx").status_code == 404
    assert f"第 {pid} 号" not in text(other.get("/prechecks/"))
    assert (wh.post(other, f"/prechecks/{pid}/approve", {"verdicts": "pass", "confirm": "1"})
            .status_code == 404)


@pytest.mark.parametrize("with_hold", [False, True])
def test_approval_signed_logged_and_final(app, april, with_hold):
    from models import User

    u = db.session.scalars(select(User).where(User.username == "auditor_fj")).one()
    u.display_name = "王审计"
    db.session.commit()
    au = signed_in(app, "auditor_fj")
    pid = uploaded(au, april)
    # not confirmed: nothing happens
    resp = wh.post(au, f"/prechecks/{pid}/approve", {"verdicts": "pass"})
    assert resp.status_code == 303 and "请勾选" in text(au.get(resp.headers["Location"]))
    assert db.session.get(Precheck, pid).status == "draft"

    resp = wh.post(au, f"/prechecks/{pid}/approve",
                   {"verdicts": "pass_hold" if with_hold else "pass", "confirm": "1"})
    assert resp.status_code == 303
    page = text(au.get(resp.headers["Location"]))
    db.session.rollback()
    pc = db.session.get(Precheck, pid)
    assert pc.status == "approved" and pc.approved_by == "auditor_fj" and pc.approved_name == "王审计"
    assert pc.approved_at is not None
    assert pc.approved_verdicts == (["pass", "hold"] if with_hold else ["pass"])
    rows, amount = (3, "4,100.00") if with_hold else (2, "3,300.00")
    which = "可发放和暂缓发放" if with_hold else "可发放"
    assert f"已审批：{which}的 {rows} 行（金额 {amount} 元）准予发放，签名 王审计" in page
    assert f"签名： 王审计 （auditor_fj），{pc.approved_at:%Y-%m-%d %H:%M}" in page
    assert "本人已核对" not in page  # no approval form any more
    entry = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.approve")).one()
    assert entry.actor == "auditor_fj" and entry.row_id == pid
    assert entry.new["verdicts"] == pc.approved_verdicts and entry.new["rows"] == rows
    assert entry.old == {"status": "draft"}

    # a second approval is refused and changes nothing
    resp = wh.post(au, f"/prechecks/{pid}/approve", {"verdicts": "pass_hold", "confirm": "1"})
    assert "不能再次审批或更改" in text(au.get(resp.headers["Location"]))
    db.session.rollback()
    again = db.session.get(Precheck, pid)
    assert (again.approved_verdicts, again.approved_at) == (pc.approved_verdicts, pc.approved_at)
    assert db.session.scalar(select(func.count()).select_from(ChangeLog)
                             .where(ChangeLog.action == "precheck.approve")) == 1

    # the admin's log reads it as a sentence
    admin = signed_in(app, "admin")
    log = text(admin.get("/admin/log"))
    assert (f"审批发放前校验第 {pid} 号（工资发放表「白帝镇4月工资发放表.csv」，校验日 {CHECK_DAY}）"
            f"：{which}的 {rows} 行准予发放" in log)


def test_approval_without_a_pass_row_is_refused(app, april):
    au = signed_in(app, "auditor_fj")
    resp = upload(au, csv_bytes([r for r in draft_rows(april) if r[5] == "张三"]))
    pid = int(re.search(r"/prechecks/(\d+)$", resp.headers["Location"]).group(1))
    resp = wh.post(au, f"/prechecks/{pid}/approve", {"verdicts": "pass_hold", "confirm": "1"})
    assert "没有可批准发放的行" in text(au.get(resp.headers["Location"]))
    db.session.rollback()
    assert db.session.get(Precheck, pid).status == "draft"


def test_xlsx_download_is_masked_with_verdicts_and_logged(app, april, tmp_path):
    au = signed_in(app, "auditor_fj")
    pid = uploaded(au, april)
    ins = signed_in(app, "inspector_fj")  # an inspector reads and downloads, approves nothing
    assert "本人已核对" not in text(ins.get(f"/prechecks/{pid}"))
    assert wh.post(ins, f"/prechecks/{pid}/approve", {"verdicts": "pass", "confirm": "1"}).status_code == 403
    resp = ins.get(f"/prechecks/{pid}.xlsx")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    path = tmp_path / "out.xlsx"
    path.write_bytes(resp.data)
    ws = load_workbook(path).active
    values = [[c for c in row] for row in ws.iter_rows(values_only=True)]
    body = "\n".join(str(c) for row in values for c in row if c is not None)
    for name in ("李小花", "王大山", "张三", "陈工"):
        assert april.ids[name] not in body and april.county.accounts[april.ids[name]] not in body
    lines = {row[0]: row for row in values[2:6]}
    assert [lines[n][8] for n in (2, 3, 4, 5)] == ["可发放", "暂缓发放", "不予发放", "可发放"]
    assert "*" in lines[4][1] and "PS04" in lines[4][10] and "死亡" in lines[4][11]
    assert ws.cell(row=5, column=9).fill.fgColor.rgb.endswith("FFC7CE")
    entry = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.export")).one()
    assert entry.actor == "inspector_fj" and entry.new["full_identifiers"] is False and entry.new["rows"] == 4


def test_operator_cannot_reach_it(app, april):
    au = signed_in(app, "auditor_fj")
    pid = uploaded(au, april)
    op = signed_in(app, "operator_bd")
    assert "发放前校验" not in text(op.get("/dashboard/"))
    for path in ("/prechecks/", f"/prechecks/{pid}", f"/prechecks/{pid}.xlsx"):
        assert op.get(path).status_code == 403, path
    assert wh.post(op, f"/prechecks/{pid}/approve", {"verdicts": "pass", "confirm": "1"}).status_code == 403
    resp = op.post("/prechecks/", content_type="multipart/form-data", data={
        "file": (io.BytesIO(csv_bytes(draft_rows(april))), "x.csv"), "csrf_token": wh.token(op)})
    assert resp.status_code == 403
    db.session.rollback()
    assert db.session.get(Precheck, pid).status == "draft"
    assert db.session.scalar(select(func.count()).select_from(Precheck)) == 1


def test_of_two_approvals_at_once_one_wins_and_an_empty_file_is_refused(app, april):
    """The approval's UPDATE is conditional on the draft status: an approval that read the
    pre-check before another one was committed is refused and writes nothing."""
    from audit.access import Scope
    from audit.precheck import web as w
    from models import User

    au = signed_in(app, "auditor_fj")
    assert "中没有数据行" in text(upload(au, ",".join(HEADER).encode() + b"\n"))
    pid = uploaded(au, april)
    user = db.session.scalars(select(User).where(User.username == "auditor_fj")).one()
    sc = Scope.of(user)
    stale = db.session.get(Precheck, pid)  # read as draft by the slower of the two
    with db.engine.begin() as conn:  # the other approval, committed meanwhile
        conn.execute(Precheck.__table__.update().where(Precheck.__table__.c.id == pid)
                     .values(status="approved", approved_by="auditor_bd", approved_verdicts=["pass"]))
    with pytest.raises(w.ApprovalError, match="已由他人审批"):
        w.approve(stale, sc, user=user, with_hold=True)
    db.session.rollback()
    pc = db.session.get(Precheck, pid)
    assert (pc.approved_by, pc.approved_verdicts) == ("auditor_bd", ["pass"])
    assert not db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.approve")).all()


def test_the_download_reads_as_a_sentence_in_the_log(app, april):
    au = signed_in(app, "auditor_fj")
    pid = uploaded(au, april)
    assert au.get(f"/prechecks/{pid}.xlsx").status_code == 200
    log = text(signed_in(app, "admin").get("/admin/log"))
    assert (f"下载发放前校验第 {pid} 号（工资发放表「白帝镇4月工资发放表.csv」）的 4 行为 XLSX 文件（证件号"
            "、账号已脱敏）"
            in log)
    assert (f"发放前校验工资发放表「白帝镇4月工资发放表.csv」（第 {pid} 号，校验日 {CHECK_DAY}）：共 4 行"
            in log)


def test_the_xlsx_runs_nothing_that_came_in_the_draft(app, april, tmp_path):
    """B5: an account name or batch typed as a formula is written with a leading apostrophe."""
    rows = draft_rows(april)
    rows[0][5], rows[0][6] = '=HYPERLINK("http://evil.example/","点击")', "@SUM(1+1)*cmd|' /C calc'!A0"
    au = signed_in(app, "auditor_fj")
    resp = upload(au, csv_bytes(rows), name="=cmd.csv")
    assert resp.status_code == 303, text(resp)[:2000]
    pid = int(re.search(r"/prechecks/(\d+)$", resp.headers["Location"]).group(1))
    path = tmp_path / "out.xlsx"
    path.write_bytes(au.get(f"/prechecks/{pid}.xlsx").data)
    cells = [c for row in load_workbook(path).active.iter_rows(values_only=True) for c in row
             if isinstance(c, str)]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], cells
    assert ("'=HYPERLINK(\"http://evil.example/\",\"点击\")" in cells
            and "'@SUM(1+1)*cmd|' /C calc'!A0" in cells)
