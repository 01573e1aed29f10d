"""A table's rows as officials keep them (ledger-format.md, "Sheets as people really keep them"):
the header is found below title and note rows, and total rows (合计, 小计, 总计) are read past.

Every reader of a bundle's table — the importer, the upload's scope check — reads it through
``read_table``, so that they agree on which row is the header and on the row numbers, which are
the rows as Excel (or a text editor) numbers them."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter

from .schema import IGNORED, TableSpec, header_key
from .values import nfkc

HEADER_SCAN_ROWS = 30  # rows searched for the header; past them the first row is taken (and refused)
TOTAL_WORDS = frozenset({"合计", "小计", "总计"})
ROWS_NAMED = 20  # row numbers named in a notice


def blank(row) -> bool:
    return not row or (not row[0] and all(c is None or (c.__class__ is str and not c.strip()) for c in row))


def _first_text(row) -> str:
    for c in row:
        if c is not None and str(c).strip():
            return re.sub(r"\s+", "", nfkc(str(c)))
    return ""


def total_row(row) -> bool:
    """Whether the reader skips ``row`` as a total (合计, 小计, 总计 in its first filled cell)."""
    return _first_text(row) in TOTAL_WORDS


def named_columns(spec: TableSpec, row) -> int:
    """How many distinct columns of the table a row names (a 序号 column is none)."""
    keys = {header_key(spec, c) for c in row if c is not None and str(c).strip()}
    keys.discard(None)
    keys.discard(IGNORED)
    return len(keys)


@dataclass
class TableRows:
    """``rows`` yields (row number, row) of the data rows: not blank, not a total. ``above`` and
    ``totals`` (row numbers) fill as ``rows`` is read."""

    header: tuple | None
    header_row: int
    rows: Iterator[tuple[int, tuple]]
    above: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    # the file's rows after the header and the header's row number, when nothing was read past it
    _rest: tuple[Iterator[tuple], int] | None = None

    def in_chunks(self, size: int) -> Iterator[tuple[list[int], list]]:
        """The data rows that ``rows`` gives, in lists of at most ``size``: (row numbers, rows).
        Read either this or ``rows``, not both. A batch of the file whose rows all begin with a
        filled cell of text without 计 (no blank row, no total row among them) passes as it was
        read, without a step per row: the importer's whole read of a large CSV."""
        if self._rest is None:
            pairs = iter(self.rows)
            while batch := list(islice(pairs, size)):
                yield list(map(itemgetter(0), batch)), list(map(itemgetter(1), batch))
            return
        raw, row_no = self._rest
        while batch := list(islice(raw, size)):
            start, row_no = row_no + 1, row_no + len(batch)
            try:
                firsts = list(map(itemgetter(0), batch)) if all(batch) else ()
                plain = bool(firsts) and all(firsts) and "计" not in "\x00".join(firsts)
            except TypeError:  # a first cell that is not text (a number or a date in a workbook)
                plain = False
            if plain:
                yield list(range(start, row_no + 1)), batch
                continue
            numbers, rows = [], []
            for n, row in enumerate(batch, start):
                if _is_data(self, n, row):
                    numbers.append(n)
                    rows.append(row)
            if rows:
                yield numbers, rows

    def notices(self, where: str) -> list[str]:
        out = []
        if self.above:
            out.append(f"{where}：表头在第{self.header_row}行，其上的第{_rows(self.above)}行（标题或说明）已跳过")
        if self.totals:
            out.append(f"{where}：第{_rows(self.totals)}行是合计行（合计、小计或总计），已跳过，未作为数据导入")
        return out


def _rows(numbers: list[int]) -> str:
    shown = "、".join(map(str, numbers[:ROWS_NAMED]))
    return shown + (f" 等共{len(numbers)}行" if len(numbers) > ROWS_NAMED else "")


def read_table(spec: TableSpec, raw: Iterator[tuple]) -> TableRows:
    """The header (the first row naming at least two columns of the table, among the first
    ``HEADER_SCAN_ROWS``; else the first non-blank row, whose missing columns the importer names)
    and the data rows after it."""
    raw = iter(raw)
    seen: list[tuple[int, tuple]] = []
    header, header_row = None, 0
    row_no = 0
    for row in raw:
        row_no += 1
        if blank(row):
            continue
        if named_columns(spec, row) >= 2:
            header, header_row = row, row_no
            break
        seen.append((row_no, row))
        if row_no >= HEADER_SCAN_ROWS:
            break
    table = TableRows(header, header_row, iter(()))
    if header is None:
        if not seen:
            return table
        (header_row, header), rest = seen[0], seen[1:]
        table.header, table.header_row = header, header_row
        table.rows = _data(table, rest, raw, row_no)
        return table
    table.above = [n for n, _ in seen]
    table.rows = _data(table, [], raw, row_no)
    table._rest = (raw, row_no)
    return table


def _data(table: TableRows, buffered: list[tuple[int, tuple]], raw: Iterator[tuple],
          row_no: int) -> Iterator[tuple[int, tuple]]:
    for n, row in buffered:
        if total_row(row):
            table.totals.append(n)
        else:
            yield n, row
    for row in raw:
        row_no += 1
        if _is_data(table, row_no, row):
            yield row_no, row


def _is_data(table: TableRows, row_no: int, row) -> bool:
    """Whether ``row`` is a data row: not blank, and not a total (counted in ``table.totals``)."""
    first = row[0] if row else None
    # the hot path: a data row's first cell is filled and has no 计 (every total word has one)
    if first and (first.__class__ is not str or "计" not in first):
        return True
    if blank(row):
        return False
    if not total_row(row):
        return True
    table.totals.append(row_no)
    return False
