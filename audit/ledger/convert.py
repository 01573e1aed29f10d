"""Reading a table's cells into stage values (the importer's step 1): each column converts each
of its distinct values once, and conversion includes resolution (an ID number to its person, a
post code to its post). ``Converting`` is the part of ``importer.Importer`` that does it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from sqlalchemy import (
    Connection,
    select,
)

from audit.pii import mask_account, mask_id
from models import (
    Person,
    Post,
)

from . import values as v
from .bundle import Source
from .schema import BY_NAME, IGNORED, SAMPLE_KEYS, TableSpec, header_key, sample_mark
from .values import CellError

CACHE_MAX = 200_000
CONTROL_ROWS_SHOWN = 50  # rows named in the warning about removed control characters


@dataclass
class _Column:
    index: int  # cell index in the row, -1 if the column is absent
    key: str
    header: str
    convert: Callable
    required: bool
    width: int  # how many stage columns the converted value fills (tuples)
    cache: dict = field(default_factory=dict)  # cell -> converted value, as the careful way keeps it
    parts: list[_Part] = field(default_factory=list)  # the streamed way's, made when first streamed

    def plain(self, x):
        """The converted value of cell ``x`` if it is plainly good; else ``Unsure``."""
        got = self.cache.get(x, _ABSENT)
        if got is _ABSENT:
            if v.has_controls(x) or (self.key in SAMPLE_KEYS and sample_mark(self.key, x)):
                raise Unsure
            got = self.cache[x] = convert_cell(self.convert, x)
        if got.__class__ is CellError or (got is None and self.required):
            raise Unsure
        return got


class Unsure(Exception):
    """A cell that the streamed conversion (``Converting.streamed``) does not write: one that does
    not convert, a required one left empty, one with invisible control characters, one with a
    template sample's mark. Its chunk is converted the careful way (``_convert_chunk``), which
    names the row."""


_ABSENT = object()


class _Part(dict):
    """Cell -> part ``j`` of its column's converted value (the value itself in a column of width 1),
    each distinct cell converted once (``_Column.plain``)."""

    def __init__(self, column: _Column, j: int):
        super().__init__()
        self.column, self.j = column, j

    def __missing__(self, x):
        got = self.column.plain(x)
        if self.column.width > 1 and got is not None:
            got = got[self.j]
        self[x] = got
        return got


class Converting:
    """Step 1 of ``importer.Importer``: the file's columns, their converters and a chunk's conversion."""

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
            want = {"position_code": "position", "workshop_code": "workshop",
                    "subject_code": "workshop"}.get(key)
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

    def _warn_controls(self, spec: TableSpec) -> None:
        """One warning for the table naming the rows whose invisible characters were removed."""
        rows, total, _ = self._controls.pop(spec.name, ((), 0, 0))
        if not total:
            return
        shown = "、".join(map(str, rows))
        more = f" 等{total}行" if total > CONTROL_ROWS_SHOWN else ""
        self.result.warnings.append(f"{spec.label} 第 {shown} 行{more}：已删除不可见的控制字符")

    def _fitted(self, numbers: list[int], chunk: list, width: int, spec: TableSpec,
                unnamed: list[int]) -> tuple[list[int], list]:
        """The rows of a chunk as wide as the header, without those refused as errors."""
        kept_numbers, kept = [], []
        for row_no, row in zip(numbers, chunk, strict=True):
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

    def streamed(self, columns: list[_Column], chunk: list, numbers: list[int] | None,
                 constants: dict[int, object]) -> Iterator[tuple]:
        """The stage rows of a chunk, converted as they are read (by executemany): the row number
        (if ``numbers``), then each column's parts, ``constants`` (part position -> value) put in.
        No step per row runs in Python, and no list is made per column: each part maps the cells
        through its ``_Part``. Raises ``Unsure``, as it is read, at a cell the careful way must see:
        what was written of the chunk must then be undone (``writers.Writer.rows``)."""
        parts: list = []
        for c in columns:
            if c.index < 0:
                if c.required:
                    raise Unsure
                parts.extend(repeat(None) for _ in range(c.width))
                continue
            if len(c.cache) > CACHE_MAX:
                c.cache.clear()
            if not c.parts:
                c.parts = [_Part(c, j) for j in range(c.width)]
            cells = itemgetter(c.index)
            for part in c.parts:
                if len(part) > CACHE_MAX:
                    part.clear()
                parts.append(map(part.__getitem__, map(cells, chunk)))
        for at, value in sorted(constants.items()):
            parts.insert(at, repeat(value))
        if numbers is not None:
            parts.insert(0, numbers)
        return zip(*parts, strict=False)  # the constants repeat without end

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
                cache[x] = convert_cell(c.convert, x)
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
                record = {k: col[i] for k, col in zip(keys, cols, strict=True)}
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

    def _sample_rows(self, spec: TableSpec, columns: list[_Column], chunk: list,
                     numbers: list[int]) -> set[int]:
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
                                f"第 {numbers[i]} 行是模板示例行，请删除后再导入"
                                "（模板中的示例行只用于说明填法，"
                                "其编号、姓名以「示例」开头，身份证号以 000000 开头）")
        return found

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

    def _person_id_map(self, conn: Connection) -> None:
        """Load persons (id -> masked ID number, name) once, as ``_person_id`` does."""
        if self._people is None:
            p = Person.__table__
            rows = conn.execute(select(p.c.id, p.c.id_hash, p.c.id_masked, p.c.name)).all()
            self._people = {h: i for i, h, _, _ in rows}
            self._people_masked = {i: m for i, _, m, _ in rows}
            self._people_names = {i: n for i, _, _, n in rows}


def convert_cell(convert: Callable, x):
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


def _show(value) -> str:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    s = str(value)
    return s if len(s) <= 60 else s[:57] + "…"

