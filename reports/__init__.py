"""PDF reports in the look of official documents (GB/T 9704): 整改通知书 (``notice``), 审计报告
(``summary``) and 整改台账 (``ledger``), their archive (``archive``) and ``audit report …`` (``cli``).

Each builder makes HTML from the database (``build_notice``, ``build_summary``, ``build_ledger``:
``Built(html, title, meta)``); ``render.render_pdf`` turns HTML into PDF in a forked child process,
bounded in time and memory, with a URL fetcher that serves only the app's own static files and
``data:`` URLs; ``archive.generate`` renders, stores and records a report.

Importing this package is cheap: WeasyPrint is imported on the first render only.
"""
from __future__ import annotations

KINDS = {"notice": "整改通知书", "summary": "审计报告", "ledger": "整改台账"}
