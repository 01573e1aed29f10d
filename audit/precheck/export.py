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
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "发放前校验"
    ws.append([f"发放前校验：{result.name}，校验日 {result.as_of.isoformat()}（按此日发放判断）"])
    ws["A1"].font = Font(bold=True)
    ws.append(list(HEADERS))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in result.rows:
        d = r.draft
        ws.append([d.row, mask_id(d.id_number), d.post_code, ym(d.period), yuan(d.amount_fen, grouping=False),
                   mask_account(d.account_number) if d.account_number else None, d.account_name, d.batch,
                   V.VERDICT_ZH[r.verdict], yuan(r.allowed_fen, grouping=False), "、".join(r.rules),
                   mask_identifiers("\n".join(r.reasons)) or None])
        verdict = ws.cell(row=ws.max_row, column=9)
        verdict.fill = PatternFill("solid", fgColor=FILLS[r.verdict])
        ws.cell(row=ws.max_row, column=12).alignment = Alignment(wrap_text=True, vertical="top")
    ws.append([])
    s = result.summary
    for v in (V.PASS, V.HOLD, V.REJECT):
        ws.append([None, None, None, "合计", yuan(s[v]["amount_fen"], grouping=False), None, None, None,
                   f"{V.VERDICT_ZH[v]} {s[v]['rows']} 行", yuan(s[v]["allowed_fen"], grouping=False)])
        ws.cell(row=ws.max_row, column=9).fill = PatternFill("solid", fgColor=FILLS[v])
    for col, width in zip("ABCDEFGHIJKL", (6, 20, 18, 10, 12, 24, 10, 12, 10, 12, 14, 80)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    wb.save(path)
