"""The ledger importer: all or nothing, idempotent, set-based.

For each table of the bundle, in dependency order, inside ONE transaction:

1. read the rows in chunks and convert them column by column. Each column converts each of its
   *distinct* values once (1.7 million attendance rows hold a few thousand distinct values), and
   conversion includes resolution: an ID number becomes a ``person_id`` (or an error "not in
   persons"), a post code a ``post_id``. Every bad cell is collected as a ``RowError``;
2. put the good rows in a temporary stage table whose columns are the target's (executemany on
   SQLite, one COPY per table on PostgreSQL); duplicate keys are found, with both row numbers, by
   one SQL query on the stage table; a table still empty is loaded directly, inside a savepoint,
   and should its unique key refuse a row, that is undone and the table staged;
3. merge with set-based SQL: insert new keys, update rows whose key exists with other values (each
   update goes to the change log, old and new values, ID and account numbers masked), leave
   identical rows alone.

The rows stream: a chunk (``CHUNK`` rows) is read, converted, checked and written before the next
is read, and nothing grows with the bundle in this process but the caches of converted values
(bounded by ``CACHE_MAX``), the persons and posts a reference resolves to, the errors (up to
``Limits.max_errors``) and the rows an import changes or deletes (for the change log). Stage
tables are in a temporary file on SQLite. On PostgreSQL the foreign-key triggers are off for the
import's transaction when the role may set ``session_replication_role`` (see
``_without_reference_triggers``): four fifths of a large COPY's time.

Any error, or ``dry_run``, rolls the transaction back: the database is exactly as it was.
Otherwise an ``ImportBatch`` records the counts and the transaction commits.
"""
from __future__ import annotations

import datetime as dt
import gc
import hashlib
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError
from tqdm import tqdm

from audit import logchain
from audit.keys.services import KeyProblem, ensure_key
from audit.pii import PiiCodec
from models import (
    ImportBatch,
    Person,
    Placement,
    Position,
    Wage,
)

from . import fast, grid, statistics
from . import values as v
from .bundle import Bundle, BundleError, Limits, Source, open_bundle
from .convert import Converting, Unsure, convert_cell
from .merges import Merging
from .outcome import ImportRefused, ImportResult, RowError, TableCounts, TooManyErrors
from .schema import REQUIRED_TABLES, TABLES, TableSpec
from .sheet import TableRows, read_table
from .stages import DIRECT, GRID_AS_ATTENDANCE, STAGE_KEYS, STAGES
from .values import CellError
from .writers import columns_out, writer

__all__ = ["ImportRefused", "ImportResult", "Importer", "RowError", "TableCounts", "import_bundle"]

CHUNK = 20_000
STAGE_ANALYZED = 10_000  # PostgreSQL: rows of a stage table from which it is analysed before the merge
TEMP_CACHE_KIB = 64 << 10  # SQLite: cache of the import's stage tables (the rest is in a temporary file)


class Importer(Converting, Merging):
    """One import of one bundle (``run``): reading and converting (``convert.Converting``), duplicate
    keys and merges (``merges.Merging``), in one transaction."""

    def __init__(self, engine: Engine, pii: PiiCodec, *, actor: str = "system", progress: bool = False,
                 limits: Limits = Limits(), on_progress: Callable[[str, int], None] | None = None):
        self.engine = engine
        self.pii = pii
        self.actor = actor
        self.progress = progress
        self.limits = limits
        self.on_progress = on_progress  # (table label, rows read so far), called as the progress bar moves

    def run(self, path: str | Path, *, dry_run: bool = False) -> ImportResult:
        path = Path(path)
        self.result = ImportResult(source=path.name, dry_run=dry_run)
        self._stopped = False  # by ``Limits.max_errors``
        self._log: list[dict] = []
        self._hashes: dict[str, str] = {}  # ID number -> keyed hash
        self._refs: dict[str, tuple] = {}  # ID number of a comparison list -> (hash, encrypted, masked)
        self._rejected_people: set[str] = set()  # hashes of persons rows that had errors
        self._people: dict[str, int] | None = None  # hash -> persons.id
        self._people_masked: dict[int, str] = {}
        self._people_names: dict[int, str] = {}
        self._posts: dict[str, tuple[int, str]] | None = None  # code -> (posts.id, kind)
        self._post_codes: dict[int, str] = {}
        self._origins: dict[str, str] = {}  # table -> the file or sheet it was read from
        self._direct: set[str] = set()  # tables loaded into an empty table (no older rows to replace)
        self._in_bundle: frozenset[str] = frozenset()  # the bundle's tables
        # table -> rows whose invisible characters were removed: [the first CONTROL_ROWS_SHOWN, how many,
        # the last]
        self._controls: dict[str, list] = {}
        try:
            bundle = open_bundle(path, self.limits)
        except BundleError as exc:
            self._error("bundle", 0, "", "", str(exc))
            return self.result
        if not dry_run:
            self._digest = _Digest(path)  # for the import's batch (``_record_batch``)
        committing = False
        try:
            with bundle, self.engine.connect() as conn, _bulk_mode(conn):
                self.result.warnings.extend(bundle.warnings)
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin() as tx:
                    try:
                        self._run(conn, bundle, path)
                    except BundleError as exc:
                        self._error("bundle", 0, "", "", str(exc))
                    except TooManyErrors:
                        pass  # the errors so far, the last saying the check stopped: rolled back below
                    if self.result.errors or dry_run:
                        tx.rollback()
                    else:
                        for stage in STAGES.values():
                            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
                        committing = True  # lost from here on, the outcome is unknown: let it raise
        except DBAPIError as exc:
            if committing or not exc.connection_invalidated:
                raise
            # the server dropped the connection before the commit: it rolled the transaction back
            self.result.errors.clear()  # those of a bundle not read to its end
            self.result.counts.clear()
            self.result.batch_id = None
            self._error("bundle", 0, "", "", "数据库连接中断，导入未完成，数据库未做任何更改。"
                        "请在数据库恢复后重新导入。")
            return self.result
        order = {t.name: i for i, t in enumerate(TABLES)}
        self.result.errors.sort(key=lambda e: (order.get(e.table, -1), e.row))
        return self.result

    def _run(self, conn: Connection, bundle: Bundle, path: Path) -> None:
        started = dt.datetime.now()
        self._conn = conn
        try:
            ensure_key(conn, self.pii)
        except KeyProblem as exc:
            self._error("bundle", 0, "", "", str(exc))
            return
        self._check_required_tables(conn, bundle)
        _without_reference_triggers(conn)
        self._in_bundle = frozenset(bundle.sources)
        for stage in STAGES.values():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
            stage.create(conn)
        for spec in TABLES:
            source = bundle.sources.get(spec.name)
            if source is not None:
                self._load_table(conn, spec, source)
        if not self.result.errors and not self.result.dry_run:
            self._record_batch(conn, path, started)

    def _load_table(self, conn: Connection, spec: TableSpec, source: Source) -> None:
        if spec.name == "attendance_grid":  # read as the attendance rows it stands for
            spec, source = GRID_AS_ATTENDANCE, _GridSource(spec, source, self)
        target = DIRECT.get(spec.name)
        if spec.name == "attendance" and "attendance_grid" in self._in_bundle:
            target = None  # staged, so that a day also in the 考勤表 is found and named by its row
        if spec.name == "wages" and fast.worthwhile(conn, spec.name, source, self.limits.fast_min_rows):
            # PostgreSQL's fast path stages a city's payroll at little cost; straight into the
            # table, two payments alike (a city's payroll has some) are found only by the unique
            # key at the end of the whole INSERT, and the file is then read a second time
            target = None
        if (target is not None
                and conn.execute(select(literal(1)).select_from(target).limit(1)).first() is None):
            # The table is empty: its rows can go straight in, all of them new. Should a key repeat
            # (the target's unique key refuses the row), undo that back to the savepoint and take
            # the staged way, which names both rows. So too for wages with a reversal (a negative
            # amount, checked against the payments it reverses and named by its row) or with two
            # payments alike (numbered 1, 2 … by the staged way: here every one is the first).
            errors, warnings = len(self.result.errors), len(self.result.warnings)
            self.result.counts[spec.name] = TableCounts()
            try:
                with conn.begin_nested():
                    self._parse_and_stage(conn, spec, source, into=target)
                    if spec.name == "wages" and conn.execute(
                            select(literal(1)).where(Wage.amount_fen < 0).limit(1)).first():
                        raise _TakeStaged()
            except (conn.dialect.loaded_dbapi.IntegrityError, _TakeStaged):
                del self.result.errors[errors:]
                del self.result.warnings[warnings:]
                self._controls.pop(spec.name, None)
            else:
                counts = self.result.counts[spec.name]
                counts.added = counts.rows
                self._direct.add(spec.name)
                return
        self.result.counts[spec.name] = TableCounts()
        if self._parse_and_stage(conn, spec, source, into=STAGES[spec.name]):
            if conn.dialect.name == "postgresql" and self.result.counts[spec.name].rows >= STAGE_ANALYZED:
                # a temporary table is never analysed by itself: without statistics the planner
                # takes a stage of millions of rows for a few and chooses the merge's plan by that
                conn.exec_driver_sql(f"ANALYZE {STAGES[spec.name].name}")
            if spec.name in STAGE_KEYS:
                self._duplicates(conn, spec)
        getattr(self, f"_merge_{spec.name}")(conn)

    def _check_required_tables(self, conn: Connection, bundle: Bundle) -> None:
        targets = {"persons": Person, "positions": Position, "placements": Placement}
        for name in REQUIRED_TABLES:
            if name not in bundle.sources and not conn.execute(select(literal(1)).select_from(targets[name])
                                                                .limit(1)).first():
                self._error(name, 0, "", "", "缺少必需的表（数据库中也还没有这张表的数据）")

    def _parse_and_stage(self, conn: Connection, spec: TableSpec, source: Source, into: Table) -> bool:
        """Read and convert the rows of one table, chunk by chunk, and write the good ones ``into``
        its stage table (or, if that is empty, its target table); True if any row was written.
        Nothing of the table stays in memory but the chunk at hand and the caches of converted
        values: a key given twice is found by SQL (``_duplicates``, or the target's unique key)."""
        self._origins[spec.name] = source.origin
        if fast.worthwhile(conn, spec.name, source, self.limits.fast_min_rows):
            rows = self._fast(conn, spec, source, into)
            if rows is not None:
                return rows > 0
        table = source.table() if isinstance(source, _GridSource) else read_table(spec, source.rows())
        header = table.header
        if header is None:
            self.result.warnings.append(f"{spec.label}（{source.origin}）是空的")
            return False
        columns = self._columns(spec, source, header, table.header_row)
        if columns is None:
            return False
        # a sheet's header row runs as far as its widest row: its last named column is the width, and
        # a value under no header (there or further right) is an error, as in a CSV, never dropped
        named = [i for i, cell in enumerate(header) if cell is not None and str(cell).strip() != ""]
        width = named[-1] + 1 if named else len(header)
        unnamed = [i for i in range(width) if i not in set(named)]
        numbered = into is STAGES[spec.name]  # target tables have no row_no
        names = [c.name for c in STAGES[spec.name].columns][0 if numbered else 1:]
        widths = [c.width for c in columns]
        if spec.name == "wages":  # seq: 1 for now, numbered in SQL once every row is staged
            widths.insert(5, 1)
        counts = self.result.counts[spec.name]
        bar = tqdm(total=source.approx_rows, desc=f"导入 {spec.label}", unit="行", disable=not self.progress,
                   file=sys.stderr, leave=False, mininterval=0.5, dynamic_ncols=True)
        with bar, writer(conn, into.name, names) as write:
            # on SQLite a chunk is converted as executemany reads it (``streamed``), until a cell
            # needs the careful way (``Unsure``): from that chunk on, the table is read that way
            stream = write.streams and not spec.checks

            def flush(chunk: list, numbers: list[int]) -> None:
                nonlocal stream
                if stream:
                    try:
                        write.rows(self.streamed(columns, chunk, numbers if numbered else None,
                                                 {5: 1} if spec.name == "wages" else {}), len(chunk))
                    except Unsure:
                        stream = False
                    else:
                        counts.rows += len(numbers)
                        return
                staged = self._convert_chunk(spec, columns, chunk, numbers)
                if staged is None:
                    return
                cols, good_numbers = staged
                if spec.name == "wages":
                    cols.insert(5, repeat(1, len(good_numbers)))
                write.columns(columns_out(good_numbers if numbered else None, cols, widths))
                counts.rows += len(good_numbers)

            self._read(table, width, spec, flush, bar, unnamed)
        self.result.warnings.extend(table.notices(f"{spec.label}（{source.origin}）"))
        self._warn_controls(spec)
        return counts.rows > 0

    def _fast(self, conn: Connection, spec: TableSpec, source: Source, into: Table) -> int | None:
        """The rows of a large CSV written by ``fast.load`` (its docstring says which files); None
        if the file must be read row by row (nothing written, nothing said)."""
        errors, warnings = len(self.result.errors), len(self.result.warnings)
        table = read_table(spec, source.rows())
        header = table.header
        if header is None or table.header_row != 1 or any(c is None or str(c).strip() == "" for c in header):
            return None
        columns = self._columns(spec, source, header, 1)
        numbered = into is STAGES[spec.name]
        names = [c.name for c in STAGES[spec.name].columns][0 if numbered else 1:]
        counts = self.result.counts[spec.name]
        bar = tqdm(total=source.approx_rows, desc=f"导入 {spec.label}", unit="行", disable=not self.progress,
                   file=sys.stderr, leave=False, mininterval=0.5, dynamic_ncols=True)
        read = 0

        def on_lines(n: int) -> None:
            nonlocal read
            read += n
            bar.update(n)
            if self.on_progress is not None:
                self.on_progress(spec.label, read)

        try:
            if columns is None:
                raise fast.NotFast("a required column is missing")
            with bar:
                counts.rows = fast.load(conn, source, header, columns, STAGES[spec.name], into, names,
                                        numbered=numbered, constants={5: 1} if spec.name == "wages" else {},
                                        convert=convert_cell, on_lines=on_lines)
        except fast.NotFast:
            del self.result.errors[errors:]
            del self.result.warnings[warnings:]
            return None
        return counts.rows

    def _read(self, table: TableRows, width: int, spec: TableSpec, flush, bar,
              unnamed: list[int] = ()) -> None:
        """Hand the data rows (``sheet.TableRows.in_chunks``) to ``flush`` in chunks of ``CHUNK``,
        padded to the header's width; a row with a value in a column without a header (``unnamed``)
        is an error. A chunk of rows all as wide as the header passes as it is."""
        for numbers, chunk in table.in_chunks(CHUNK):
            last = numbers[-1]
            if unnamed or set(map(len, chunk)) != {width}:
                numbers, chunk = self._fitted(numbers, chunk, width, spec, unnamed)
            if chunk:
                flush(chunk, numbers)
            bar.update(len(chunk))
            if self.on_progress is not None:
                self.on_progress(spec.label, last - 1)

    def _record_batch(self, conn: Connection, path: Path, started: dt.datetime) -> None:
        changed = any(c.added or c.changed for c in self.result.counts.values())
        batches = ImportBatch.__table__
        self.result.batch_id = conn.execute(insert(batches).values(
            started_at=started, finished_at=dt.datetime.now(), actor=self.actor, source=path.name,
            sha256=self._digest.hexdigest(), status="committed" if changed else "no_change",
            counts={k: vars(c) for k, c in self.result.counts.items()}, warnings=self.result.warnings[:1000],
        ).returning(batches.c.id)).scalar_one()
        # the import itself, even one that only added rows or changed nothing, then each changed row
        summary = {"status": "committed" if changed else "no_change",
                   "added": {k: c.added for k, c in self.result.counts.items() if c.added},
                   "changed": {k: c.changed for k, c in self.result.counts.items() if c.changed}}
        logchain.append(conn, [{"at": started, "actor": self.actor, "action": "import.commit",
                                "table_name": "import_batches", "row_id": self.result.batch_id,
                                "row_ref": path.name[:200], "new": summary},  # the batch is its row_id
                               *({**e, "batch_id": self.result.batch_id} for e in self._log)])

    def _error(self, table: str, row: int, column: str, value: str, reason: str) -> None:
        errors = self.result.errors
        if table == "attendance_grid" and errors and (errors[-1].table, errors[-1].row, errors[-1].column,
                                                      errors[-1].reason) == (table, row, column, reason):
            return  # one grid row is up to 31 attendance rows: its bad ID or post is said once
        errors.append(RowError(table, row, column, value, reason,
                               self._origins.get(table, "") if row else ""))
        if len(errors) >= self.limits.max_errors > 0 and not self._stopped:
            self._stopped = True
            errors.append(RowError("bundle", 0, "", "", f"错误过多：已发现 {len(errors)} 处错误，"
                                   "检查到此停止，后面的行未检查。"
                                   "请先改正以上错误（或确认是否选错了文件），再重新上传。"))
            raise TooManyErrors()


def import_bundle(path: str | Path, *, engine: Engine, pii: PiiCodec, actor: str = "system",
                  dry_run: bool = False, progress: bool = False, limits: Limits = Limits(),
                  raise_on_error: bool = False, on_progress: Callable[[str, int], None] | None = None
                  ) -> ImportResult:
    result = Importer(engine, pii, actor=actor, progress=progress, limits=limits,
                      on_progress=on_progress).run(path, dry_run=dry_run)
    if result.committed:  # ANALYZE the tables a large import changed (audit/ledger/statistics.py)
        statistics.after_import(engine, result.counts)
    if raise_on_error and result.errors:
        raise ImportRefused(result)
    return result


class _GridSource:
    """A 考勤表 sheet as the attendance rows it stands for (``grid.expand``), numbered by grid row."""

    def __init__(self, spec: TableSpec, source: Source, importer: Importer):
        self.spec, self.source, self.importer = spec, source, importer
        self.origin = source.origin
        self.approx_rows = source.approx_rows * 20 if source.approx_rows else None

    def table(self):
        imp = self.importer

        def error(row: int, column: str, value: str, reason: str) -> None:
            imp._error("attendance_grid", row, column, value, reason)

        def name_of(raw) -> str | None:
            try:
                idn = v.id_number(raw)
            except (CellError, ValueError, TypeError):
                return None
            imp._person_id_map(imp._conn)
            pid = imp._people.get(imp._hash(idn))
            return imp._people_names.get(pid) if pid is not None else None

        return grid.expand(self.spec, read_table(self.spec, self.source.rows()), error, name_of)


@contextmanager
def _bulk_mode(conn: Connection):
    """For the length of an import: no cyclic garbage collection (millions of short-lived row lists,
    no cycles among them), and on SQLite no per-row foreign-key probes — every reference the
    importer writes was resolved by the importer itself, in the same transaction — and the stage
    tables in a temporary file, not in memory (a city's attendance is gigabytes), with a cache of
    their own (``TEMP_CACHE_KIB``)."""
    sqlite = conn.dialect.name == "sqlite"
    gc_was_on = gc.isenabled()
    gc.disable()
    raw = conn.connection.driver_connection  # a pragma outside any transaction
    if sqlite:
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("PRAGMA temp_store=FILE")  # drops the connection's temporary tables, none in use
        raw.execute(f"PRAGMA temp.cache_size=-{TEMP_CACHE_KIB}")
    try:
        yield
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")
            raw.execute("PRAGMA temp_store=MEMORY")  # as the connection was (audit._sqlite_pragmas)
        if gc_was_on:
            gc.enable()


def _without_reference_triggers(conn: Connection) -> None:
    """PostgreSQL: for the import's transaction, no foreign-key trigger per written row (the
    importer resolved every reference itself, from the tables in this transaction, and nothing
    deletes persons or posts). They cost four fifths of the time of a large COPY. Needs the right
    to set ``session_replication_role`` (a superuser, or on PostgreSQL 15 and later ``GRANT SET ON
    PARAMETER session_replication_role TO <the application's role>``); without it, the checks run."""
    if conn.dialect.name != "postgresql":
        return
    superuser, version = conn.exec_driver_sql(
        "SELECT current_setting('is_superuser') = 'on', current_setting('server_version_num')::int"
    ).one()
    if superuser or (version >= 150000 and conn.exec_driver_sql(  # the function is new in 15
            "SELECT has_parameter_privilege('session_replication_role', 'SET')").scalar()):
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


class _TakeStaged(Exception):
    """Rows loaded straight into an empty table that the staged way must read (``_load_table``)."""


class _Digest(threading.Thread):
    """The bundle's SHA-256 (``_sha256``), computed beside the import: hashlib and the file reads
    let go of the interpreter's lock, so it costs the import nothing on a machine with a core to
    spare (0.1 s for a district's 140 MB otherwise). A daemon: a process that ends sooner does not
    wait for it."""

    def __init__(self, path: Path):
        super().__init__(name="bundle-sha256", daemon=True)
        self.path = path
        self._hex: str | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._hex = _sha256(self.path)
        except BaseException as exc:  # raised where it is asked for (``hexdigest``)
            self._error = exc

    def hexdigest(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._hex is not None
        return self._hex


def _sha256(path: Path) -> str:
    """The SHA-256 of a bundle file (.zip, .xlsx), as ``sha256sum`` or ``certutil -hashfile`` gives
    it; of a folder, that of each file's name and bytes in turn, the files in order of their paths."""
    h = hashlib.sha256()
    if not path.is_dir():
        _hash_file(h, path)
        return h.hexdigest()
    for f in sorted(f for f in path.rglob("*") if f.is_file()):
        h.update(f.name.encode())
        _hash_file(h, f)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)

