"""The draft payroll of the web tests of 发放前校验 (tests/precheck/): April 2025 of the two districts,
as CSV."""
from __future__ import annotations

import csv
import io

CHECK_DAY = "2025-05-10"
HEADER = ["id_number", "post_code", "period", "amount", "account_number", "account_name", "batch"]


def draft_rows(web, *extra: tuple[str, str, str]) -> list[list[str]]:
    accounts = web.county.accounts
    rows = [(n, p, a) for n, p, a in (("李小花", "GW-A2", "800.00"), ("王大山", "GW-A1", "800.00"),
                                      ("张三", "GW-A3", "800.00"),
                                      ("陈工", "CJ-A1", "2500.00"))] + list(extra)
    return [[web.ids[n], p, "2025-04", a, accounts[web.ids[n]], n, "2025年5月第1批"] for n, p, a in rows]


def csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER] + rows)
    return buf.getvalue().encode("utf-8")
