"""The findings export (shared/docs/findings-format.md).

JSON Lines carry full identifiers (authorised machine use: ID numbers are decrypted); CSV and
XLSX are for people: Chinese headers, ID and account numbers masked, cells that a spreadsheet
would take for a formula escaped. Every export is recorded in the change log."""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import IO

from sqlalchemy import Connection, select

from audit.logchain import append
from audit.money import yuan
from audit.pii import PiiCodec
from models import Finding, Person, Post, unit_display

from .rule import CATEGORIES, SEVERITIES

FORMATS = ("jsonl", "csv", "xlsx")
HEADERS = [("id", "编号"), ("rule", "规则"), ("category", "类别"), ("severity", "严重程度"),
           ("subject_type", "对象类型"), ("subject", "对象"), ("persons", "涉及人员"),
           ("post_code", "岗位或车间"), ("periods", "所属月份"), ("amount_at_risk", "涉及金额(元)"),
           ("title", "问题"), ("explanation", "说明"), ("basis", "依据"), ("status", "状态"),
           ("unit", "责任单位"), ("district", "区县"), ("township", "乡镇街道")]
SUBJECT_TYPES = {"person": "人员", "workshop": "车间", "position": "岗位", "household": "家庭户",
                 "device": "签到设备", "account": "收款账户"}


def finding_records(conn: Connection, pii: PiiCodec | None, category: str | None, where=(), reader=None,
                    table=None) -> Iterator[dict]:
    """The current findings in rule order; with ``pii`` the ID numbers in clear, else masked.
    ``reader`` (a web export): ``(finding row) -> (ids of the people the reader may see, the
    explanation as the reader may read it)``: nobody outside the reader's scope is named.
    ``table``: other findings with the columns of ``findings`` (a replay's), ``where`` on its columns."""
    f, p, posts = Finding.__table__ if table is None else table, Person.__table__, Post.__table__
    codes: dict[int, str] = {r.id: r.code for r in conn.execute(select(posts.c.id, posts.c.code))}
    people: dict[int, str] = {}

    def person(pid: int) -> str:
        if pid not in people:
            row = conn.execute(select(p.c.id_enc, p.c.id_masked).where(p.c.id == pid)).one()
            people[pid] = pii.decrypt(row.id_enc) if pii else row.id_masked
        return people[pid]

    q = select(f).order_by(f.c.rule, f.c.period_start, f.c.id)
    if category:
        q = q.where(f.c.category == category)
    q = q.where(*where)
    for r in conn.execute(q).mappings():
        named = r["subject_type"] == "person" and r["person_id"]
        subject = person(r["person_id"]) if named else r["subject_label"]
        ids, explanation = list(r["person_ids"]), r["explanation"]
        if reader is not None:
            seen, explanation = reader(r)
            ids = [i for i in ids if i in seen]
        yield {
            "id": r["id"], "rule": r["rule"], "category": r["category"], "severity": r["severity"],
            "subject_type": r["subject_type"], "subject": subject,
            "persons": [person(i) for i in ids], "post_code": codes.get(r["post_id"]),
            "periods": r["periods"],
            "amount_at_risk": yuan(r["amount_at_risk_fen"], grouping=False, none=None),
            "_amount_fen": r["amount_at_risk_fen"],
            "title": r["title"], "evidence": r["evidence"], "basis": r["basis"], "status": r["status"],
            "explanation": explanation, "unit": unit_display(r["unit"]), "district": r["district"],
            "township": r["township"],
        }


def write_jsonl(conn: Connection, out: IO[str], pii: PiiCodec, category: str | None = None, where=()) -> int:
    n = 0
    for rec in finding_records(conn, pii, category, where):
        rec.pop("_amount_fen")
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n


def text_row(rec: dict) -> list[str]:
    """A finding as a row of text for people (masked identifiers, Chinese labels)."""
    from models import FINDING_STATUSES

    shown = {
        **rec,
        "category": CATEGORIES.get(rec["category"], rec["category"]),
        "severity": SEVERITIES.get(rec["severity"], rec["severity"]),
        "subject_type": SUBJECT_TYPES.get(rec["subject_type"], rec["subject_type"]),
        "persons": "、".join(rec["persons"]),
        "periods": "、".join(rec["periods"]),
        "amount_at_risk": yuan(rec["_amount_fen"], none=""),
        "status": FINDING_STATUSES.get(rec["status"], rec["status"]),
    }
    return [safe_cell(shown.get(key)) for key, _ in HEADERS]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """Text a spreadsheet will not run: a leading = + - @ (or tab, CR) gets a leading apostrophe."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in FORMULA_START else text


def cell_text(value: str) -> str:
    """A cell written by ``safe_cell`` read back as it was (for a page that shows the file's rows)."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START and value[1:2] else value


def write_csv(conn: Connection, out: IO[str], category: str | None = None, where=(), reader=None) -> int:
    return csv_rows(out, map(text_row, finding_records(conn, None, category, where, reader)))


def write_xlsx(conn: Connection, path: str, category: str | None = None, where=(), reader=None) -> int:
    return xlsx_rows(path, map(text_row, finding_records(conn, None, category, where, reader)))


def csv_rows(out: IO[str], rows: Iterable[list[str]], headers: list[str] | None = None) -> int:
    """Rows of text for people (``text_row``) under the Chinese headers, as CSV; how many."""
    w = csv.writer(out)
    w.writerow(headers or [zh for _, zh in HEADERS])
    n = 0
    for row in rows:
        w.writerow(row)
        n += 1
    return n


def xlsx_rows(path: str, rows: Iterable[list[str]], headers: list[str] | None = None, *,
              sheet: str = "审计发现", notes: list[list[str]] | None = None) -> int:
    """Rows of text for people (``text_row``) under the Chinese headers, as a workbook of one sheet
    (and, with ``notes``, a second sheet 说明 of those lines); how many rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.freeze_panes = "A2"
    for i, width in enumerate([34, 6, 22, 8, 8, 22, 30, 16, 16, 14, 28, 60, 40, 10, 24, 10, 12], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    head = []
    for zh in headers or [zh for _, zh in HEADERS]:
        c = WriteOnlyCell(ws, value=zh)
        c.font = Font(bold=True)
        head.append(c)
    ws.append(head)
    n = 0
    for row in rows:
        ws.append(row)  # strings only: nothing is evaluated as a formula
        n += 1
    if notes:
        about = wb.create_sheet("说明")
        about.column_dimensions["A"].width = 40
        about.column_dimensions["B"].width = 16
        about.column_dimensions["C"].width = 18
        for line in notes:
            about.append([safe_cell(v) for v in line])
    wb.save(path)
    return n


def export(conn: Connection, fmt: str, *, pii: PiiCodec, actor: str, output: str | None,
           stream: IO[str] | None = None, category: str | None = None, district: str | None = None,
           months: list[str] | None = None, where: list | None = None, reader=None) -> int:
    """Write the export and log who exported what. ``district`` and ``months`` narrow it to a region
    and a report period, exactly as the 审计报告 counts them (``audit.engine.report_periods``)."""
    from audit.engine.report_periods import in_period, in_region

    if where is None:  # the command line: a region and a report period
        where = [in_region(district)] + ([in_period(months)] if months else [])
    if fmt == "xlsx":
        if not output:
            raise ValueError("xlsx 格式需要用 --output 指定文件")
        n = write_xlsx(conn, output, category, where, reader)
    else:
        def write(target: IO[str]) -> int:
            return (write_jsonl(conn, target, pii, category, where) if fmt == "jsonl"
                    else write_csv(conn, target, category, where, reader))

        if output:  # a file named by ``output`` is closed when written; the caller's stream stays open
            with open(output, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as target:
                n = write(target)
        elif stream is not None:
            n = write(stream)
        else:
            raise ValueError("export needs an output file or a stream")
    append(conn, [{
        "at": dt.datetime.now(), "actor": actor, "action": "findings.export", "table_name": "findings",
        "row_ref": f"{fmt}{' · ' + category if category else ''}",
        "new": {"format": fmt, "category": category, "district": district,
                "period": f"{months[0]}:{months[-1]}" if months else None, "findings": n,
                "full_identifiers": fmt == "jsonl",
                "output": output.rsplit("/", 1)[-1] if output else "stdout"}}])
    return n

