"""The pre-check's outputs (shared/docs/precheck.md, "Output"): JSON Lines with full identifiers for
machine use, one object per draft row; an XLSX for people, identifiers masked, the verdict cell
coloured (green 可发放, amber 暂缓发放, red 不予发放)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from audit.engine.rule import ym
from audit.money import yuan
from audit.pii import mask_account, mask_id, mask_identifiers

from . import verdicts as V
from .services import CheckResult

FILLS = {V.PASS: "C6EFCE", V.HOLD: "FFEB9C", V.REJECT: "FFC7CE"}
HEADERS = ("行号", "身份证号", "岗位或车间编号", "所属月份", "发放金额", "收款账号", "收款户名", "发放批次",
           "校验结果", "可发放金额", "触发规则", "原因")


def jsonl(result: CheckResult) -> Iterator[str]:
    for r in result.rows:
        d = r.draft
        yield json.dumps({
            "row": d.row, "id_number": d.id_number, "post_code": d.post_code, "period": ym(d.period),
            "amount": yuan(d.amount_fen, grouping=False), "verdict": r.verdict,
            "allowed": yuan(r.allowed_fen, grouping=False), "rules": r.rules, "reasons": r.reasons,
        }, ensure_ascii=False)


def write_jsonl(result: CheckResult, out: IO[str]) -> None:
    for line in jsonl(result):
        out.write(line + "\n")


def write_xlsx(result: CheckResult, path) -> None:
    lines = [(d.row, mask_id(d.id_number), d.post_code, ym(d.period), d.amount_fen,
              mask_account(d.account_number) if d.account_number else None, d.account_name, d.batch,
              r.verdict, r.allowed_fen, r.rules, r.reasons) for r in result.rows for d in (r.draft,)]
    _workbook(f"发放前校验：{result.name}，校验日 {result.as_of.isoformat()}（按此日发放判断）", lines,
              result.summary, path)


def write_stored_xlsx(precheck, rows, totals: dict, path) -> None:
    """The same workbook from a stored pre-check (the web's download): its rows as stored — the ID
    number kept masked only, the account as its mask — and ``totals`` by verdict as counted for
    the reader (``audit.precheck.web.totals``)."""
    lines = [(r.row_no, r.id_masked, r.post_code, ym(r.period), r.amount_fen, r.account_masked,
              r.account_name, r.batch, r.verdict, r.allowed_fen, r.rules or [], r.reasons or [])
             for r in rows]
    status = (f"，已审批（{precheck.approved_name or precheck.approved_by}，"
              f"{precheck.approved_at:%Y-%m-%d %H:%M}）" if precheck.status == "approved" else "，待审批")
    _workbook(f"发放前校验第 {precheck.id} 号：{precheck.file_name}，校验日 {precheck.as_of.isoformat()}"
              f"（按此日发放判断）{status}", lines, totals, path)


def _workbook(title: str, lines, summary: dict, path) -> None:
    """One sheet: the title, the headers, a line per row (row, masked ID, post, month, amount fen,
    masked account, name, batch, verdict, allowed fen, rules, reasons), then the totals by verdict."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from audit.engine.export import safe_cell

    def safe(value):  # B5: text from the draft (file name, account name, batch …) never runs as a formula
        return None if value is None else safe_cell(value)

    wb = Workbook()
    ws = wb.active
    ws.title = "发放前校验"
    ws.append([safe(title)])
    ws["A1"].font = Font(bold=True)
    ws.append(list(HEADERS))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row, idm, post, month, amount, account, name, batch, verdict, allowed, rules, reasons in lines:
        ws.append([row, safe(idm), safe(post), month, yuan(amount, grouping=False), safe(account), safe(name),
                   safe(batch), V.VERDICT_ZH[verdict], yuan(allowed, grouping=False), "、".join(rules),
                   safe(mask_identifiers("\n".join(reasons)) or None)])
        ws.cell(row=ws.max_row, column=9).fill = PatternFill("solid", fgColor=FILLS[verdict])
        ws.cell(row=ws.max_row, column=12).alignment = Alignment(wrap_text=True, vertical="top")
    ws.append([])
    s = summary
    for v in (V.PASS, V.HOLD, V.REJECT):
        ws.append([None, None, None, "合计", yuan(s[v]["amount_fen"], grouping=False), None, None, None,
                   f"{V.VERDICT_ZH[v]} {s[v]['rows']} 行", yuan(s[v]["allowed_fen"], grouping=False)])
        ws.cell(row=ws.max_row, column=9).fill = PatternFill("solid", fgColor=FILLS[v])
    for col, width in zip("ABCDEFGHIJKL", (6, 20, 18, 10, 12, 24, 10, 12, 10, 12, 14, 80), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    wb.save(path)
