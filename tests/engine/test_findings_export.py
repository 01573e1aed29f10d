"""``audit findings``: JSON Lines exactly per findings-format.md; CSV and XLSX for people, masked and
safe from formula injection; every export logged."""
from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from sqlalchemy import select

from audit.engine.export import safe_cell
from models import ChangeLog, db

from helpers import County

FIELDS = {"id", "rule", "category", "severity", "subject_type", "subject", "persons", "post_code", "periods",
          "amount_at_risk", "title", "evidence", "basis", "status"}


@pytest.fixture
def audited(app, people, tmp_path):
    """A county with a phantom salary (PS01) whose account name starts with '='."""
    c = County(people)
    c.position("GW-1", wage="800.00")
    a = c.person("=HYPERLINK(\"x\")王大山")
    c.place(a, "GW-1", "2025-01-01")
    c.work(a, "GW-1", "2025-03", present=0, other="缺勤")
    c.pay(a, "GW-1", "2025-03")
    c.month(a, "GW-1", "2025-04")
    c.audit(app, tmp_path, as_of="2025-06-30")
    return a


def test_jsonl_has_every_field_of_the_contract_with_full_identifiers(app, runner, audited):
    out = runner.invoke("findings")
    assert out.exit_code == 0, out.output
    [line] = [x for x in out.output.splitlines() if x.strip()]
    rec = json.loads(line)
    assert set(rec) >= FIELDS
    assert (rec["rule"], rec["category"], rec["severity"], rec["subject_type"]) == (
        "PS01", "phantom_salary", "high", "person")
    assert rec["subject"] == audited and rec["persons"] == [audited]  # full ID: authorised machine use
    assert rec["post_code"] == "GW-1" and rec["periods"] == ["2025-03"] and rec["amount_at_risk"] == "800.00"
    assert rec["status"] == "open" and rec["evidence"]["days_present"] == 0
    assert len(rec["id"]) == 32
    db.session.rollback()  # see what the command committed
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "findings.export")).one()
    assert log.new["format"] == "jsonl" and log.new["findings"] == 1 and log.new["full_identifiers"] is True


def test_csv_for_people_is_chinese_masked_and_formula_safe(app, runner, audited, tmp_path):
    path = tmp_path / "f.csv"
    out = runner.invoke("findings", "--format", "csv", "--output", str(path))
    assert out.exit_code == 0, out.output
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:6] == ["编号", "规则", "类别", "严重程度", "对象类型", "对象"]
    row = dict(zip(rows[0], rows[1], strict=False))
    assert row["对象"] == audited[:6] + "********" + audited[-4:]
    assert audited not in text  # no full ID anywhere in a file for people
    assert row["类别"] == "吃空饷 / 虚报冒领" and row["涉及金额(元)"] == "800.00" and row["状态"] == "待复核"


def test_xlsx_export_masks_and_keeps_text_as_text(app, runner, audited, tmp_path):
    path = tmp_path / "f.xlsx"
    out = runner.invoke("findings", "--format", "xlsx", "--output", str(path))
    assert out.exit_code == 0, out.output
    ws = openpyxl.load_workbook(path).active
    head = [c.value for c in ws[1]]
    row = dict(zip(head, [c.value for c in ws[2]], strict=False))
    assert row["规则"] == "PS01" and row["岗位或车间"] == "GW-1" and row["所属月份"] == "2025-03"
    assert row["对象"].startswith(audited[:6]) and "*" in row["对象"]
    assert all(ws.cell(2, i).data_type == "s" for i in range(1, len(head) + 1))


def test_category_filter_and_bad_arguments(app, runner, audited, tmp_path):
    assert runner.invoke("findings", "--category", "favouritism").output.strip() == ""
    bad = runner.invoke("findings", "--category", "nonsense")
    assert bad.exit_code != 0 and "未知类别 nonsense" in bad.output
    no_file = runner.invoke("findings", "--format", "xlsx")
    assert no_file.exit_code != 0 and "xlsx 格式需要用 --output 指定文件" in no_file.output


@pytest.mark.parametrize("text, shown", [
    ("=SUM(A1)",
     "'=SUM(A1)"), ("+1", "'+1"), ("-1", "'-1"), ("@cmd", "'@cmd"), ("王大山", "王大山"), (None, "")])
def test_cells_that_would_be_formulas_are_escaped(text, shown):
    assert safe_cell(text) == shown
