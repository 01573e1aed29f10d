"""B12: a real-size bundle uploaded on the web is checked and loaded in the background on the default
database (SQLite): the job's progress never collides with the import's write transaction, and a
database error during a job ends it with a Chinese message, never the raw exception text."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from models import Job, Person, db

from web_helpers import login, post, upload_zip, wait_upload

AUDITOR = "b12_auditor"
PASSWORD = "correct-horse-42"


@pytest.fixture
def auditor(app, quick_hashes):
    from audit.auth.services import create_user

    create_user(AUDITOR, "auditor", PASSWORD, regions=["奉节县"], by="test")  # the demo county's
    db.session.commit()


def demo_zip(folder: Path, persons: int) -> bytes:
    from audit.demo.generator import generate_bundle

    generate_bundle(folder / "demo-bundle", persons=persons)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((folder / "demo-bundle").iterdir()):
            zf.write(f, f"demo-bundle/{f.name}")
    return buf.getvalue()


def rows_in(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1






def test_a_demo_bundle_uploaded_in_the_background_is_checked_and_loaded(app, client, auditor, tmp_path):
    data = demo_zip(tmp_path, persons=300)  # 50,000 attendance rows: the importer reports progress
    app.config["UPLOAD_BACKGROUND_BYTES"] = 256 << 10
    assert len(data) > app.config["UPLOAD_BACKGROUND_BYTES"]  # the background path, as a real upload
    login(client, AUDITOR, PASSWORD)

    check = upload_zip(client, data)
    state = wait_upload(client, check)
    assert state["status"] == "done", state
    assert "检查通过" in client.get(f"/uploads/{check}").get_data(as_text=True)

    post(client, f"/uploads/{check}/commit")
    db.session.rollback()
    commit = db.session.scalar(select(Job.id).where(Job.kind == "upload.commit"))
    state = wait_upload(client, commit)
    assert state["status"] == "done", state
    html = client.get(f"/uploads/{check}").get_data(as_text=True)
    assert "导入完成（批次 #" in html
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Person)) >= rows_in(
        tmp_path / "demo-bundle" / "persons.csv")


def test_a_database_error_in_a_job_is_told_in_chinese(app, client, auditor, tmp_path, monkeypatch):
    from audit.uploads import services

    def broken(*a, **kw):
        raise OperationalError("INSERT INTO stage_persons (id_number) VALUES (?)", {},
                               Exception("disk I/O error: secret detail"))

    monkeypatch.setattr(services, "import_bundle", broken)
    app.config["UPLOAD_BACKGROUND_BYTES"] = 1
    login(client, AUDITOR, PASSWORD)
    check = upload_zip(client, demo_zip(tmp_path, persons=20))
    state = wait_upload(client, check)
    assert state["status"] == "failed"
    html = client.get(f"/uploads/{check}").get_data(as_text=True)
    for text in (state["message"], html):
        assert "数据库出错" in text
        assert "disk I/O" not in text and "INSERT" not in text and "secret detail" not in text
