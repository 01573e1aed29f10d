"""P5 (issue 13): the instance folder is 0700 and every file the system writes is 0600 — the
full-ID JSONL export, the CSV and XLSX exports, the import errors CSV, stored uploads — whatever
the umask of the shell that started it (here 022, the usual one)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from audit import create_app

from helpers import base_tables, write_bundle
from web_helpers import login, upload_zip, zip_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask(app):
    """The process as a shell with umask 022 starts it: the application factory runs again."""
    old = os.umask(0o022)
    again = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": app.config["SECRET_KEY"], "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                        "INSTANCE_PATH": app.instance_path, "TESTING": True})
    yield again
    os.umask(old)


def test_the_instance_folder_is_the_owners_only(app, tmp_path):
    folder = tmp_path / "made-by-hand"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    old = os.umask(0o022)
    try:
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x",
                    "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"], "INSTANCE_PATH": str(folder),
                    "TESTING": True})
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert mode(Path(app.instance_path)) == 0o700


def test_exports_and_the_errors_csv_are_the_owners_only(web, runner, people, loose_umask, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("jsonl", "csv", "xlsx"):
        target = out / f"findings.{fmt}"
        result = runner.invoke("findings", "--format", fmt, "--output", str(target))
        assert result.exit_code == 0, result.output
        assert target.stat().st_size > 0
        assert mode(target) == 0o600, (fmt, oct(mode(target)))

    tables = base_tables(people)
    tables["persons"][0]["categories"] = "不是类别"
    errors = out / "errors.csv"
    errors.write_text("")
    os.chmod(errors, 0o644)  # there already, readable by all: it is narrowed too
    result = runner.invoke("import", str(write_bundle(tmp_path / "bad", tables)), "--errors-csv", str(errors))
    assert result.exit_code == 1 and "不是类别" in errors.read_text(encoding="utf-8-sig")
    assert mode(errors) == 0o600


def test_uploads_kept_on_the_server_are_the_owners_only(app, web, client, people, loose_umask, tmp_path):
    login(client, "auditor_fj")
    tables = base_tables(people)
    tables["persons"][0]["categories"] = "不是类别"  # refused: its errors file stays
    folder = tmp_path / "bad"
    write_bundle(folder, tables)
    data = zip_folder(folder)
    job = upload_zip(client, data, "bundle.zip")
    from audit.uploads import jobs

    jobs.wait(job)
    written = [p for p in (Path(app.instance_path) / "uploads").rglob("*")]
    assert any(p.is_file() for p in written), written
    for p in written:
        assert mode(p) == (0o700 if p.is_dir() else 0o600), (p, oct(mode(p)))
