"""What an import tells its caller: the counts per table, the row errors (file, row, column,
value, reason in Chinese), the warnings and the changes it made or would make."""
from __future__ import annotations

from dataclasses import dataclass, field

from .schema import BY_NAME


@dataclass(frozen=True)
class RowError:
    table: str  # English table name, or "bundle" for the bundle as a whole
    row: int  # row number as the user sees it in the file (the header is row 1)
    column: str  # the column's Chinese name (its header in the table's contract)
    value: str
    reason: str
    origin: str = ""  # the file, or the workbook and sheet, the row is in

    def __str__(self) -> str:
        if self.table == "bundle":
            return self.reason
        where = BY_NAME[self.table].label if self.table in BY_NAME else self.table
        if self.origin:
            where = f"{where}（{self.origin}）"
        if self.row == 0:
            return f"{where}：{self.reason}"
        val = f"「{self.value}」" if self.value != "" else "（空）"
        return f"{where} 第{self.row}行 [{self.column}] 值{val}：{self.reason}"


@dataclass
class TableCounts:
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0  # by a ``replaces`` row of the bundle


@dataclass
class ImportResult:
    source: str
    dry_run: bool
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, TableCounts] = field(default_factory=dict)
    batch_id: int | None = None
    # per table, the rows an import changes (dry run or not), for the preview: the first
    # CHANGES_SHOWN as {"ref": who / what, readable and masked, "fields": [[column, old, new], …]},
    # and how many more there are: {"rows": [...], "more": n}
    changes: dict[str, dict] = field(default_factory=dict)
    # per table, the rows a ``replaces`` row deletes (dry run or not), as ``changes`` lists changed
    # ones: {"rows": [{"ref": …, "fields": [[column, old value], …]}, …], "more": n}
    deleted: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def committed(self) -> bool:
        return self.ok and not self.dry_run


class TooManyErrors(Exception):
    """Raised by ``Importer._error`` at ``Limits.max_errors``; the run rolls back and returns."""


class ImportRefused(Exception):
    """Raised by ``import_bundle(..., raise_on_error=True)``."""

    def __init__(self, result: ImportResult):
        super().__init__(f"{len(result.errors)} 处错误")
        self.result = result

