"""How the importer writes converted rows into a stage or target table, chunk after chunk: on
PostgreSQL one ``COPY`` (text format) for the whole table, on SQLite executemany."""
from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import chain, islice
from operator import itemgetter

from sqlalchemy import Connection

from .convert import CACHE_MAX

ROWS_PER_INSERT = 200  # SQLite: rows of one INSERT statement (within its limit of parameters)


class Writer:
    """``columns(cols)`` writes a chunk given column by column (``columns_out``); on SQLite,
    ``rows(rows, n)`` writes ``n`` rows as they are made, all of them or none."""

    streams = False  # whether ``rows`` may be used

    def columns(self, cols: list) -> None:
        raise NotImplementedError

    def rows(self, rows: Iterator[tuple], n: int) -> None:
        raise NotImplementedError


class _SQLiteWriter(Writer):
    """executemany of INSERT statements of ``ROWS_PER_INSERT`` rows each (the rest one by one):
    a statement of many rows binds as many values, but SQLite steps and resets it once, not once
    a row, and keeps its place in the table from one row to the next: about two fifths less time
    for the 1.7 million attendance rows of a district."""

    streams = True

    def __init__(self, raw, table: str, names: list[str]):
        self.raw, self.width = raw, len(names)
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # 32,766 since SQLite 3.32, 999 before
        self.per = max(1, min(ROWS_PER_INSERT, limit // self.width))
        one = f"({', '.join('?' * self.width)})"
        self.one = f"INSERT INTO {table} ({', '.join(names)}) VALUES {one}"
        self.many = f"{self.one}{f', {one}' * (self.per - 1)}"

    def _insert(self, rows: Iterator[tuple], n: int) -> None:
        whole = n - n % self.per
        if whole:  # the values of ``whole`` rows, flat, in tuples of ``per`` rows' values
            flat = chain.from_iterable(islice(rows, whole))
            self.raw.executemany(self.many, zip(*[flat] * (self.width * self.per), strict=True))
        self.raw.executemany(self.one, rows)

    def columns(self, cols: list) -> None:
        self._insert(zip(*cols, strict=True), len(cols[0]) if cols else 0)

    def rows(self, rows: Iterator[tuple], n: int) -> None:
        """Insert ``n`` rows (an iterator that converts as it is read) inside a savepoint: should
        making a row raise, or the database refuse one, the rows of this call already written are
        undone before the exception goes on."""
        self.raw.execute("SAVEPOINT chunk_rows")
        try:
            self._insert(rows, n)
        except BaseException:
            self.raw.execute("ROLLBACK TO chunk_rows")
            raise
        finally:
            self.raw.execute("RELEASE chunk_rows")


class _CopyWriter(Writer):
    def __init__(self, stack: ExitStack, raw, sql: str, width: int):
        self.stack, self.raw, self.sql = stack, raw, sql
        self.texts = [_CopyText() for _ in range(width)]
        self.copy = None

    def columns(self, cols: list) -> None:
        if self.copy is None:  # opened at the first chunk: the server writes it while the next is read
            self.copy = self.stack.enter_context(self.stack.enter_context(self.raw.cursor()).copy(self.sql))
        columns = (map(t.__getitem__, c) for t, c in zip(self.texts, cols, strict=True))
        lines = map("\t".join, zip(*columns, strict=True))
        self.copy.write("\n".join(lines).encode() + b"\n")


@contextmanager
def writer(conn: Connection, table: str, names: list[str]) -> Iterator[Writer]:
    """The bulk writer of ``table``'s columns ``names`` for the length of the block; an exception
    inside ends a COPY, failed."""
    raw = conn.connection.driver_connection  # same connection, same transaction
    if conn.dialect.name == "postgresql":
        with ExitStack() as stack:
            yield _CopyWriter(stack, raw, f"COPY {table} ({', '.join(names)}) FROM STDIN", len(names))
        return
    yield _SQLiteWriter(raw, table, names)


def columns_out(numbers: list[int] | None, cols: list, widths: list[int]) -> list:
    """The stage columns of a chunk: the row number (if given), then each column's value(s), a
    tuple's parts as columns of their own (column by column: no Python loop runs per row)."""
    parts = [] if numbers is None else [numbers]
    for col, w in zip(cols, widths, strict=True):
        if w == 1:
            parts.append(col)
            continue
        if None in col:
            blank = (None,) * w
            col = [blank if x is None else x for x in col]
        parts.extend(list(map(itemgetter(j), col)) for j in range(w))
    return parts


class _CopyText(dict):
    """A column's values as PostgreSQL's COPY text format writes them, each distinct value
    formatted once (``map(cache.__getitem__, column)``)."""

    def __missing__(self, x) -> str:
        if len(self) > CACHE_MAX:
            self.clear()
        if x is None:
            text = "\\N"
        elif x.__class__ is str:
            text = x.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        elif isinstance(x, (dt.date, dt.time)):
            text = x.isoformat()
        else:
            text = str(x)
        self[x] = text
        return text
