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

import dataclasses
import datetime as dt
import gc
import hashlib
import sys
from collections.abc import Callable, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from tqdm import tqdm

from audit import logchain, vocab
from audit.keys.services import KeyProblem, ensure_key
from audit.money import yuan
from audit.pii import PiiCodec, mask_account, mask_id
from models import (
    Attendance,
    Business,
    Death,
    Household,
    ImportBatch,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Post,
    Report,
    SocialInsurance,
    Wage,
    Workshop,
    WorkshopStaff,
)

from . import fast, grid, replaces, statistics
from . import values as v
from .bundle import Bundle, BundleError, Limits, Source, open_bundle
from .schema import BY_NAME, IGNORED, REQUIRED_TABLES, SAMPLE_KEYS, TABLES, TableSpec, header_key, sample_mark
from .sheet import TableRows, read_table
from .values import CellError

CHUNK = 20_000
CACHE_MAX = 200_000
CHANGES_SHOWN = 200  # changed rows per table described field by field in the result
CONTROL_ROWS_SHOWN = 50  # rows named in the warning about removed control characters
TWINS_SHOWN = 100  # wage rows identical to an earlier one, each named in a warning
STAGE_ANALYZED = 10_000  # PostgreSQL: rows of a stage table from which it is analysed before the merge
TEMP_CACHE_KIB = 64 << 10  # SQLite: cache of the import's stage tables (the rest is in a temporary file)


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


# ---- stage tables: row_no, then the converted columns in spec order -------------------------

_TYPES = {"s": String(128), "t": Text(), "d": Date(), "i": Integer(), "b": BigInteger(), "tm": Time()}


def _stage(name: str, cols: str) -> Table:
    columns = [Column("row_no", Integer)]
    for part in cols.split():
        cname, ctype = part.split(":")
        columns.append(Column(cname, _TYPES[ctype]))
    return Table(f"stage_{name}", MetaData(), *columns, prefixes=["TEMPORARY"])


_IDENTITY = "id_hash:s id_enc:t id_masked:s birth_date:d sex:s region_code:s"  # persons.id_number
_ACCOUNT = "{0}_hash:s {0}_enc:t {0}_masked:s"  # a bank account number
_REF_ID = "id_hash:s id_enc:t id_masked:s"  # an ID number in a comparison table

STAGES: dict[str, Table] = {
    "persons": _stage("persons", f"{_IDENTITY} name:s name_key:s phone:s household_code:s district:s township:s "
                      f"village:s category_mask:i labour_ability:s {_ACCOUNT.format('bank')}"),
    "positions": _stage("positions", "code:s title:s kind:s employer:s district:s township:s village:s "
                        "monthly_wage_fen:b required_days:i created_on:d"),
    "placements": _stage("placements", "person_id:i position_id:i start_date:d end_date:d"),
    "workshops": _stage("workshops", "code:s name:s operator:s credit_code:s district:s township:s "
                        "village:s certified_on:d baseline_poverty_headcount:i"),
    "workshop_staff": _stage("workshop_staff", "workshop_id:i person_id:i start_date:d end_date:d "
                             "monthly_wage_fen:b"),
    "attendance": _stage("attendance", "person_id:i post_id:i work_month:d work_date:d status:s check_in_time:tm "
                         "method:s device_id:s verified:s"),
    "wages": _stage("wages", f"person_id:i post_id:i period:d amount_fen:b paid_on:d seq:i "
                    f"{_ACCOUNT.format('account')} account_name:s account_name_key:s batch:s"),
    "reports": _stage("reports", "workshop_id:i period:d metric:s value_x100:b"),
    "deaths": _stage("deaths", f"{_REF_ID} death_date:d"),
    "social_insurance": _stage("social_insurance", f"{_REF_ID} period:d employer:s employer_credit_code:s"),
    "pensions": _stage("pensions", f"{_REF_ID} kind:s since:d"),
    "businesses": _stage("businesses", f"{_REF_ID} company_name:s role:s registered_on:d deregistered_on:d"),
    "officials": _stage("officials", f"{_REF_ID} name:s role:s unit:s district:s township:s village:s "
                        "household_code:s"),
    "migrant_work": _stage("migrant_work", f"{_REF_ID} start_date:d end_date:d place:s"),
    "attendance_grid": _stage("attendance_grid", "person_id:i post_id:i work_month:d work_date:d status:s "
                              "check_in_time:tm method:s device_id:s verified:s"),
    "replaces": _stage("replaces", "table_name:s period_from:d period_to:d district:s township:s post_id:i"),
}

# The natural key of each table in stage columns (wages have none: identical rows are kept).
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "persons": ("id_hash",),
    "positions": ("code",),
    "workshops": ("code",),
    "placements": ("person_id", "position_id", "start_date"),
    "workshop_staff": ("workshop_id", "person_id", "start_date"),
    "attendance": ("person_id", "post_id", "work_date"),
    "attendance_grid": ("person_id", "post_id", "work_date"),
    "reports": ("workshop_id", "period", "metric"),
    "deaths": ("id_hash",),
    "social_insurance": ("id_hash", "period", "employer"),
    "pensions": ("id_hash", "kind"),
    "businesses": ("id_hash", "company_name", "role"),
    "officials": ("id_hash", "role"),
    "migrant_work": ("id_hash", "start_date"),
}


@dataclass(frozen=True)
class Merge:
    """How the stage rows (as ``src``, labelled like the target) become rows of the target."""

    target: Table
    key: tuple[str, ...]  # target columns that identify a row
    compare: tuple[str, ...]  # target columns whose change is an update
    carry: tuple[str, ...] = ()  # target columns written along (ciphertext, masks)
    ref: Callable[[Mapping], str] = lambda r: ""  # the row, readable, for the change log


@dataclass
class _Column:
    index: int  # cell index in the row, -1 if the column is absent
    key: str
    header: str
    convert: Callable
    required: bool
    width: int  # how many stage columns the converted value fills (tuples)
    cache: dict = field(default_factory=dict)


class Importer:
    def __init__(self, engine: Engine, pii: PiiCodec, *, actor: str = "system", progress: bool = False,
                 limits: Limits = Limits(), on_progress: Callable[[str, int], None] | None = None):
        self.engine = engine
        self.pii = pii
        self.actor = actor
        self.progress = progress
        self.limits = limits
        self.on_progress = on_progress  # (table label, rows read so far), called as the progress bar moves

    # -- the run --------------------------------------------------------------------------------

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
        if target is not None and conn.execute(select(literal(1)).select_from(target).limit(1)).first() is None:
            # The table is empty: its rows can go straight in, all of them new. Should a key repeat
            # (the target's unique key refuses the row), undo that back to the savepoint and take
            # the staged way, which names both rows.
            errors, warnings = len(self.result.errors), len(self.result.warnings)
            self.result.counts[spec.name] = TableCounts()
            try:
                with conn.begin_nested():
                    self._parse_and_stage(conn, spec, source, into=target)
            except conn.dialect.loaded_dbapi.IntegrityError:
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

    # -- 1. read and convert --------------------------------------------------------------------

    def _columns(self, spec: TableSpec, source: Source, header, header_row: int) -> list[_Column] | None:
        """The columns of the file in spec order; None if a required column is missing. Each is
        named in messages by its Chinese header, however the file spells it."""
        found: dict[str, tuple[int, str]] = {}
        for i, cell in enumerate(header):
            if cell is None or str(cell).strip() == "":
                continue
            text = v.strip_controls(str(cell)).strip()
            key = header_key(spec, cell)
            if key is None:
                self.result.warnings.append(f"{spec.label}（{source.origin}）的列「{text}」无法识别，已忽略")
            elif key == IGNORED:
                continue  # 序号
            elif key in found:
                zh = spec.col(key).zh
                self._error(spec.name, header_row, zh, text,
                            f"与第{found[key][0] + 1}列是同一列（重复的表头），请删除其中一列")
            else:
                found[key] = (i, text)
        missing = [c for c in spec.columns if c.required and c.key not in found]
        for c in missing:
            self._error(spec.name, header_row, c.zh, "",
                        f"缺少必填列「{c.zh}」（{c.key}）：请在表头行（第{header_row}行）加上这一列")
        if missing:
            return None
        columns = []
        for c in spec.columns:
            convert, width = self._converter(spec.name, c.key, c.parse)
            index = found.get(c.key, (-1, c.zh))[0]
            columns.append(_Column(index, c.key, c.zh, convert, c.required, width))
        return columns

    def _converter(self, table: str, key: str, parse: Callable) -> tuple[Callable, int]:
        """The function that turns a cell into its stage value(s), and how many stage columns it fills."""
        width = _width(table, key)
        if width and parse in (v.text, v.code):  # PostgreSQL enforces a column's width; say so by row
            parse = v.within(parse, width)
            if (table, key) in (("persons", "name"), ("wages", "account_name")):
                return (lambda x: _with_key(parse(x), width)), 2
        if key == "id_number":
            if table == "persons":
                return (lambda x: self._identity(parse(x))), 6
            if BY_NAME[table].comparison:
                return (lambda x: self._hash_and_mask(parse(x))), 3
            return (lambda x: self._person_id(parse(x))), 1
        if key in ("bank_account", "account_number"):
            return (lambda x: self._account(parse(x))), 3
        if (table, key) in (("persons", "name"), ("wages", "account_name")):
            return (lambda x: _with_key(parse(x))), 2
        if key in ("position_code", "workshop_code", "post_code", "subject_code") and table not in (
                "positions", "workshops"):
            want = {"position_code": "position", "workshop_code": "workshop", "subject_code": "workshop"}.get(key)
            return (lambda x: self._post_id(parse(x), want)), 1
        if key == "work_date":  # attendance (and its grid): (month, day), the month leads the stored key
            if self.engine.dialect.name == "sqlite":
                return (lambda x: _month_and_day_iso(parse(x))), 2
            return (lambda x: _month_and_day(parse(x))), 2
        if self.engine.dialect.name == "sqlite":  # store as SQLAlchemy does, converting once per value
            if parse is v.time:
                return (lambda x: parse(x).strftime("%H:%M:%S.%f")), 1
            if parse in (v.date, v.month):
                return (lambda x: parse(x).isoformat()), 1
        return parse, 1

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
        with bar, self._writer(conn, into.name, names) as write:
            def flush(chunk: list, numbers: list[int]) -> None:
                staged = self._convert_chunk(spec, columns, chunk, numbers)
                if staged is None:
                    return
                cols, good_numbers = staged
                if spec.name == "wages":
                    cols.insert(5, repeat(1, len(good_numbers)))
                write(_columns_out(good_numbers if numbered else None, cols, widths))
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
                                        convert=_convert, on_lines=on_lines)
        except fast.NotFast:
            del self.result.errors[errors:]
            del self.result.warnings[warnings:]
            return None
        return counts.rows

    def _warn_controls(self, spec: TableSpec) -> None:
        """One warning for the table naming the rows whose invisible characters were removed."""
        rows, total, _ = self._controls.pop(spec.name, ((), 0, 0))
        if not total:
            return
        shown = "、".join(map(str, rows))
        more = f" 等{total}行" if total > CONTROL_ROWS_SHOWN else ""
        self.result.warnings.append(f"{spec.label} 第 {shown} 行{more}：已删除不可见的控制字符")

    def _read(self, table: TableRows, width: int, spec: TableSpec, flush, bar, unnamed: list[int] = ()) -> None:
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

    def _fitted(self, numbers: list[int], chunk: list, width: int, spec: TableSpec,
                unnamed: list[int]) -> tuple[list[int], list]:
        """The rows of a chunk as wide as the header, without those refused as errors."""
        kept_numbers, kept = [], []
        for row_no, row in zip(numbers, chunk):
            if len(row) != width:
                if len(row) > width and any(c is not None and c != "" for c in row[width:]):
                    extra = next(c for c in row[width:] if c is not None and c != "")
                    self._error(spec.name, row_no, f"第{width + 1}列以后", _show(extra), "该行的列数多于表头")
                    continue
                row = (list(row) + [None] * width)[:width]
            stray = next((i for i in unnamed if row[i] is not None and str(row[i]).strip() != ""), None)
            if stray is not None:
                self._error(spec.name, row_no, f"第{stray + 1}列", _show(row[stray]),
                            "该列没有表头，但此行在该列有内容")
                continue
            kept.append(row)
            kept_numbers.append(row_no)
        return kept_numbers, kept

    def _convert_chunk(self, spec: TableSpec, columns: list[_Column], chunk: list, numbers: list[int]):
        """Convert a chunk column by column; report bad cells; return (columns, row numbers) of the
        good rows, or None if none is good."""
        n = len(chunk)
        sample = self._sample_rows(spec, columns, chunk, numbers)
        bad: set[int] = set(sample)
        cols = []
        cleaned: set[int] = set()  # rows of the chunk whose invisible characters were removed
        for c in columns:
            if c.index < 0:
                cols.append([None] * n)
                if c.required:
                    bad.update(range(n))
                continue
            raw = list(map(itemgetter(c.index), chunk))
            distinct = set(raw)
            # a value already converted has none (the cache holds values as they were cleaned)
            dirty = {x for x in distinct.difference(c.cache) if v.has_controls(x)}
            if dirty:  # invisible controls (bidi overrides, zero-width …) removed, and said so by row
                clean = {x: v.strip_controls(x) for x in dirty}
                cleaned.update(numbers[i] for i, x in enumerate(raw) if x in clean)
                raw = [clean.get(x, x) if x.__class__ is str else x for x in raw]
                distinct = set(raw)
            cache = c.cache
            if len(cache) > CACHE_MAX:
                cache.clear()
            for x in distinct.difference(cache):
                cache[x] = _convert(c.convert, x)
            col = list(map(cache.__getitem__, raw))
            if any(cache[x].__class__ is CellError or (c.required and cache[x] is None) for x in distinct):
                for i, x in enumerate(col):
                    if i in sample:
                        continue  # a template's sample row: one error says so, nothing more
                    if x.__class__ is CellError:
                        self._error(spec.name, numbers[i], c.header, _show(raw[i]), str(x))
                        bad.add(i)
                    elif x is None and c.required:
                        self._error(spec.name, numbers[i], c.header, "", "必填项为空")
                        bad.add(i)
            cols.append(col)
        if cleaned:  # counted, and the first few named (a 考勤表 row may reach into the next chunk)
            said = self._controls.setdefault(spec.name, [[], 0, 0])
            new = sorted(r for r in cleaned if r > said[2])
            said[0].extend(new[:CONTROL_ROWS_SHOWN - len(said[0])])
            said[1] += len(new)
            said[2] = max(said[2], new[-1]) if new else said[2]
        if spec.checks:
            keys = [c.key for c in columns]
            for i in range(n):
                if i in bad:
                    continue
                record = {k: col[i] for k, col in zip(keys, cols)}
                for check in spec.checks:
                    hit = check(record)
                    if hit:
                        c = columns[keys.index(hit[0])]
                        self._error(spec.name, numbers[i], c.header, _show(record[hit[0]]), hit[1])
                        bad.add(i)
        if bad:
            if spec.name == "persons":
                for i in bad:
                    if isinstance(cols[0][i], tuple):
                        self._rejected_people.add(cols[0][i][0])
            keep = [i for i in range(n) if i not in bad]
            if not keep:
                return None
            cols = [[col[i] for i in keep] for col in cols]
            numbers = [numbers[i] for i in keep]
        return cols, numbers

    def _sample_rows(self, spec: TableSpec, columns: list[_Column], chunk: list, numbers: list[int]) -> set[int]:
        """Indexes (in the chunk) of the rows that carry the template sample mark
        (``schema.sample_mark``), each reported once: such a row is never loaded. Judged per
        distinct value, as conversion is."""
        found: set[int] = set()
        for c in columns:
            if c.index < 0 or c.key not in SAMPLE_KEYS:
                continue
            get = itemgetter(c.index)
            marked = {x for x in set(map(get, chunk)) if sample_mark(c.key, x)}
            if not marked:
                continue
            for i, row in enumerate(chunk):
                x = get(row)
                if i not in found and x in marked:
                    found.add(i)
                    self._error(spec.name, numbers[i], c.header, _show(x),
                                f"第 {numbers[i]} 行是模板示例行，请删除后再导入（模板中的示例行只用于说明填法，"
                                "其编号、姓名以「示例」开头，身份证号以 000000 开头）")
        return found

    @contextmanager
    def _writer(self, conn: Connection, table: str, names: list[str]):
        """Bulk insert of a chunk's columns (``_columns_out``) into ``table``, chunk after chunk: on
        PostgreSQL one ``COPY`` (text format, ``_CopyText``) for the whole table, opened at the
        first chunk (the server writes a chunk while the next is read and converted); on SQLite
        executemany. An exception inside ends the COPY, failed."""
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
            texts = [_CopyText() for _ in names]
            with ExitStack() as stack:
                copy = None

                def write_pg(cols: list) -> None:
                    nonlocal copy
                    if copy is None:
                        copy = stack.enter_context(stack.enter_context(raw.cursor()).copy(sql))
                    lines = map("\t".join, zip(*(map(t.__getitem__, c) for t, c in zip(texts, cols))))
                    copy.write("\n".join(lines).encode() + b"\n")

                yield write_pg
            return
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        raw = conn.connection.driver_connection  # same connection, same transaction
        yield lambda cols: raw.executemany(sql, zip(*cols))

    # -- converters that resolve ----------------------------------------------------------------

    def _hash(self, id_number: str) -> str:
        h = self._hashes.get(id_number)
        if h is None:
            if len(self._hashes) > CACHE_MAX:  # a cache, as the columns' own: bounded
                self._hashes.clear()
            h = self._hashes[id_number] = self.pii.digest(id_number)
        return h

    def _identity(self, idn: str) -> tuple:
        born, sex, region = v.id_facts(idn)
        return (self._hash(idn), self.pii.encrypt(idn), mask_id(idn), born, sex, region)

    def _hash_and_mask(self, idn: str) -> tuple:
        """A comparison list names a person many times (one row a month of social insurance):
        encrypted once per import (the hash already shows the rows are about one person)."""
        got = self._refs.get(idn)
        if got is None:
            if len(self._refs) > CACHE_MAX:
                self._refs.clear()
            got = self._refs[idn] = (self._hash(idn), self.pii.encrypt(idn), mask_id(idn))
        return got

    def _account(self, number: str) -> tuple:
        return (self.pii.digest(number), self.pii.encrypt(number), mask_account(number))

    def _person_id(self, idn: str) -> int:
        self._person_id_map(self._conn)
        h = self._hash(idn)
        pid = self._people.get(h)
        if pid is None:
            if h in self._rejected_people:
                raise CellError("此人在人员信息表中的那一行有错误（见人员信息表的错误）")
            raise CellError("此人不在人员信息表（persons）中")
        return pid

    def _post_id(self, code: str, want: str | None) -> int:
        if self._posts is None:
            posts = Post.__table__
            rows = self._conn.execute(select(posts.c.id, posts.c.code, posts.c.kind)).all()
            self._posts = {c: (i, k) for i, c, k in rows}
            self._post_codes = {i: c for i, c, _ in rows}
        found = self._posts.get(code)
        if found is None:
            raise CellError({None: "既不是公益性岗位编号，也不是就业帮扶车间编号",
                             "position": "不是已登记的公益性岗位编号",
                             "workshop": "不是已登记的就业帮扶车间编号"}[want])
        if want and found[1] != want:
            raise CellError("这是就业帮扶车间编号，不是公益性岗位编号" if want == "position"
                            else "这是公益性岗位编号，不是就业帮扶车间编号")
        return found[0]

    def _number_wages(self, conn: Connection) -> None:
        """Number the copies of one wage key (person, post, month, paid on, amount) 1, 2, … in row
        order, so that re-importing the bundle changes nothing; warn about rows identical in every
        column (both are kept: the audit checks them as paid twice). In SQL, on the stage table."""
        s = STAGES["wages"]
        key = [s.c[k] for k in ("person_id", "post_id", "period", "paid_on", "amount_fen")]
        n = (select(s.c.row_no, func.row_number().over(partition_by=key, order_by=s.c.row_no).label("n"))
             .subquery())
        again = conn.execute(update(s).where(s.c.row_no == n.c.row_no, n.c.n > 1).values(seq=n.c.n),
                             execution_options={"preserve_rowcount": True}).rowcount
        if not again:
            return
        e = s.alias("earlier")
        twins = (select(s.c.row_no, func.min(e.c.row_no))
                 .join(e, and_(*[e.c[k.name] == k for k in key], e.c.row_no < s.c.row_no,
                               *[e.c[c].is_not_distinct_from(s.c[c]) for c in ("account_hash", "account_name",
                                                                                 "batch")]))
                 .where(s.c.seq > 1).group_by(s.c.row_no).order_by(s.c.row_no))
        label, shown = BY_NAME["wages"].label, 0
        for row_no, twin in conn.execute(twins):
            if shown < TWINS_SHOWN:
                self.result.warnings.append(f"{label} 第{row_no}行与第{twin}行完全相同：两行都已保留，"
                                            "审计时将按重复发放核查")
            shown += 1
        if shown > TWINS_SHOWN:
            self.result.warnings.append(f"{label} 另有 {shown - TWINS_SHOWN:,} 行与前面的某一行完全相同："
                                        "都已保留，审计时将按重复发放核查")

    # -- 2. duplicate keys ----------------------------------------------------------------------

    def _duplicates(self, conn: Connection, spec: TableSpec) -> None:
        """Report every row whose key an earlier row of the same table already has, and drop it."""
        s = STAGES[spec.name]
        key = [s.c[k] for k in STAGE_KEYS[spec.name]]
        first = (select(*key, func.min(s.c.row_no).label("first"))
                 .group_by(*key).having(func.count() > 1).subquery())
        later = (select(s.c.row_no, first.c.first)
                 .join(first, and_(*[k == first.c[k.name] for k in key])).where(s.c.row_no != first.c.first))
        names = "、".join(spec.col(k).zh for k in spec.key)
        said = later.order_by(s.c.row_no)
        if self.limits.max_errors > 0:  # past that many the check stops (``_error``): fetch no more
            said = said.limit(self.limits.max_errors)
        rows = conn.execute(said).all()
        for row_no, first_row in rows:
            self._error(spec.name, row_no, names, "", f"与第{first_row}行的{names}相同（重复记录）")
        if rows:
            # set-based (a list of row numbers would exceed the bind limit, 65535 on PostgreSQL), and
            # against each key's first row only: "an earlier row with the same key" as a correlated
            # EXISTS compares every pair of copies, hours for a file of 100,000 copies of one row
            repeated = select(later.subquery().c.row_no)
            conn.execute(s.delete().where(s.c.row_no.in_(repeated)))

    # -- 3. merges ------------------------------------------------------------------------------

    def _merge(self, conn: Connection, table: str, src, m: Merge) -> None:
        counts = self.result.counts[table]
        t = m.target
        s = src.subquery("src")
        on = and_(*[t.c[k] == s.c[k] for k in m.key])
        # rows are updated by surrogate id where the table has one, else by their key
        where = ("id",) if "id" in t.c else m.key
        changed = conn.execute(
            select(*[t.c[k].label(f"_{k}") for k in where], *[t.c[c].label(f"old_{c}") for c in m.compare + m.carry],
                   *s.c)
            .join(s, on).where(or_(*[t.c[c].is_distinct_from(s.c[c]) for c in m.compare]))
        ).mappings().all()
        if changed:
            cols = m.compare + m.carry
            conn.execute(update(t).where(*[t.c[k] == bindparam(f"_{k}") for k in where])
                         .values({c: bindparam(f"v_{c}") for c in cols}),
                         [{**{f"_{k}": r[f"_{k}"] for k in where}, **{f"v_{c}": r[c] for c in cols}} for r in changed])
            self._log_changes(conn, table, m, changed)
        cols = [c for c in s.c.keys() if c in t.c and (c != "id" or "id" in m.key)]
        counts.added = conn.execute(insert(t).from_select(cols, select(*[s.c[c] for c in cols])
                                                          .where(~exists().where(on))),
                                    execution_options={"preserve_rowcount": True}).rowcount
        counts.changed = len(changed)
        counts.unchanged = counts.rows - counts.added - counts.changed

    def _log_changes(self, conn: Connection, table: str, m: Merge, changed) -> None:
        now = dt.datetime.now()
        households: dict[int, str] = {}
        if "household_id" in m.compare:
            ids = {r[k] for r in changed for k in ("household_id", "old_household_id") if r[k] is not None}
            hh = Household.__table__
            households = dict(conn.execute(select(hh.c.id, hh.c.code).where(hh.c.id.in_(ids))).all())
        shown = []
        for r in changed:
            old, new = {}, {}
            fields = []
            for c in m.compare:
                if r[f"old_{c}"] != r[c]:
                    label, o, n = _display(c, r, households)
                    old[label], new[label] = o, n
                    if len(shown) < CHANGES_SHOWN:
                        fields.append([_field_zh(table, c), _shown_value(table, c, r, o), _shown_value(table, c, r, n)])
            self._log.append({"at": now, "actor": self.actor, "action": "import.update", "table_name": table,
                              "row_id": r.get("_id"), "row_ref": m.ref(r), "old": old, "new": new})
            if len(shown) < CHANGES_SHOWN:
                shown.append({"ref": self._preview_ref(table, r), "fields": fields})
        self.result.changes[table] = {"rows": shown, "more": len(changed) - len(shown)}

    def _who(self, person_id) -> str:
        """A person as people read them: name and masked ID number."""
        name, masked = self._people_names.get(person_id), self._people_masked.get(person_id, "")
        return f"{name}（{masked}）" if name else str(masked or person_id)

    def _preview_ref(self, table: str, r: Mapping) -> str:
        """The changed row as the preview names it: person by name and masked ID, post by code (and
        title or name), then the rest of its key; never an ID or account number in clear."""
        if table == "persons":
            return f"{r['name']}（{r['id_masked']}）"
        if table in ("positions", "workshops"):
            code = self._post_codes.get(r["id"], str(r["id"]))
            return f"{code} {r['title'] if table == 'positions' else r['name']}"
        if table == "officials":
            return f"{r['name']}（{r['id_masked']}） / {r['role']}"
        if "id_masked" in r:  # the other comparison lists: their people need not be in persons
            key = STAGE_KEYS[table]
            return " / ".join([r["id_masked"], *(_plain_text(r[k]) for k in key[1:])])
        parts = []
        for c in ("person_id", "post_id", "position_id", "workshop_id", "work_date", "period", "paid_on",
                  "start_date", "metric"):
            if c not in r:
                continue
            x = r[c]
            if c == "person_id":
                parts.append(self._who(x))
            elif c in ("post_id", "position_id", "workshop_id"):
                parts.append(self._post_codes.get(x, str(x)))
            elif c == "period":
                parts.append(_plain_text(x)[:7])
            else:
                parts.append(_plain_text(x))
        return " / ".join(parts)

    def _ref(self, r: Mapping, *cols: str) -> str:
        """person / post / other columns of a changed row, readable and masked."""
        parts = []
        for c in cols:
            x = r[c]
            if c == "person_id":
                x = self._people_masked.get(x, x)
            elif c in ("post_id", "position_id", "workshop_id"):
                x = self._post_codes.get(x, x)
            parts.append(x.isoformat() if isinstance(x, dt.date) else str(x))
        return " / ".join(parts)

    def _stage_src(self, name: str):
        s = STAGES[name]
        return select(*[c for c in s.c if c.name != "row_no"])

    def _merge_persons(self, conn: Connection) -> None:
        s = STAGES["persons"]
        self._insert_households(conn, s)
        hh = Household.__table__
        src = (select(*[c for c in s.c if c.name not in ("row_no", "household_code", "category_mask")],
                      func.coalesce(s.c.category_mask, 0).label("category_mask"),  # empty: none recorded
                      hh.c.id.label("household_id")).outerjoin(hh, hh.c.code == s.c.household_code))
        self._merge(conn, "persons", src, Merge(
            Person.__table__, key=("id_hash",),
            compare=("name", "phone", "household_id", "district", "township", "village", "category_mask",
                     "labour_ability", "bank_hash"),
            carry=("name_key", "bank_enc", "bank_masked"), ref=lambda r: f"{r['id_masked']} {r['name']}"))
        self._people = None  # reload on next use

    def _insert_households(self, conn: Connection, s: Table) -> None:
        hh = Household.__table__
        codes = (select(s.c.household_code).where(s.c.household_code.is_not(None))
                 .where(~exists().where(hh.c.code == s.c.household_code)).distinct())
        conn.execute(insert(hh).from_select(["code"], codes))

    def _merge_posts(self, conn: Connection, name: str, kind: str, compare: tuple[str, ...], target) -> None:
        """Positions and workshops share one code space (posts); a code in both is an error."""
        s, posts = STAGES[name], Post.__table__
        clash = (select(s.c.row_no, s.c.code).join(posts, posts.c.code == s.c.code)
                 .where(posts.c.kind != kind).order_by(s.c.row_no))
        for row_no, code in conn.execute(clash):
            other = "公益性岗位编号" if kind == "workshop" else "就业帮扶车间编号"
            self._error(name, row_no, BY_NAME[name].columns[0].zh, code,
                        f"与已有的{other}相同：岗位编号和车间编号不能重复")
        conn.execute(insert(posts).from_select(
            ["code", "kind"], select(s.c.code, literal(kind)).where(~exists().where(posts.c.code == s.c.code))))
        src = (select(posts.c.id, *[c for c in s.c if c.name not in ("row_no", "code")])
               .join(posts, and_(posts.c.code == s.c.code, posts.c.kind == kind)))
        self._merge(conn, name, src, Merge(target.__table__, key=("id",), compare=compare,
                                           ref=lambda r: self._post_codes.get(r["id"], str(r["id"]))))
        self._posts = None

    def _merge_positions(self, conn: Connection) -> None:
        s = STAGES["positions"]  # an empty 月出勤天数 is the contract's default (the column is NOT NULL)
        conn.execute(update(s).where(s.c.required_days.is_(None))
                     .values(required_days=Position.__table__.c.required_days.default.arg))
        self._load_post_codes(conn)
        self._merge_posts(conn, "positions", "position", ("title", "kind", "employer", "district", "township",
                                                          "village", "monthly_wage_fen", "required_days",
                                                          "created_on"), Position)

    def _merge_workshops(self, conn: Connection) -> None:
        self._load_post_codes(conn)
        self._merge_posts(conn, "workshops", "workshop", ("name", "operator", "credit_code", "district",
                                                          "township", "village", "certified_on",
                                                          "baseline_poverty_headcount"), Workshop)

    def _load_post_codes(self, conn: Connection) -> None:
        posts = Post.__table__
        self._post_codes = dict(conn.execute(select(posts.c.id, posts.c.code)).all())

    def _merge_placements(self, conn: Connection) -> None:
        self._merge(conn, "placements", self._stage_src("placements"), Merge(
            Placement.__table__, key=("person_id", "position_id", "start_date"), compare=("end_date",),
            ref=lambda r: self._ref(r, "person_id", "position_id", "start_date")))

    def _merge_workshop_staff(self, conn: Connection) -> None:
        self._merge(conn, "workshop_staff", self._stage_src("workshop_staff"), Merge(
            WorkshopStaff.__table__, key=("workshop_id", "person_id", "start_date"),
            compare=("end_date", "monthly_wage_fen"),
            ref=lambda r: self._ref(r, "person_id", "workshop_id", "start_date")))

    def _merge_attendance(self, conn: Connection, name: str = "attendance") -> None:
        self._merge(conn, name, self._stage_src(name), Merge(
            Attendance.__table__, key=("person_id", "post_id", "work_month", "work_date"),
            compare=("status", "check_in_time", "method", "device_id", "verified"),
            ref=lambda r: self._ref(r, "person_id", "post_id", "work_date")))

    def _merge_wages(self, conn: Connection) -> None:
        self._number_wages(conn)
        self._merge(conn, "wages", self._stage_src("wages"), Merge(
            Wage.__table__, key=("person_id", "post_id", "period", "paid_on", "amount_fen", "seq"),
            compare=("account_hash", "account_name", "batch"),
            carry=("account_name_key", "account_enc", "account_masked"),
            ref=lambda r: self._ref(r, "person_id", "post_id", "period", "paid_on")))
        self._check_reversals(conn)

    def _check_reversals(self, conn: Connection) -> None:
        """A negative amount reverses (冲正) an earlier payment of the same person, post and month:
        one of at least that amount, paid on or before it, with the month's net not below zero
        (ledger-format.md, "Reversals"). One with nothing to reverse is a row error."""
        s, w = STAGES["wages"], Wage.__table__
        same = and_(w.c.person_id == s.c.person_id, w.c.post_id == s.c.post_id, w.c.period == s.c.period)
        reversible = exists().where(same, w.c.amount_fen >= -s.c.amount_fen, w.c.paid_on <= s.c.paid_on)
        net = select(func.sum(w.c.amount_fen)).where(same).scalar_subquery()
        bad = conn.execute(select(s.c.row_no, s.c.amount_fen).where(s.c.amount_fen < 0, or_(~reversible, net < 0))
                           .order_by(s.c.row_no)).all()
        for row_no, fen in bad:
            self._error("wages", row_no, "发放金额", yuan(fen, grouping=False),
                        "冲正（负数金额）找不到被冲减的发放：同一身份证号、岗位编号和所属月份，在此发放日期或之前没有"
                        "不少于该金额的发放（或冲正后该月合计为负）。冲正行的身份证号、岗位编号和所属月份应与原发放相同")

    def _merge_reports(self, conn: Connection) -> None:
        self._merge(conn, "reports", self._stage_src("reports"), Merge(
            Report.__table__, key=("workshop_id", "period", "metric"), compare=("value_x100",),
            ref=lambda r: self._ref(r, "workshop_id", "period", "metric")))

    def _merge_comparison(self, conn: Connection, name: str, model, compare: tuple[str, ...]) -> None:
        key = STAGE_KEYS[name]
        self._merge(conn, name, self._stage_src(name), Merge(
            model.__table__, key=key, compare=compare,
            ref=lambda r: " / ".join([r["id_masked"], *(str(r[k]) for k in key[1:])])))

    def _merge_deaths(self, conn: Connection) -> None:
        self._merge_comparison(conn, "deaths", Death, ("death_date",))

    def _merge_social_insurance(self, conn: Connection) -> None:
        self._merge_comparison(conn, "social_insurance", SocialInsurance, ("employer_credit_code",))

    def _merge_pensions(self, conn: Connection) -> None:
        self._merge_comparison(conn, "pensions", Pension, ("since",))

    def _merge_businesses(self, conn: Connection) -> None:
        self._merge_comparison(conn, "businesses", Business, ("registered_on", "deregistered_on"))

    def _merge_attendance_grid(self, conn: Connection) -> None:
        """A day given both in the bundle's 考勤记录 and in its 考勤表 is an error (which to keep?)."""
        g, a = STAGES["attendance_grid"], STAGES["attendance"]
        both = (select(g.c.row_no, a.c.row_no.label("other"), g.c.work_date)
                .join(a, and_(a.c.person_id == g.c.person_id, a.c.post_id == g.c.post_id,
                              a.c.work_month == g.c.work_month, a.c.work_date == g.c.work_date))
                .order_by(g.c.row_no, g.c.work_date))
        for row_no, other, day in conn.execute(both):
            day = v.date(day) if isinstance(day, str) else day
            self._error("attendance_grid", row_no, f"{day.day}日", "",
                        f"{day.isoformat()} 的考勤在考勤记录表第{other}行也有：同一天只能在一张表中填写，请删去其中一处")
        if not self.result.errors:
            self._merge_attendance(conn, "attendance_grid")

    def _merge_replaces(self, conn: Connection) -> None:
        """Delete what each ``replaces`` row covers and the bundle does not hold (see replaces.py)."""
        stage = STAGES["replaces"]
        spec = BY_NAME["replaces"]
        rows = [{**r, "table": r["table_name"]} for r in conn.execute(select(stage).order_by(stage.c.row_no)).mappings()]
        for r in rows:
            hit = replaces.problem(r)
            if hit:
                self._error("replaces", r["row_no"], spec.col(hit[0]).zh, "", hit[1])
        if self.result.errors:
            return
        self._load_post_codes(conn)
        self._person_id_map(conn)
        now = dt.datetime.now()
        for r in rows:
            table = r["table"]
            held = HELD_IN.get(table, (table,))  # the bundle's tables whose rows are stored in ``table``
            if any(name in self._direct for name in held):
                continue  # loaded into an empty table: every stored row is the bundle's
            gone = conn.execute(replaces.doomed(conn, r, *(STAGES[name] for name in held))).mappings().all()
            if not gone:
                continue
            replaces.delete_rows(conn, table, gone)
            counts = self.result.counts.setdefault(table, TableCounts())
            counts.deleted += len(gone)
            listed = self.result.deleted.setdefault(table, {"rows": [], "more": 0})
            for g in gone:
                old = replaces.old_values(table, g, self._people_masked, self._post_codes)
                self._log.append({"at": now, "actor": self.actor, "action": "import.delete", "table_name": table,
                                  "row_id": g.get("id"), "row_ref": self._preview_ref(table, g)[:200], "old": old,
                                  "new": {"replaces_row": r["row_no"]}})
                if len(listed["rows"]) < replaces.SHOWN:
                    listed["rows"].append({"ref": self._preview_ref(table, g),
                                           "fields": [[_field_zh(table, k), str(x)] for k, x in old.items()]})
                else:
                    listed["more"] += 1
        self.result.counts["replaces"].unchanged = self.result.counts["replaces"].rows

    def _person_id_map(self, conn: Connection) -> None:
        """Load persons (id -> masked ID number, name) once, as ``_person_id`` does."""
        if self._people is None:
            p = Person.__table__
            rows = conn.execute(select(p.c.id, p.c.id_hash, p.c.id_masked, p.c.name)).all()
            self._people = {h: i for i, h, _, _ in rows}
            self._people_masked = {i: m for i, _, m, _ in rows}
            self._people_names = {i: n for i, _, _, n in rows}

    def _merge_migrant_work(self, conn: Connection) -> None:
        self._merge_comparison(conn, "migrant_work", MigrantWork, ("end_date", "place"))

    def _merge_officials(self, conn: Connection) -> None:
        s = STAGES["officials"]
        self._insert_households(conn, s)
        hh = Household.__table__
        src = (select(*[c for c in s.c if c.name not in ("row_no", "household_code")],
                      hh.c.id.label("household_id")).outerjoin(hh, hh.c.code == s.c.household_code))
        self._merge(conn, "officials", src, Merge(
            Official.__table__, key=("id_hash", "role"),
            compare=("name", "unit", "district", "township", "village", "household_id"),
            ref=lambda r: f"{r['id_masked']} / {r['role']}"))

    # -- 4. the batch and the change log ---------------------------------------------------------

    def _record_batch(self, conn: Connection, path: Path, started: dt.datetime) -> None:
        changed = any(c.added or c.changed for c in self.result.counts.values())
        batches = ImportBatch.__table__
        self.result.batch_id = conn.execute(insert(batches).values(
            started_at=started, finished_at=dt.datetime.now(), actor=self.actor, source=path.name,
            sha256=_sha256(path), status="committed" if changed else "no_change",
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
        errors.append(RowError(table, row, column, value, reason, self._origins.get(table, "") if row else ""))
        if len(errors) >= self.limits.max_errors > 0 and not self._stopped:
            self._stopped = True
            errors.append(RowError("bundle", 0, "", "", f"错误过多：已发现 {len(errors)} 处错误，检查到此停止，"
                                   "后面的行未检查。请先改正以上错误（或确认是否选错了文件），再重新上传。"))
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


GRID_AS_ATTENDANCE = dataclasses.replace(BY_NAME["attendance"], name="attendance_grid", zh=BY_NAME["attendance_grid"].zh)


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


# Tables whose stage columns are exactly target columns: when the target is empty, rows go
# straight in (see Importer._load_table).
# Wages are always staged: their copies are numbered (seq) and their reversals checked in SQL.
DIRECT: dict[str, Table] = {m.__tablename__: m.__table__ for m in (
    Placement, WorkshopStaff, Attendance, Report, Death, SocialInsurance, Pension, Business, MigrantWork)}
DIRECT["attendance_grid"] = Attendance.__table__
# A replaced table's rows that the bundle holds: a 考勤表's days are attendance rows too.
HELD_IN: dict[str, tuple[str, ...]] = {"attendance": ("attendance", "attendance_grid")}


# ---- helpers ---------------------------------------------------------------------------------

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


def _convert(convert: Callable, x):
    """A cell's stage value: None for an empty cell, a CellError for a bad one."""
    if x is None or x == "" or (x.__class__ is str and not x.strip()):
        return None
    try:
        return convert(x)
    except CellError as exc:
        return exc
    except (ValueError, TypeError, ArithmeticError):  # a parser's blind spot must not end the import
        return CellError("无法识别的值")


def _month_and_day(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), day


def _month_and_day_iso(day: dt.date) -> tuple[str, str]:
    return day.replace(day=1).isoformat(), day.isoformat()


def _with_key(name: str, width: int = 64) -> tuple[str, str]:
    key = v.name_key(name)
    if len(key) > width:  # NFKC may widen a name (one ligature becomes many letters)
        raise CellError(f"内容过长（规范化后{len(key)}个字符），最多{width}个字符")
    return name, key


def _width(table: str, key: str) -> int | None:
    """The width of the column a text cell is stored in (None: unbounded or not stored as is)."""
    from models import Base

    target = Base.metadata.tables.get(table)
    if (table, key) in (("positions", "position_code"), ("workshops", "workshop_code")):
        target, key = Base.metadata.tables["posts"], "code"
    elif key == "household_id":  # a code of households; the row itself keeps the household's id
        target, key = Base.metadata.tables["households"], "code"
    col = target.c.get(key) if target is not None else None
    return getattr(col.type, "length", None) if col is not None else None


def _columns_out(numbers: list[int] | None, cols: list, widths: list[int]) -> list:
    """The stage columns of a chunk: the row number (if given), then each column's value(s), a
    tuple's parts as columns of their own (column by column: no Python loop runs per row)."""
    parts = [] if numbers is None else [numbers]
    for col, w in zip(cols, widths):
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


def _show(value) -> str:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    s = str(value)
    return s if len(s) <= 60 else s[:57] + "…"


def _display(column: str, r: Mapping, households: dict[int, str]) -> tuple[str, object, object]:
    """(label, old, new) of a changed column for the change log; never an ID or account number."""
    old, new = r[f"old_{column}"], r[column]
    if column.endswith("_hash"):
        masked = column.replace("_hash", "_masked")
        return masked, r[f"old_{masked}"], r[masked]
    if column == "household_id":
        return "household", households.get(old), households.get(new)
    if column.endswith("_fen") or column == "value_x100":
        return column.rsplit("_", 1)[0], yuan(old, grouping=False, none=None), yuan(new, grouping=False, none=None)
    if column == "category_mask":
        return "categories", ";".join(vocab.categories_of(old or 0)), ";".join(vocab.categories_of(new or 0))
    return column, _plain(old), _plain(new)


def _plain(x):
    return x.isoformat() if isinstance(x, (dt.date, dt.time)) else x


def _plain_text(x) -> str:
    return x.isoformat() if isinstance(x, (dt.date, dt.time)) else str(x)


# stored columns that are not named as the bundle's columns
_FIELD_KEYS = {"category_mask": "categories", "bank_hash": "bank_account", "account_hash": "account_number",
               "monthly_wage_fen": "monthly_wage", "value_x100": "value"}


def _field_zh(table: str, column: str) -> str:
    """A stored column by its header in the bundle (月补贴标准, 银行账号 …)."""
    key = _FIELD_KEYS.get(column, column)
    spec = BY_NAME.get(table)
    col = next((c for c in spec.columns if c.key == key), None) if spec else None
    return col.zh if col else key


def _shown_value(table: str, column: str, r: Mapping, x) -> str:
    """A value of a changed column as the preview shows it (``_display`` already masked it):
    money in yuan, empty as （空）."""
    if x is None or x == "":
        return "（空）"
    if column.endswith("_fen"):
        return f"{x} 元"
    if column == "value_x100":
        if r.get("metric") in vocab.MONEY_METRICS:
            return f"{x} 元"
        return x[:-3] if isinstance(x, str) and x.endswith(".00") else str(x)
    return str(x)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
