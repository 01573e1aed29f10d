"""Ledger upload in the browser: dry run with preview, every error by row, the commit, background
jobs with progress, the scope check, who may do it, template downloads."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from models import ChangeLog, ImportBatch, Job, Person, Position, Post, User, db

from helpers import base_tables, count, write_bundle
from web_helpers import login, post, token, wait_upload, zip_folder


def zipped(tables: dict, folder: Path) -> bytes:
    return zip_folder(write_bundle(folder, tables))


def upload(client, data: bytes, name: str = "bundle.zip"):
    return client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": (io.BytesIO(data), name), "csrf_token": token(client, "/uploads/")})


def job_of(resp) -> int:
    assert resp.status_code == 303, resp.status_code
    m = re.search(r"/uploads/(\d+)$", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return int(m.group(1))


def page(client, job_id: int, **query) -> str:
    resp = client.get(f"/uploads/{job_id}", query_string=query)
    if resp.status_code == 303:  # a commit's page is its check's page
        resp = client.get(resp.headers["Location"])
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def error_rows(html: str) -> list[tuple[str, str, str, str, str]]:
    """The rows of the errors table as the user reads them: (table, row, column, value, reason); the
    last column, the file or sheet, is left out (``error_origins``)."""
    m = re.search(r'<table class="[^"]*errors-table">(.*?)</table>', html, re.S)
    if not m:
        return []
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        out.append(tuple(cells[:5]))
    return out




def persons() -> int:
    db.session.rollback()
    return count(Person)


def test_a_valid_bundle_is_previewed_then_committed(client, web, people, tmp_path):
    login(client, "auditor_fj")
    before = persons()
    job = job_of(upload(client, zipped(base_tables(people), tmp_path / "台账")))
    html = page(client, job)
    assert "检查通过" in html and "确认导入" in html
    assert re.search(r"人员信息 <span[^>]*>persons</span></td>\s*<td class=\"num\">3</td>"
                     r"<td class=\"num\">3</td>", html)  # 3 rows, 3 to add
    assert "将新增" in html and "将更新" in html
    assert persons() == before  # the dry run wrote nothing
    assert count(ImportBatch) == 1  # the fixture's own

    resp = post(client, f"/uploads/{job}/commit")
    assert resp.status_code == 303
    html = page(client, job)
    batch = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert f"导入完成（批次 #{batch.id}）" in html
    assert f"/imports/{batch.id}" in html
    assert "立即运行审计" in html
    assert persons() == before + 3
    assert batch.actor == "auditor_fj"
    actions = set(db.session.scalars(select(ChangeLog.action).where(ChangeLog.actor == "auditor_fj")))
    assert {"upload.check", "upload.commit"} <= actions

    # committing twice is refused
    post(client, f"/uploads/{job}/commit")
    assert "不能重复导入" in page(client, job)
    db.session.rollback()
    assert count(ImportBatch) == 2

    # the audit after it runs in the background and leads to the findings
    resp = post(client, "/uploads/run-audit", {"after": str(job)})
    audit_job = job_of(resp)
    assert wait_upload(client, audit_job)["status"] == "done"
    html = page(client, audit_job)
    assert "审计完成" in html and 'href="/findings/"' in html


def test_a_bad_id_number_is_shown_by_row_and_nothing_is_written(app, client, web, people, tmp_path):
    login(client, "auditor_fj")
    tables = base_tables(people)
    idn = tables["persons"][1]["id_number"]
    # row 3: a wrong check digit
    tables["persons"][1]["id_number"] = idn[:-1] + ("0" if idn[-1] != "0" else "1")
    before = persons()
    job = job_of(upload(client, zipped(tables, tmp_path / "bad")))
    html = page(client, job)
    assert "导入被拒绝：共有" in html and "数据库未做任何更改" in html
    bad = tables["persons"][1]["id_number"]
    shown = bad[:6] + "********" + bad[-4:]  # the refused value is shown masked, like every ID number
    assert any(r[:4] == ("人员信息", "3", "身份证号", shown) and r[4].startswith("身份证号校验码错误")
               for r in error_rows(html)), error_rows(html)
    assert bad not in html
    assert "确认导入" not in html
    assert persons() == before
    # a refused upload is not kept: its ID numbers do not stay on disk in clear
    assert not list((Path(app.instance_path) / "uploads").glob("*/*.zip"))

    # every error is in the CSV download too
    resp = client.get(f"/uploads/{job}/errors.csv")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["表", "文件或工作表", "行号", "列", "值", "原因"]
    assert ["persons", "bad/persons.csv", "3", "身份证号", shown] == rows[1][:5]
    # nothing the upload left on the server holds an ID number of the bundle in clear
    ids = [r["id_number"] for r in tables["persons"]]
    for f in (Path(app.instance_path) / "uploads").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not any(i.encode() in data for i in ids), f

    # and the commit is refused
    post(client, f"/uploads/{job}/commit")
    assert "此次上传未通过检查，不能导入" in page(client, job)
    assert persons() == before


def test_a_large_upload_is_checked_and_loaded_in_the_background(app, client, web, people, tmp_path,
                                                                 monkeypatch):
    from audit.uploads import services

    app.config["UPLOAD_BACKGROUND_BYTES"] = 1
    gate, real = threading.Event(), services.import_bundle

    def held(*a, **kw):  # the check waits until the test has seen it running
        gate.wait(60)
        return real(*a, **kw)

    monkeypatch.setattr(services, "import_bundle", held)
    try:
        login(client, "auditor_fj")
        job = job_of(upload(client, zipped(base_tables(people), tmp_path / "big")))
        html = page(client, job)
        assert f'data-job-url="/uploads/{job}.json"' in html and '<div class="progress"' in html
        deadline = time.monotonic() + 40  # generous: a loaded CI machine starts threads late
        while "正在逐行检查台账" not in (state := client.get(f"/uploads/{job}.json").get_json())["message"]:
            assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.05)
        assert state["status"] == "running" and state["progress"] == 30
    finally:
        gate.set()
    state = wait_upload(client, job)
    assert state["status"] == "done" and state["progress"] == 100
    assert "检查通过" in page(client, job)

    before = persons()
    post(client, f"/uploads/{job}/commit")
    db.session.rollback()
    commit = db.session.scalars(select(Job).where(Job.kind == "upload.commit")).one()
    assert wait_upload(client, commit.id)["status"] == "done"
    assert "导入完成（批次 #" in page(client, job)
    assert persons() == before + 3


def test_a_job_left_running_by_a_dead_process_is_shown_as_failed(client, web):
    login(client, "auditor_fj")
    uid = db.session.scalar(select(User.id).where(User.username == "auditor_fj"))
    now = dt.datetime.now()
    ids = []
    for age in (dt.timedelta(hours=2), dt.timedelta(minutes=10)):
        job = Job(kind="upload.check", status="running", owner_id=uid, created_at=now - age,
                  started_at=now - age, progress=40, message="正在逐行检查台账…",
                  params={"runner": {"host": "elsewhere", "pid": 1}})
        db.session.add(job)
        db.session.commit()
        ids.append(job.id)
    old, recent = (client.get(f"/uploads/{i}.json").get_json() for i in ids)
    assert old["status"] == "failed" and "任务已中断" in old["message"]
    assert recent == {"status": "running", "progress": 40, "message": "正在逐行检查台账…"}
    assert "检查未能完成：任务已中断" in page(client, ids[0])


def test_rows_outside_the_auditors_regions_are_refused(client, web, people, tmp_path):
    login(client, "auditor_ws")  # 巫山县
    before = persons()
    job = job_of(upload(client, zipped(base_tables(people), tmp_path / "fj")))
    html = page(client, job)
    assert "导入被拒绝" in html and "确认导入" not in html
    rows = error_rows(html)
    assert ("人员信息", "2", "区县", "奉节县",
            "不在您的管辖范围内（奉节县白帝镇白帝村；您的管辖范围：巫山县）") in rows
    assert ("安置台账", "2", "岗位编号", "GW-001",
            "不在您的管辖范围内（公益性岗位 GW-001 属于奉节县白帝镇白帝村；您的管辖范围：巫山县）") in rows
    assert ("考勤记录", "5", "岗位或车间编号", "CJ-01",
            "不在您的管辖范围内（就业帮扶车间 CJ-01 属于奉节县白帝镇；您的管辖范围：巫山县）") in rows
    # the comparison lists are whole departments' lists: no scope error for them
    assert not [r for r in rows if r[0] in ("死亡人员", "干部名单")]
    assert persons() == before

    # a post already in the database, of another district
    liu = web.ids["刘一"]
    rows = [{"id_number": liu, "post_code": "GW-A1", "work_date": "2025-04-01", "status": "出勤"},
            {"id_number": liu, "post_code": "GW-B1", "work_date": "2025-04-01", "status": "出勤"}]
    write_bundle(tmp_path / "att", {"attendance": rows})
    job = job_of(upload(client, (tmp_path / "att" / "attendance.csv").read_bytes(), "考勤记录.csv"))
    html = page(client, job)
    assert "共有 1 处错误" in html
    assert error_rows(html) == [("考勤记录", "2", "岗位或车间编号", "GW-A1",
                                 "不在您的管辖范围内（公益性岗位 GW-A1 属于其他地区；您的管辖范围：巫山县）")]

    # a scope narrowed to a township names the township
    client.post("/logout", data={"csrf_token": token(client, "/uploads/")})
    login(client, "auditor_bd")  # 奉节县/白帝镇
    job = job_of(upload(client, zipped(base_tables(people), tmp_path / "bd")))
    html = page(client, job)
    rows = error_rows(html)
    assert ("人员信息", "4", "乡镇街道", "永安街道",
            "不在您的管辖范围内（奉节县永安街道桂井社区；您的管辖范围：奉节县白帝镇）") in rows
    assert not [r for r in rows if r[0] == "人员信息" and r[1] != "4"]


def test_only_auditors_may_upload(client, web, people, tmp_path):
    data = zipped(base_tables(people), tmp_path / "x")
    for name in ("inspector_fj", "operator_bd"):
        login(client, name)
        assert client.get("/uploads/").status_code == 403
        assert client.get("/uploads/templates.zip").status_code == 403
        resp = client.post("/uploads/", data={"files": (io.BytesIO(data), "bundle.zip"),
                                              "csrf_token": token(client, "/findings/")},
                           content_type="multipart/form-data")
        assert resp.status_code == 403
        client.post("/logout", data={"csrf_token": token(client, "/findings/")})


def test_another_auditors_job_is_not_found(client, web, people, tmp_path):
    login(client, "auditor_fj")
    job = job_of(upload(client, zipped(base_tables(people), tmp_path / "mine")))
    client.post("/logout", data={"csrf_token": token(client, "/uploads/")})
    login(client, "auditor_ws")
    assert client.get(f"/uploads/{job}").status_code == 404
    assert client.get(f"/uploads/{job}.json").status_code == 404
    assert client.get(f"/uploads/{job}/errors.csv").status_code == 404
    assert post(client, f"/uploads/{job}/commit").status_code == 404


def test_the_index_lists_uploads_and_the_templates_download(client, web, people, tmp_path):
    login(client, "auditor_fj")
    job_of(upload(client, zipped(base_tables(people), tmp_path / "l")))
    html = client.get("/uploads/").get_data(as_text=True)
    assert "最近上传" in html and "检查通过，待确认导入" in html and "bundle.zip" in html
    assert "比对数据" in html  # the help text says comparison lists are taken from any auditor

    resp = client.get("/uploads/templates.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert any(n.endswith("台账模板.xlsx") for n in names) and any(n.endswith("persons.csv") for n in names)

    resp = client.get("/uploads/templates/" + quote("台账模板.xlsx"))
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    assert resp.data[:2] == b"PK"


def change_rows(html: str) -> list[tuple[str, str, str, str]]:
    """The preview's changed fields as the user reads them: (record, field, old, new); a record's
    further fields repeat its name."""
    out, record = [], ""
    for table in re.findall(r'<table class="[^"]*changes-table">(.*?)</table>', html, re.S):
        for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            if len(cells) == 4:
                record = cells[0]
            out.append((record, *cells[-3:]))
    return out


def test_the_preview_says_which_fields_change_old_and_new(client, web, people, tmp_path):
    from audit.pii import mask_account, mask_id

    login(client, "auditor_fj")
    tables = base_tables(people)
    first = job_of(upload(client, zipped(tables, tmp_path / "v1")))
    post(client, f"/uploads/{first}/commit")
    assert "导入完成" in page(client, first)

    tables["positions"][1]["monthly_wage"] = "950.00"  # GW-002 护林员: 900 -> 950 yuan a month
    tables["persons"][1]["bank_account"] = "6228480000000000099"  # 李小花's account
    job = job_of(upload(client, zipped(tables, tmp_path / "v2")))
    html = page(client, job)
    assert "检查通过" in html and "将更新的内容" in html
    rows = change_rows(html)
    assert ("GW-002 护林员", "月补贴标准", "900.00 元", "950.00 元") in rows
    li = tables["persons"][1]
    assert (f"李小花（{mask_id(li['id_number'])}）", "银行账号", mask_account("6228480000000000022"),
            mask_account("6228480000000000099")) in rows
    assert len(rows) == 2  # the unchanged rows are not listed
    assert (li["id_number"] not in html and "6228480000000000099" not in html
            and "6228480000000000022" not in html)
    db.session.rollback()  # the dry run wrote nothing
    assert db.session.scalar(select(Position.monthly_wage_fen).join(Post, Post.id == Position.id)
                             .where(Post.code == "GW-002")) == 90000


def test_an_untouched_template_is_refused_by_row_and_changes_nothing(client, web):
    login(client, "auditor_fj")
    data = client.get("/uploads/templates/" + quote("台账模板.xlsx")).data
    before = persons()
    job = job_of(upload(client, data, "台账模板.xlsx"))
    html = page(client, job)
    assert "导入被拒绝" in html and "确认导入" not in html
    rows = error_rows(html)
    assert ("公益性岗位", "2", "岗位编号", "示例-GW500236-0001",
            "第 2 行是模板示例行，请删除后再导入（模板中的示例行只用于说明填法，其编号、姓名以「示例」开头，"
            "身份证号以 000000 开头）") in rows
    assert {r[0] for r in rows} >= {"人员信息", "公益性岗位", "安置台账", "死亡人员"}
    assert all("是模板示例行" in r[4] for r in rows)
    assert persons() == before


def test_unusable_files_are_refused_with_a_message(client, web):
    login(client, "auditor_fj")
    resp = upload(client, b"hello", "notes.txt")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/uploads/")
    assert "不支持的文件类型：notes.txt" in client.get("/uploads/").get_data(as_text=True)
    resp = upload(client, b"a,b\n", "未知.csv")
    assert "无法从文件名 未知.csv 看出是哪张表" in client.get("/uploads/").get_data(as_text=True)


def test_table_files_may_be_uploaded_together_under_chinese_names(client, web, people, tmp_path):
    login(client, "auditor_fj")
    folder = write_bundle(tmp_path / "files", base_tables(people))
    zh = {"persons": "人员信息", "positions": "公益性岗位", "placements": "安置台账"}
    # a path in the client's file name is dropped; the table is known by its English or Chinese name
    files = [(io.BytesIO(f.read_bytes()), "../台账/" + zh.get(f.stem, f.stem) + ".csv")
             for f in sorted(folder.iterdir())]
    resp = client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": files, "csrf_token": token(client, "/uploads/")})
    html = page(client, job_of(resp))
    assert "检查通过" in html and "人员信息.csv" in html
    assert re.search(r"安置台账 <span[^>]*>placements</span></td>\s*<td class=\"num\">2</td>", html)

    # the same table twice is refused before anything is checked
    twice = [(io.BytesIO(b"id_number\n"), "persons.csv"), (io.BytesIO(b"id_number\n"), "人员信息.csv")]
    resp = client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": twice, "csrf_token": token(client, "/uploads/")})
    assert resp.headers["Location"].endswith("/uploads/")
    assert "上传了两次（persons.csv 和 人员信息.csv）" in client.get("/uploads/").get_data(as_text=True)


def test_a_check_that_fails_inside_says_so_in_chinese_and_keeps_the_raw_error_for_the_log(
        app, client, web, people, tmp_path, monkeypatch, caplog):
    from audit.uploads import services

    app.config["UPLOAD_BACKGROUND_BYTES"] = 1

    def broken(*a, **kw):
        raise KeyError("internal detail of a bug")

    monkeypatch.setattr(services, "import_bundle", broken)
    login(client, "auditor_fj")
    job = job_of(upload(client, zipped(base_tables(people), tmp_path / "big")))
    state = wait_upload(client, job)
    assert state["status"] == "failed"
    html = page(client, job)
    assert "处理失败：系统内部错误，详情已记入服务器日志" in html and "internal detail" not in html
    assert "internal detail of a bug" in caplog.text
