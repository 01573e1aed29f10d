"""The importer's fast path for a large CSV table on PostgreSQL (attendance, wages).

The row path (``Importer._parse_and_stage``) reads every row in Python: csv parsing, a lookup per
cell in each column's cache of converted values, a line of COPY text per row. For a city's 17
million attendance rows that is most of the import's time. Here the file goes to the server as it
is (``COPY … FROM STDIN (FORMAT csv)`` into a temporary table of text columns), the distinct values
of each column come back in one pass (``GROUPING SETS``), each is converted in Python by the very
converter of the row path (the same messages, the same references resolved), and one
``INSERT … SELECT`` joins the text to the converted values and writes the rows where the row path
would write them (the stage table, or the empty target).

It takes only what it reads exactly as the row path does, and writes nothing before every value
of the file has converted: a file with a double quote anywhere (PostgreSQL reads a quote inside an
unquoted field as the start of a quoted part, Python's csv as a character), a header below the
first row or a column without a header, a blank, total, short or long row, a line count that is
not the row count (a line ``\\.``, a lone carriage return), an invisible control character, a
template sample row, a value that does not convert, a required value missing: each goes back, its
temporary tables dropped, to the row path, which names every such row as before. The fast path
changes how long an import takes, not what it does."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, Text, insert, literal, null, select
from sqlalchemy.exc import IntegrityError, OperationalError

from . import values as v
from .bundle import Source
from .schema import SAMPLE_KEYS, sample_mark
from .sheet import total_row

TABLES = frozenset({"attendance", "wages"})  # the tables large enough to be worth it
WORK_MEM = "256MB"  # for the import's transaction, from the fast path on
REBUILD_MIN_ROWS = 1_000_000  # rows into an empty table from which its indexes are built after, not kept
MAINTENANCE_WORK_MEM = "512MB"  # sorting for those index builds


class NotFast(Exception):
    """The file is one the row path must read (see the module's docstring)."""


def worthwhile(conn: Connection, table: str, source: Source, min_rows: int) -> bool:
    """Whether to try: a CSV of a large table, of at least ``min_rows`` lines, on PostgreSQL (a
    smaller file is read row by row: the fast path's fixed cost is a few queries). A table whose
    rows have checks across columns (``TableSpec.checks``) is read row by row: the fast path
    converts values, it does not judge rows."""
    return (conn.dialect.name == "postgresql" and table in TABLES and source.text is not None
            and not source.spec.checks and (source.approx_rows or 0) >= min_rows)


def load(conn: Connection, source: Source, header: Sequence, columns: Sequence, stage: Table, into: Table,
         names: Sequence[str], *, numbered: bool, constants: dict[int, Any], convert: Callable,
         on_lines: Callable[[int], None]) -> int:
    """Write the rows of the CSV ``source`` (its first line the ``header``) into ``into``'s columns
    ``names``: the row number (if ``numbered``) and each of ``columns``' converted parts (the
    importer's ``_Column``: index in the row, key, converter, required, width), with ``constants``
    (part position -> value) put in; the number of rows written. Raises ``NotFast`` for a file the
    row path must read; the database is then as it was."""
    width = len(header)
    raw = Table("fast_raw", MetaData(), Column("row_no", BigInteger),
                *[Column(f"c{i}", Text) for i in range(width)], prefixes=["TEMPORARY"])
    # compiling a join of a few maps costs more than it saves; the distinct values and the maps
    # (a city's 100,000 ID numbers) hashed in memory, not in batches that spill the file to disk
    conn.exec_driver_sql(f"SET LOCAL jit = off; SET LOCAL work_mem = '{WORK_MEM}'")
    tables = [raw]

    def write() -> int:
        copied = _copy(conn, source, raw, on_lines)
        conn.exec_driver_sql(f"ANALYZE {raw.name}")  # temporary tables are never analysed by themselves
        distinct = _distinct(conn, raw, sorted({0} | {c.index for c in columns if c.index >= 0}))
        if any(x is None or total_row((x,)) for x in distinct[0]):
            raise NotFast("a row whose first cell is empty or a total")
        parts: list = [raw.c.row_no + 1] if numbered else []
        joined = raw
        stage_types = [stage.c[n].type for n in names[1 if numbered else 0:]]
        position = 0
        for c in columns:
            if position in constants:
                position += 1
            types = [stage_types[position + j] for j in range(c.width)]
            position += c.width
            if c.index < 0:
                parts.extend(null().cast(t) for t in types)  # an optional column the file lacks
                continue
            converted = _converted(c, distinct[c.index], convert)
            m = Table(f"fast_map_{len(tables) - 1}", MetaData(), Column("raw", Text),
                      *[Column(f"v{j}", t) for j, t in enumerate(types)], prefixes=["TEMPORARY"])
            m.create(conn)
            tables.append(m)
            if converted:
                conn.execute(insert(m), [{"raw": x, **{f"v{j}": y for j, y in enumerate(
                    value if c.width > 1 else (value,))}} for x, value in converted.items()])
            conn.exec_driver_sql(f"ANALYZE {m.name}")  # a map is small: hashed, the file streamed past it
            joined = joined.outerjoin(m, m.c.raw == raw.c[f"c{c.index}"])
            parts.extend(m.c[f"v{j}"] for j in range(c.width))
        offset = 1 if numbered else 0
        for at, value in sorted(constants.items()):
            parts.insert(offset + at, literal(value))
        statement = insert(into).from_select(list(names), select(*parts).select_from(joined))
        try:
            with conn.begin_nested(), _indexes_rebuilt(conn, into, rebuild=not numbered
                                                       and copied >= REBUILD_MIN_ROWS):
                return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount
        except IntegrityError as exc:  # a key twice in an empty target: the importer stages instead
            raise exc.orig from None

    # On an error of the database the transaction (or the caller's savepoint) is rolled back, the
    # temporary tables with it, and no statement may run before that: they are dropped here only
    # after a success or a file handed back.
    try:
        rows = write()
    except NotFast:
        _drop(conn, tables)
        raise
    _drop(conn, tables)
    return rows


def _drop(conn: Connection, tables: list[Table]) -> None:
    for t in tables:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t.name}")


def _copy(conn: Connection, source: Source, raw: Table, on_lines: Callable[[int], None]) -> int:
    """The file's data lines into ``raw`` as text, numbered in file order (a savepoint: a file
    PostgreSQL's CSV refuses leaves nothing behind); how many."""
    cols = [c.name for c in raw.columns][1:]
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {raw.name} (row_no bigint GENERATED ALWAYS AS IDENTITY, "
                         + ", ".join(f"{c} text" for c in cols) + ")")
    driver = conn.connection.driver_connection
    lines, last = 0, "\n"
    try:
        with conn.begin_nested(), driver.cursor() as cur:
            copy_sql = f"COPY {raw.name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            with cur.copy(copy_sql) as copy:
                for block in source.text():
                    if not block:
                        continue
                    if '"' in block:
                        raise NotFast("a double quote")
                    n = block.count("\n")
                    lines += n
                    last = block[-1]
                    copy.write(block)
                    if n:
                        on_lines(n)
            copied = cur.rowcount
    except conn.dialect.loaded_dbapi.Error as exc:
        raise NotFast(str(exc)) from None
    records = lines + (last != "\n")  # the header's line included
    if copied != records - 1:
        raise NotFast(f"{records - 1} lines but {copied} rows")
    return copied


@contextmanager
def _indexes_rebuilt(conn: Connection, target: Table, *, rebuild: bool):
    """Around a large load into an empty table (yields whether it rebuilds): its indexes (the primary
    key included) dropped before and built after, each by one sort (half the time of keeping them as
    rows go in, for a city's attendance). The table is locked until the import ends: it was empty, a
    reader waits for the import rather than reading nothing. A key given twice fails the rebuilt
    primary key, an ``IntegrityError`` as an index kept would have raised. A table another refers to
    keeps its indexes (a foreign key needs its key), and so does a table someone is reading as the
    load begins (the lock is taken without waiting, or not at all)."""
    if not rebuild or conn.exec_driver_sql(
            "SELECT 1 FROM pg_constraint WHERE confrelid = CAST(%s AS regclass)", (target.name,)).first():
        yield False
        return
    try:  # a reader in the table now (an audit run, a page): keep the indexes rather than wait for it
        with conn.begin_nested():
            conn.exec_driver_sql(f"LOCK TABLE {target.name} IN ACCESS EXCLUSIVE MODE NOWAIT")
    except OperationalError:
        yield False
        return
    indexes = conn.exec_driver_sql(
        "SELECT quote_ident(x.relname), pg_get_indexdef(i.indexrelid), c.conname, "
        "pg_get_constraintdef(c.oid) "
        "FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid LEFT JOIN pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "WHERE i.indrelid = CAST(%s AS regclass) ORDER BY i.indisprimary DESC, 1", (target.name,)).all()
    for index, _, constraint, _ in indexes:
        conn.exec_driver_sql(f'ALTER TABLE {target.name} DROP CONSTRAINT "{constraint}"' if constraint
                             else f"DROP INDEX {index}")
    yield True
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    for _, definition, constraint, constraint_def in indexes:
        conn.exec_driver_sql(f'ALTER TABLE {target.name} ADD CONSTRAINT "{constraint}" {constraint_def}'
                             if constraint else definition)


def _distinct(conn: Connection, raw: Table, indexes: list[int]) -> dict[int, set]:
    """Each column's distinct values (None for an empty cell), in one pass over the table."""
    cols = [raw.c[f"c{i}"] for i in indexes]
    found: dict[int, set] = {i: set() for i in indexes}
    sets = ", ".join(f"({c.name})" for c in cols)
    names = ", ".join(c.name for c in cols)
    query = f"SELECT GROUPING({names}), {names} FROM {raw.name} GROUP BY GROUPING SETS ({sets})"
    full = (1 << len(cols)) - 1
    for mask, *row in conn.exec_driver_sql(query):
        # the set's column: its bit, the one not set (first = highest)
        k = len(cols) - (full ^ mask).bit_length()
        found[indexes[k]].add(row[k])
    return found


def _converted(column, distinct: set, convert: Callable) -> dict:
    """raw text -> converted value (None and empty left out: they convert to nothing), as the row
    path converts them; ``NotFast`` at the first value the row path would report or clean."""
    out = {}
    for x in distinct:
        if x is not None and v.has_controls(x):
            raise NotFast("an invisible control character")
        if column.key in SAMPLE_KEYS and sample_mark(column.key, x):
            raise NotFast("a template sample row")
        value = convert(column.convert, x)
        if isinstance(value, v.CellError) or (value is None and column.required):
            raise NotFast("a value the row path reports")
        if value is not None:
            out[x] = value
    return out
