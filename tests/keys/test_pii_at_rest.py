"""No ID or bank account number is stored in clear anywhere: not in the ledger tables, and not in
what is written later — findings and their evidence, notices and answers, evidence files' names,
archived reports' metadata, import warnings, job records, the audit log — neither in the SQLite file
nor in a ``pg_dump``; the files the system keeps do not carry them in their names either, and the
archived PDFs show them masked."""
from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from audit.ledger.importer import import_bundle
from models import EvidenceFile, Finding, ImportBatch, NoticeFinding, NoticeResponse, db

from helpers import write_bundle
from web_helpers import login, post, token

pytestmark = pytest.mark.slow

PDF = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
       b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


def raw_database(database_url: str) -> bytes:
    """Every byte the database holds: the SQLite file with its -wal and -shm, or a pg_dump."""
    db.session.remove()
    db.engine.dispose()
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database)
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    url = make_url(database_url)
    return subprocess.run(["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username,
                           url.database],
                          check=True, capture_output=True).stdout


def bundle_identifiers(bundle: Path) -> set[str]:
    found = set()
    for f in bundle.glob("*.csv"):
        with open(f, encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                for key in ("id_number", "bank_account", "account_number"):
                    if row.get(key):
                        found.add(row[key])
    return found


def instance_leaks(instance: Path, secrets: set[str], skip: Path | None = None) -> list[str]:
    """Secrets in the names of the files the system keeps, or in the text of its PDFs."""
    leaks = []
    for f in instance.rglob("*"):
        if skip is not None and skip in f.parents:
            continue
        leaks += [f"{f.name}: name" for s in secrets if s in str(f.relative_to(instance))]
        if f.is_file() and f.suffix == ".pdf" and f.read_bytes()[:4] == b"%PDF":
            words = subprocess.run(["pdftotext", str(f), "-"], capture_output=True, text=True).stdout
            if "%%EOF" not in words:
                leaks += [f"{f.name}: text" for s in secrets if s in words.replace(" ", "")]
    return leaks


def test_the_demo_county_leaves_no_id_number_in_the_database_and_the_log_verifies(
        app, runner, database_url):
    out = runner.invoke("demo", "--persons", "300")
    assert out.exit_code == 0, out.output
    assert runner.invoke("run").exit_code == 0
    bundle = Path(app.instance_path) / "demo-bundle"
    secrets = bundle_identifiers(bundle)
    assert len(secrets) > 600  # persons, cadres, the dead, the insured…; bank accounts
    db.session.rollback()
    assert db.session.scalar(select(Finding).limit(1)) is not None

    raw = raw_database(database_url)
    assert sorted(s for s in secrets if s.encode() in raw) == []
    some_id = next(s for s in secrets if len(s) == 18)
    assert (some_id[:6] + "********" + some_id[-4:]).encode() in raw  # masked, for display
    assert instance_leaks(Path(app.instance_path), secrets, skip=bundle) == []
    verified = runner.invoke("verify-log")
    assert verified.exit_code == 0 and "日志链完整" in verified.output


def test_what_people_type_and_files_carry_is_stored_masked(web, app, runner, database_url, tmp_path):
    c = web.county
    secrets = set(web.ids.values()) | set(c.accounts.values())
    wang, zhao, liu = web.ids["王大山"], web.ids["赵二"], web.ids["刘一"]
    account = c.accounts[wang]

    # an auditor finds a person by the full number, sees the full numbers, dismisses a finding
    # with a reason that quotes an ID and an account number
    au = app.test_client()
    login(au, "auditor_fj")
    assert "王大山" in post(au, "/persons", {"q": wang}, follow_redirects=True).get_data(as_text=True)
    assert wang in post(au, f"/persons/{web.person_id['王大山']}/reveal").get_data(as_text=True)
    ws = app.test_client()
    login(ws, "auditor_ws")
    fid = web.finding("巫山县", "PS01").id
    r = post(ws, f"/findings/{fid}/review",
             {"action": "dismiss", "note": f"经核实 {liu} 已于当月离职，工资退回账户 {account}"})
    assert r.status_code == 303

    # a notice whose requirements name a person; the unit answers naming people, with an evidence
    # file named by an ID number; the auditor sends it back quoting one, then closes it
    ps01, ps02 = web.finding("奉节县", "PS01"), web.finding("奉节县", "PS02")
    r = post(au, "/notices/new", {
        "unit": "奉节县/白帝镇/白帝村村民委员会", "ids": [ps01.id, ps02.id], f"act-{ps01.id}": ["recover"],
        f"act-{ps02.id}": ["recover"], "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        "requirements": f"请核实 {wang} 的出勤并追回工资（账户 {account}）。"})
    assert r.status_code == 303
    nid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    op = app.test_client()
    login(op, "operator_bd")
    db.session.rollback()
    item_ids = list(db.session.scalars(select(NoticeFinding.id).where(NoticeFinding.notice_id == nid)))
    each = {f"a-{i}-action": "explained"
            for i in item_ids} | {f"a-{i}-text": f"{wang} 已清退，工资已退回" for i in item_ids}
    r = post(op, f"/notices/{nid}/answer", {
        "text": f"已清退 {wang}，追回工资 1200 元，原工资账户 {account} 已冻结。",
        "files": [(io.BytesIO(PDF), f"{wang}-清退决定.pdf")], **each}, content_type="multipart/form-data")
    assert r.status_code == 303
    assert post(au, f"/notices/{nid}/return", {"verdict": f"{wang} 的缴款凭证未附"}).status_code == 303
    assert post(op, f"/notices/{nid}/answer", {"text": f"补交 {wang} 的缴款凭证。",
                                               "files": [(io.BytesIO(PDF), "缴款凭证.pdf")], **each},
                content_type="multipart/form-data").status_code == 303
    for i in item_ids:  # 人工销号 with a reason naming the person
        assert (post(au, f"/notices/{nid}/items/{i}/override", {"reason": f"{wang} 已清退，准予销号"})
                .status_code == 303)
    # the notice's PDF and a district report are archived
    ins = app.test_client()
    login(ins, "inspector_fj")
    assert post(ins, f"/notices/{nid}/pdf").status_code == 303

    # an import from a folder named by an ID number, with a column headed by one (both warned about)
    person = dict(c.t["persons"][0])
    person[zhao] = "x"
    odd = write_bundle(tmp_path / f"补录-{zhao}", {"persons": [person]})
    result = import_bundle(odd, engine=db.engine, pii=app.extensions["pii"], actor="test")
    assert result.ok and any("无法识别" in w for w in result.warnings)

    # a ledger uploaded in the browser as a workbook named by an ID number, checked and committed
    person = dict(c.t["persons"][0], phone="13800000000")
    folder = write_bundle(tmp_path / "upload", {"persons": [person]})
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.write(folder / "persons.csv", "台账/persons.csv")
    r = au.post("/uploads/", content_type="multipart/form-data", data={
        "files": (io.BytesIO(data.getvalue()), f"{zhao}补录.zip"), "csrf_token": token(au, "/uploads/")})
    assert r.status_code == 303
    job = int(r.headers["Location"].rsplit("/", 1)[-1])
    assert "检查通过" in au.get(f"/uploads/{job}").get_data(as_text=True)
    assert post(au, f"/uploads/{job}/commit").status_code == 303
    db.session.rollback()
    source = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first().source
    assert source.startswith(zhao[:6]) and source.endswith("补录.zip") and zhao not in source

    # the scheduler's jobs run over all of it
    assert runner.invoke("scheduler", "--once", "nightly_audit").exit_code == 0

    # what was typed reads back masked where people see it
    db.session.rollback()
    answer = db.session.scalars(select(NoticeResponse).order_by(NoticeResponse.id)).first()
    assert f"{wang[:6]}********{wang[-4:]}" in answer.text and wang not in answer.text
    assert (db.session.scalar(select(EvidenceFile.name).order_by(EvidenceFile.id))
            .startswith(wang[:6] + "********"))
    assert (db.session.get(Finding, fid)
            .review_note.endswith(account[:4] + "*" * (len(account) - 8) + account[-4:]))
    batch = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert zhao not in batch.source and zhao not in " ".join(batch.warnings)
    page = op.get(f"/notices/{nid}").get_data(as_text=True)
    assert "已清退 " + wang[:6] + "********" in page and wang not in page

    raw = raw_database(database_url)
    assert sorted(s for s in secrets if s.encode() in raw) == []
    assert instance_leaks(Path(app.instance_path), secrets) == []
    assert runner.invoke("verify-log").exit_code == 0


def test_a_failed_statement_logs_its_sql_but_not_the_values_bound_to_it(app, people):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    idn = people.id("1966-06-06")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (name, value, updated_at) VALUES ('x', 'y',"
                          " CURRENT_TIMESTAMP)"))
    # (a value bound to the statement, as a search for a person would bind an ID number)
    with pytest.raises(IntegrityError) as failed, db.engine.begin() as conn:
        conn.execute(text("UPDATE settings SET value = NULL WHERE name = 'x' AND CAST(:n AS TEXT) <> ''"),
                     {"n": idn})
    message = str(failed.value)
    assert "UPDATE settings" in message and "parameters hidden" in message and idn not in message


def test_codes_with_long_digit_runs_are_kept_while_numbers_in_text_are_masked(app, people):
    from audit.uploads.services import stored_of
    from models import Job

    token = "ab" + "123456789012345678" + "cdef" * 3  # a hex token with a run of digits in it
    job = Job(kind="upload.check", status="done", created_at=dt.datetime.now(),
              params={"token": token, "bundle": "台账.zip", "files": ["台账.zip"], "bytes": 1},
              message="身份证500236199001011234，账号6228480012345678901。")
    db.session.add(job)
    db.session.commit()
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert stored_of(job).token == token  # the upload is still found
    assert job.message == "身份证500236********1234，账号6228***********8901。"
