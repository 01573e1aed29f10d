"""Fuzzed bundles at the importer and at the web upload: random bytes, CSV with a right header and
wrong cells, workbooks with cells of any type, damaged workbooks and odd zips. Whatever arrives,
the answer is a refusal whose every reason is in Chinese: never an exception, never an HTTP 500,
and the database is exactly as it was (a valid bundle is loaded first, so that "as it was" is
something).

Every generated bundle is made to be refused: each table carries a row with a cell no parser takes
(in a CSV also a cell beyond the header), and the damaged workbooks hold only rows that are wrong.
So a bundle that loads is itself a failure of the test."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from flask import current_app
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import select

from audit.ledger import values as v
from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME, TABLES
from audit.ledger.values import CellError
from models import Position, Post, db

from helpers import base_tables, snapshot, write_bundle
from web_helpers import login, token

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the zips made so on purpose

# FUZZ_EXAMPLES=2000 to search longer than CI does
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=max(EXAMPLES // 2, 1))

CJK = re.compile(r"[\u3400-\u9fff]")
RAW = re.compile(r"Traceback|[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b|BadZipFile|\berrno\b")
BOM = b"\xef\xbb\xbf"
POISON = "无效的值"  # a cell that makes every generated bundle a refusal

# The tables of a ledger bundle and its other tables (households, posts, the import batches): a
# refused upload changes none of them.
LEDGER = {t.name for t in TABLES} | {"households", "posts", "import_batches"}


# ---- what a refusal must look like --------------------------------------------------------------

def clear(reason: str) -> bool:
    """A reason a user can read: not empty, Chinese, no exception name or traceback in it."""
    return bool(reason.strip()) and bool(CJK.search(reason)) and not RAW.search(reason)


def run(path: Path, dry_run: bool):
    return import_bundle(path, engine=db.engine, pii=current_app.extensions["pii"], dry_run=dry_run)


def assert_refused(path: Path, before: dict, *, may_be_empty: bool = False) -> None:
    """A dry run and a real run both refuse the bundle in Chinese and write nothing.

    ``may_be_empty``: a damaged workbook whose rows the damage took away entirely may be taken as
    a bundle of empty tables (nothing to load); only the dry run is tried then, as a real run would
    record a batch of nothing."""
    for dry_run in (True, False):
        result = run(path, dry_run)
        if result.ok and may_be_empty and dry_run:
            assert sum(c.rows for c in result.counts.values()) == 0, result.counts
            assert Snapshot(snapshot(db.engine)) == before
            return
        assert not result.ok, f"a bundle made to be refused was accepted (dry_run={dry_run})"
        unclear = [str(e) for e in result.errors if not clear(e.reason)]
        assert not unclear, unclear
        assert all(str(e) for e in result.errors)
        assert result.batch_id is None
        assert Snapshot(snapshot(db.engine)) == before, f"a refused bundle wrote (dry_run={dry_run})"


class Snapshot(dict):
    """Every row of the tables kept; short when Hypothesis prints a failing example's arguments."""

    def __repr__(self) -> str:
        return f"<snapshot of {len(self)} tables, {sum(map(len, self.values()))} rows>"


def ledger_snapshot() -> Snapshot:
    db.session.rollback()
    return Snapshot({k: rows for k, rows in snapshot(db.engine).items() if k in LEDGER})


# ---- a bundle, as files ---------------------------------------------------------------------------
# ("folder", [(name, bytes), ...]) is a folder of table files (uploaded as several files);
# ("file", name, bytes) one .zip or .xlsx.

def write_out(bundle, home: Path) -> Path:
    if bundle[0] == "folder":
        folder = home / "bundle"
        folder.mkdir()
        for name, data in bundle[1]:
            (folder / name).write_bytes(data)
        return folder
    _, name, data = bundle
    path = home / name
    path.write_bytes(data)
    return path


def fresh(tmp_path: Path) -> Path:
    """A folder of this example's own (function-scoped fixtures are shared by all examples)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


# ---- the valid rows that fuzzing starts from -------------------------------------------------------

def valid_rows() -> dict[str, list[dict[str, str]]]:
    """Rows of every table, valid against the base bundle (so that merges run); the tables the base
    bundle lacks get their template sample row."""
    from helpers import People

    rows = base_tables(People())  # the same ID numbers as the ``people`` fixture gives
    for spec in TABLES:
        rows.setdefault(spec.name, [{c.key: c.sample for c in spec.columns}])
    return rows


VALID = valid_rows()
TABLE_NAMES = [t.name for t in TABLES]


def poisoned(spec) -> dict[str, str]:
    """A valid row of the table with POISON in the first column whose parser refuses it."""
    for c in spec.columns:
        try:
            c.parse(POISON)
        except CellError:
            return {**VALID[spec.name][0], c.key: POISON}
    raise AssertionError(f"every column of {spec.name} takes {POISON!r}")


def header_of(spec, chinese: bool) -> list[str]:
    return [c.zh if chinese else c.key for c in spec.columns]


def cells_of(spec, row: dict[str, str]) -> list[str]:
    return [row.get(c.key, "") for c in spec.columns]


# ---- cells -----------------------------------------------------------------------------------------

NASTY = [
    "", " ", "\ufeff", "\ufeff500236", '"', '""', '"abc', 'a"b', "'", "\r", "\n", "\r\n", "\t", ",", "，",
    "=1+1", "=cmd|' /C calc'!A0", "-0", "1e400", "-1e400", "1e999999999", "Infinity", "-inf", "NaN", "sNaN",
    "9" * 19, "9" * 30, "9" * 5000, "-1", "0", "0.001", "1,5,0", "¥-5", "￥1,000.005", "1500元元",
    "2025-02-30", "2025-2-29", "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01", "2025年13月1日",
    "2025-13", "202513", "2025-1", "20251", "25:61", "24:00", "23:59:60", "-01:00", "８:００",
    "０", "𠀀𠀁", "\u202e\u202d", "\ufffd", "\ud7ff", "_x0000_", "null", "None", "#N/A", "#VALUE!",
    "张" * 64, "张" * 129, "X" * 200, "٥٠٠٢٣٦١٩٩٠٠١٠١٠٠١٣", "５００２３６１９９００１０１００１３",
    "500236190001010013", "50023620990101001X", "500236199001010013 ", "脱贫人口;;;未知", "4050", "出勤 ",
]


# Text of any character (some widen under NFKC), and long text of every width around the columns'.
SHORT_NFKC = st.characters(blacklist_categories=("Cs",))


def fuzz_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(SHORT_NFKC, max_size=24),
        st.text(alphabet="张王李0123456789-X;、 ", min_size=40, max_size=200),
        st.integers(-10**25, 10**25).map(str),
        st.floats().map(repr),
        st.dates(min_value=dt.date(1, 1, 1)).flatmap(lambda d: st.sampled_from([
            d.isoformat(), d.strftime("%Y/%m/%d"), f"{d.year}年{d.month}月{d.day}日", d.strftime("%Y%m"),
            d.strftime("%d/%m/%Y")])),
    )


def mutated(spec, rows: list[dict[str, str]]) -> st.SearchStrategy[list[str]]:
    """A valid row with one to three cells replaced by fuzz, or cut short, or made longer."""
    width = len(spec.columns)

    @st.composite
    def row(draw) -> list[str]:
        cells = cells_of(spec, draw(st.sampled_from(rows)))
        for _ in range(draw(st.integers(1, 3))):
            cells[draw(st.integers(0, width - 1))] = draw(fuzz_text())
        shape = draw(st.sampled_from(["same", "same", "same", "short", "long", "long-empty"]))
        if shape == "short":
            cells = cells[:draw(st.integers(0, width - 1))]
        elif shape == "long":
            cells += draw(st.lists(fuzz_text(), min_size=1, max_size=3))
        elif shape == "long-empty":
            cells += ["", ""]
        return cells

    return row()


# ---- CSV -------------------------------------------------------------------------------------------

ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "gbk", "mixed"]


def encode_line(line: str, encoding: str, rng: random.Random) -> bytes:
    if encoding == "mixed":  # a file put together from a UTF-8 and a GBK one
        encoding = rng.choice(["utf-8", "gbk"])
    if encoding == "gbk":
        try:
            return line.encode("gbk")
        except UnicodeEncodeError:
            return line.encode("gb18030")
    return line.encode("utf-8" if encoding == "utf-8-sig" else encoding)


@st.composite
def fuzzed_csv(draw, name: str | None = None) -> tuple[str, bytes]:
    """(file name, bytes) of one table: the right header, rows of fuzzed cells, then the poison row."""
    name = name or draw(st.sampled_from(TABLE_NAMES))
    spec = BY_NAME[name]
    header = header_of(spec, draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # now and then the header itself is damaged
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(st.sampled_from(["", header[(i + 1) % len(header)], draw(fuzz_text())]))
    rows = draw(st.lists(mutated(spec, VALID[name]), max_size=6))
    rows.append(cells_of(spec, poisoned(spec)) + [POISON])
    rows.insert(draw(st.integers(0, len(rows) - 1)), rows.pop())  # anywhere among them
    encoding = draw(st.sampled_from(ENCODINGS))
    quoting = draw(st.sampled_from(["csv", "csv", "raw"]))  # raw: no quoting, stray quotes stay stray
    newline = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    rng = random.Random(draw(st.integers(0, 2**16)))
    out = [BOM] if encoding == "utf-8-sig" else []
    for cells in [header, *rows]:
        if quoting == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator=newline).writerow(cells)
            line = buf.getvalue()
        else:
            line = ",".join(cells) + newline
        out.append(encode_line(line, encoding, rng))
    label = spec.zh if draw(st.booleans()) else spec.name
    return f"{label}.csv", b"".join(out)


@st.composite
def csv_bundles(draw):
    """A folder of one to three fuzzed tables, or the same zipped."""
    names = draw(st.lists(st.sampled_from(TABLE_NAMES), min_size=1, max_size=3, unique=True))
    files = [draw(fuzzed_csv(n)) for n in names]
    if draw(st.booleans()):
        return ("folder", files)
    return ("file", "台账.zip", zipped([(f"台账/{n}", d) for n, d in files]))


# ---- random bytes ----------------------------------------------------------------------------------

@st.composite
def random_bytes(draw):
    data = draw(st.binary(max_size=3000))
    kind = draw(st.sampled_from(["csv", "xlsx-in-folder", "xlsx", "zip", "zip-like"]))
    if kind in ("csv", "xlsx-in-folder"):
        assume(data not in (b"", BOM))  # an empty table is a table without rows: nothing to refuse
        suffix = ".csv" if kind == "csv" else ".xlsx"
        return ("folder", [(draw(st.sampled_from(TABLE_NAMES)) + suffix, data)])
    if kind == "zip-like":  # bytes that end like a zip: the central directory is read, and is garbage
        tail = b"PK\x05\x06" + draw(st.binary(min_size=18, max_size=18))
        return ("file", draw(st.sampled_from(["x.zip", "x.xlsx"])), b"PK\x03\x04" + data + tail)
    return ("file", f"x.{kind}", data)


# ---- workbooks -------------------------------------------------------------------------------------

LEGAL = SHORT_NFKC.filter(lambda c: not ILLEGAL_CHARACTERS_RE.match(c))
EXCEL_NASTY = ["=1/0", "=A1", "=SUM(A1:A3)", "=NOW()", "#N/A", "#DIV/0!", "_x0000_", "_xD800_", "TRUE", "",
               "  ", "\u3000", "=HYPERLINK(\"http://x\")", "'500236199001010013"]


def excel_value() -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.text(LEGAL, max_size=24),
        st.sampled_from(EXCEL_NASTY),
        st.sampled_from([x for x in NASTY if not ILLEGAL_CHARACTERS_RE.search(x)]),
        st.integers(-10**20, 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e300, -1e300, 1.7976931348623157e308, 5e-324, 0.1 + 0.2, 0.005, 1e16 + 1]),
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        st.dates(min_value=dt.date(1900, 1, 1)),
        st.times(),
        st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=400)),
        st.booleans(),
    )


def excel_cell(spec, key: str, text: str):
    """A valid cell as Excel holds it: dates as dates, money and counts as numbers."""
    if text == "":
        return None
    parse = spec.col(key).parse
    if parse is v.date:
        return dt.datetime.fromisoformat(text)
    if parse is v.time:
        return dt.time.fromisoformat(text)
    if parse in (v.money, v.decimal_x100, v.integer):
        x = float(text)
        return int(x) if x.is_integer() else x
    return text


@st.composite
def sheet_rows(draw, name: str) -> list[list]:
    spec = BY_NAME[name]
    width = len(spec.columns)
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        base = draw(st.sampled_from(VALID[name]))
        cells = [excel_cell(spec, c.key, base.get(c.key, "")) for c in spec.columns]
        for _ in range(draw(st.integers(1, 3))):
            cells[draw(st.integers(0, width - 1))] = draw(excel_value())
        if draw(st.integers(0, 4)) == 0:
            cells = [None] * width  # an empty row among the others
        elif draw(st.integers(0, 4)) == 0:
            cells += draw(st.lists(excel_value(), min_size=1, max_size=2))
        rows.append(cells)
    poison = [excel_cell(spec, c.key, poisoned(spec).get(c.key, "")) for c in spec.columns]
    rows.insert(draw(st.integers(0, len(rows))), poison)
    return rows


def workbook(sheets: list[tuple[str, list, list[list]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(header)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@st.composite
def xlsx_bundles(draw):
    """One workbook with a sheet per table, or a table's own workbook in a folder or a zip."""
    names = draw(st.lists(st.sampled_from(TABLE_NAMES), min_size=1, max_size=3, unique=True))
    sheets = []
    for n in names:
        spec = BY_NAME[n]
        chinese = draw(st.booleans())
        sheets.append((spec.zh if chinese else spec.name, header_of(spec, chinese), draw(sheet_rows(n))))
    if draw(st.integers(0, 3)) == 0:  # a sheet no table is named after
        sheets.append((draw(st.text(LEGAL.filter(lambda c: c not in "[]:*?/\\'"), min_size=1, max_size=20)
                            .filter(lambda s: s.strip() and s.lower() not in ("history",))),
                       ["a", "b"], [[1, 2]]))
    where = draw(st.sampled_from(["workbook", "folder", "zip"]))
    if where == "workbook":
        try:
            data = workbook(sheets)
        except ValueError:  # a title openpyxl refuses (two sheets of one name)
            assume(False)
        return ("file", "台账.xlsx", data)
    files = [(f"{title}.xlsx", workbook([(title, header, rows)])) for title, header, rows in sheets]
    if where == "folder":
        assume(len({n.lower() for n, _ in files}) == len(files))
        return ("folder", files)
    return ("file", "台账.zip", zipped(files))


def damaged_base(people_rows: dict[str, list[dict]]) -> bytes:
    """A workbook of persons and positions whose every row is wrong (a wrong check character, a
    negative wage): whatever rows survive a damage, each is refused."""
    persons = BY_NAME["persons"]
    prows = []
    for r in people_rows["persons"]:
        idn = r["id_number"]
        prows.append(cells_of(persons, {**r, "id_number": idn[:-1] + ("1" if idn[-1] == "0" else "0")}))
    positions = BY_NAME["positions"]
    qrows = [cells_of(positions, {**r, "monthly_wage": "-800"}) for r in people_rows["positions"]]
    return workbook([("persons", header_of(persons, False), prows),
                     ("公益性岗位", header_of(positions, True), qrows)])


DAMAGED = damaged_base(VALID)


def rezip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@st.composite
def damaged_xlsx(draw):
    """The workbook with bytes flipped, cut short, or one of its parts damaged (then zipped again,
    so that it is the XML, not the zip, that is wrong)."""
    data = bytearray(DAMAGED)
    how = draw(st.sampled_from(["flip", "cut", "part"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif how == "cut":
        data = data[:draw(st.integers(1, len(data) - 1))]
    else:
        with zipfile.ZipFile(io.BytesIO(DAMAGED)) as zf:
            members = [(i.filename, zf.read(i)) for i in zf.infolist()]
        i = draw(st.integers(0, len(members) - 1))
        name, part = members[i]
        part = bytearray(part)
        what = draw(st.sampled_from(["flip", "cut", "insert", "drop", "escape", "text"]))
        if what == "flip":
            for _ in range(draw(st.integers(1, 6))):
                part[draw(st.integers(0, len(part) - 1))] ^= draw(st.integers(1, 255))
        elif what == "cut":
            part = part[:draw(st.integers(0, max(len(part) - 1, 0)))]
        elif what == "insert":
            at = draw(st.integers(0, len(part)))
            part[at:at] = draw(st.sampled_from([b"<", b"&#0;", b"\x00", b"\xff\xfe", b"]]>", b"&unknown;",
                                                b'<c r="A1" t="s"><v>999</v></c>', b'<row r="0">']))
        elif what == "escape":  # Excel's _xHHHH_ escapes of NUL and half surrogates (openpyxl keeps them)
            part = bytearray(bytes(part).replace(b"<t>", b"<t>_x0000__xD800_", 1).replace(
                b"<t xml:space=\"preserve\">", b"<t xml:space=\"preserve\">_xDFFF_", 1))
        elif what == "text":
            part = bytearray(draw(st.binary(max_size=200)))
        if what == "drop":
            del members[i]
        else:
            members[i] = (name, bytes(part))
        data = bytearray(rezip(members))
    return ("file", draw(st.sampled_from(["台账.xlsx", "台账.xlsm"])), bytes(data))


# ---- zips --------------------------------------------------------------------------------------------

def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


class RawName(zipfile.ZipInfo):
    """An entry named in GBK without the UTF-8 flag (a zip tool on a Chinese Windows)."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk", errors="replace"), self.flag_bits & ~0x800


def csv_of(name: str, rows: list[dict]) -> bytes:
    spec = BY_NAME[name]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header_of(spec, False))
    for r in rows:
        w.writerow(cells_of(spec, r))
    w.writerow(cells_of(spec, poisoned(spec)) + [POISON])
    return buf.getvalue().encode()


@st.composite
def odd_zips(draw):
    """Zips as people and tools make them: nested folders, one name twice, a table under both its
    names, junk of macOS, folder entries, GBK names, other compressions, a damaged or encrypted
    entry."""
    tables = draw(st.lists(st.sampled_from(["persons", "positions", "placements", "deaths", "wages"]),
                           min_size=1, max_size=3, unique=True))
    entries: list[tuple[str, bytes]] = []
    for t in tables:
        depth = draw(st.sampled_from(["", "台账/", "a/b/c/", "./", "台账/../"]))
        label = BY_NAME[t].zh if draw(st.booleans()) else t
        entries.append((f"{depth}{label}.csv", csv_of(t, VALID[t])))
    odd = draw(st.lists(st.sampled_from(["twice", "both-names", "macosx", "dir", "junk", "gbk",
                                         "xlsx-garbage", "nested-zip"]), max_size=3))
    for o in odd:
        t = draw(st.sampled_from(tables))
        if o == "twice":
            entries.append(entries[tables.index(t)])
        elif o == "both-names":
            entries.append((f"{BY_NAME[t].zh}.csv", csv_of(t, VALID[t])))
        elif o == "macosx":
            entries.append((f"__MACOSX/._{t}.csv", b"\x00\x05\x16\x07garbage"))
        elif o == "dir":
            entries.append((f"{t}.csv/", b""))
        elif o == "junk":
            entries.append((draw(st.sampled_from(["说明.txt", ".DS_Store", "~$persons.xlsx", "Thumbs.db"])),
                            draw(st.binary(max_size=50))))
        elif o == "gbk":
            entries.append(("gbk:" + f"台账/{BY_NAME[t].zh}.csv", csv_of(t, VALID[t])))
        elif o == "xlsx-garbage":
            entries.append((f"{t}.xlsx", draw(st.binary(max_size=200))))
        elif o == "nested-zip":
            entries.append(("inner.zip", zipped([(f"{t}.csv", csv_of(t, VALID[t]))])))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                   zipfile.ZIP_LZMA]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            if name.startswith("gbk:"):
                info = RawName(name[4:])
                info.compress_type = method
                zf.writestr(info, data)
            else:
                zf.writestr(name, data)
    data = buf.getvalue()
    damage = draw(st.sampled_from(["none", "none", "crc", "encrypted", "method", "size"]))
    if damage == "size":  # the first entry claims 2 GiB
        data = bytearray(data)
        central = bytes(data).find(b"PK\x01\x02")
        data[central + 24:central + 28] = (0x7FFFFFFF).to_bytes(4, "little")
        data = bytes(data)
    elif damage != "none":
        data = damage_zip(data, damage)
    return ("file", draw(st.sampled_from(["台账.zip", "BUNDLE.ZIP"])), data)


# ---- the importer ------------------------------------------------------------------------------------

@pytest.fixture
def loaded(app, people, tmp_path) -> dict:
    """The base bundle, loaded: the snapshot every refused bundle must leave as it is."""
    assert run(write_bundle(tmp_path / "base", base_tables(people)), dry_run=False).ok
    return Snapshot(snapshot(db.engine))


@FUZZ
@given(bundle=random_bytes())
def test_random_bytes_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=csv_bundles())
def test_csv_with_fuzzed_cells_is_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=xlsx_bundles())
def test_workbooks_with_cells_of_any_type_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=damaged_xlsx())
def test_damaged_workbooks_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded, may_be_empty=True)


@FUZZ
@given(bundle=odd_zips())
def test_odd_zips_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


# ---- the web upload ------------------------------------------------------------------------------------

def post_files(client, bundle):
    files = bundle[1] if bundle[0] == "folder" else [(bundle[1], bundle[2])]
    return client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(d), n) for n, d in files],
                             "csrf_token": token(client, "/uploads/")})


def shown_reasons(html: str) -> list[str]:
    """The reasons of the errors table (its last column) and the flashed errors."""
    m = re.search(r'<table class="[^"]*errors-table">(.*?)</table>', html, re.S)
    reasons = []
    if m:
        for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)[1:]:
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            reasons.append(cells[4])  # 表, 行号, 列, 值, 原因, 文件或工作表
    reasons += re.findall(r'<div class="flash flash-error"[^>]*>(.*?)</div>', html, re.S)
    return reasons


@FEW
@given(bundle=st.one_of(random_bytes(), csv_bundles(), xlsx_bundles(), damaged_xlsx(), odd_zips()))
def test_fuzzed_uploads_are_refused_on_the_page_and_change_nothing(client, web, bundle):
    if client.get("/uploads/").status_code != 200:  # the first example signs in; the others are signed in
        login(client, "auditor_fj")
    before = ledger_snapshot()
    resp = post_files(client, bundle)
    assert resp.status_code == 303, resp.status_code
    where = resp.headers["Location"]
    resp = client.get(where)
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    if where.rstrip("/").endswith("/uploads"):  # refused as it arrived (e.g. one table twice)
        reasons = shown_reasons(html)
    else:
        if "正在检查台账" in html:  # a large upload is checked in the background
            from audit.uploads import jobs

            jobs.wait(int(where.rsplit("/", 1)[1]))
            html = client.get(where).get_data(as_text=True)
        failed = re.findall(r"检查未能完成：[^<]*", html)
        assert not failed, failed
        assert "导入被拒绝" in html and "数据库未做任何更改" in html
        assert "确认导入" not in html
        reasons = shown_reasons(html)
    assert reasons and all(clear(r) for r in reasons), reasons
    assert ledger_snapshot() == before


# ---- the cells and files that broke the import, one by one --------------------------------------------

def arabic_digits(s: str, keep_last: bool = False) -> str:
    """The digits of ``s`` as Arabic-Indic digits (``\\d`` matches them, and int() reads them)."""
    body = s[:-1] if keep_last else s
    return "".join(chr(0x660 + int(c)) for c in body) + (s[-1] if keep_last else "")


EXTREMES = [
    # table, column, value, how the reason begins
    ("positions", "monthly_wage", "9" * 19, "金额过大"),  # more than 64 bits of fen
    ("wages", "amount", "99999999999999999", "金额过大"),
    ("reports", "value", "9" * 25, "数值过大"),
    ("workshops", "baseline_poverty_headcount", "3000000000", "数值过大"),  # more than 32 bits
    ("workshops", "baseline_poverty_headcount", "1e400", "数值过大"),
    ("workshops", "baseline_poverty_headcount", "1e999999999", "数值过大"),  # int() of it took hours
    ("persons", "name", "张" * 129, "内容过长"),
    ("migrant_work", "place", "广" * 130, "内容过长"),
    ("persons", "id_number", arabic_digits(VALID["persons"][0]["id_number"], keep_last=True), "身份证号前17位应为数字"),
    ("persons", "bank_account", arabic_digits("6228480000000000011"), "银行账号应为6至32位数字"),
]


def one_cell_refused(tmp_path: Path, table: str, column: str, value, dry_runs=(True, False)) -> list[str]:
    """Import a valid row of ``table`` whose ``column`` holds ``value``: the reasons refusing it, if
    that cell is the one error and nothing was written (else an AssertionError)."""
    folder = write_bundle(Path(tempfile.mkdtemp(dir=tmp_path)), {table: [{**VALID[table][0], column: value}]})
    reasons = []
    for dry_run in dry_runs:
        before = Snapshot(snapshot(db.engine))
        result = run(folder, dry_run)
        zh = BY_NAME[table].col(column).zh  # errors name a column by its Chinese header
        assert [(e.table, e.row, e.column) for e in result.errors] == [(table, 2, zh)], result.errors
        assert Snapshot(snapshot(db.engine)) == before
        reasons.append(result.errors[0].reason)
    return reasons


def test_extreme_cells_are_row_errors(app, loaded, tmp_path):
    for table, column, value, reason in EXTREMES:
        for got in one_cell_refused(tmp_path, table, column, value):
            assert got.startswith(reason), (table, column, value[:20], got)
    assert Snapshot(snapshot(db.engine)) == loaded


WIDER = [("persons", "name", "张" * 65), ("persons", "phone", "1" * 33), ("persons", "name", "ﷺ" * 5),
         ("positions", "position_code", "G" * 65), ("positions", "title", "保" * 65),
         ("wages", "batch", "B" * 65), ("attendance", "device_id", "D" * 65), ("wages", "account_name", "张" * 65)]


def test_text_wider_than_its_column_is_refused(app, loaded, tmp_path):
    for table, column, value in WIDER:
        assert one_cell_refused(tmp_path, table, column, value, dry_runs=(False,))[0].startswith("内容过长")


def test_a_household_code_wider_than_its_column_is_refused(app, loaded, tmp_path):
    for table in ("persons", "officials"):
        reason = one_cell_refused(tmp_path, table, "household_id", "H" * 65, dry_runs=(False,))[0]
        assert reason.startswith("内容过长"), reason


def test_an_empty_required_days_is_the_default_20(app, loaded, tmp_path):
    for i, empty in enumerate(["", "  "]):
        code = f"GW-NEW-{i}"
        row = {**VALID["positions"][0], "position_code": code, "required_days": empty}
        result = run(write_bundle(tmp_path / code, {"positions": [row]}), dry_run=False)
        assert result.ok, result.errors
        db.session.rollback()
        assert db.session.scalar(select(Position.required_days).join(Post, Post.id == Position.id)
                                 .where(Post.code == code)) == 20


def damage_zip(data: bytes, how: str) -> bytes:
    """The first entry of a zip: its CRC wrong, marked encrypted, or compressed by a method zipfile
    does not know (6, imploding). In the local header flags are at 6, the method at 8; in the central
    directory's entry flags at 8, the method at 10, the CRC (which zipfile checks) at 16."""
    data = bytearray(data)
    central = bytes(data).find(b"PK\x01\x02")
    if how == "crc":
        data[central + 16] ^= 0xFF
    elif how == "encrypted":
        data[6] |= 0x01
        data[central + 8] |= 0x01
    else:
        data[8] = data[central + 10] = 6
    return bytes(data)


def test_an_unreadable_zip_entry_is_named(app, loaded, tmp_path):
    data = zipped([("persons.csv", csv_of("persons", VALID["persons"]))])
    for how, reason in [("crc", "压缩包中的 persons.csv 已损坏，无法解压"),
                        ("encrypted", "压缩包中的 persons.csv 设有密码"),
                        ("method", "压缩包中的 persons.csv 使用了不支持的压缩方式")]:
        path = tmp_path / f"{how}.zip"
        path.write_bytes(damage_zip(data, how))
        result = run(path, dry_run=True)
        assert [e.table for e in result.errors] == ["bundle"], result.errors
        assert result.errors[0].reason.startswith(reason), result.errors[0].reason
    assert Snapshot(snapshot(db.engine)) == loaded


def test_an_unmatched_quote_is_explained_in_chinese(app, loaded, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    rows = [",".join(header_of(BY_NAME["persons"], False))] + ['"王大山' + "，" * 70_000] * 3
    (folder / "persons.csv").write_text("\n".join(rows), encoding="utf-8")
    result = run(folder, dry_run=True)
    assert [str(e) for e in result.errors] == [
        f"persons.csv 第3行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
        "（常见原因：引号不成对，使后面的内容都并进了一个单元格）"]


def rewrite_part(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    assert any(n == part and old in d for n, d in members), part
    return rezip([(n, d.replace(old, new, 1) if n == part else d) for n, d in members])


def test_a_sheet_damaged_after_its_first_rows_is_refused_in_chinese(app, loaded, tmp_path):
    """A read-only sheet is parsed as it is read: the damage shows only then, after a header and a
    row were read."""
    persons = BY_NAME["persons"]
    data = workbook([("persons", header_of(persons, False),
                      [cells_of(persons, r) for r in VALID["persons"]])])
    path = tmp_path / "台账.xlsx"
    path.write_bytes(rewrite_part(data, "xl/worksheets/sheet1.xml", b'<row r="3"', b'<row r="3" <'))
    result = run(path, dry_run=True)
    assert [str(e) for e in result.errors] == [
        "台账.xlsx「persons」 无法作为 xlsx 读取（文件已损坏，或不是 Excel 工作簿），请用 Excel 重新保存后再上传"]
    assert Snapshot(snapshot(db.engine)) == loaded


def test_an_unreadable_region_is_explained_as_such_not_as_missing(client, web):
    """The scope check cannot read a district of 129 characters; it leaves the row to the importer,
    which says what is wrong, instead of calling the district empty."""
    login(client, "auditor_fj")
    before = ledger_snapshot()
    persons = BY_NAME["persons"]
    rows = [{**VALID["persons"][0], "district": "奉" * 129},
            {**VALID["persons"][1], "district": dt.date(2025, 1, 1)}]
    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.title = "persons"
    wb.active.append(header_of(persons, False))
    for r in rows:
        wb.active.append(cells_of(persons, r))
    wb.save(buf)
    resp = post_files(client, ("file", "台账.xlsx", buf.getvalue()))
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    reasons = shown_reasons(html)
    assert "内容过长（129个字符），最多128个字符" in reasons and "应为文本，不是日期" in reasons, reasons
    assert not [r for r in reasons if "未填写区县" in r], reasons
    assert ledger_snapshot() == before
