"""The import's errors as a CSV file, for the operator who has to correct the bundle."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .outcome import ImportResult


def write_errors_csv(result: ImportResult, path: Path) -> None:
    """The import's errors as a CSV (``audit import --errors-csv``, and the web's 导入错误 download):
    readable by its writer only (0600), and every cell safe to open in a spreadsheet (``safe_cell``:
    a value as imported may begin with = + - @)."""
    from audit.engine.export import safe_cell

    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        os.chmod(path, 0o600)  # before a byte is written, should the file already have been there
        w = csv.writer(fh)
        w.writerow(["表", "文件或工作表", "行号", "列", "值", "原因"])
        for e in result.errors:
            w.writerow([safe_cell(x) for x in (e.table, e.origin, e.row, e.column, e.value, e.reason)])
