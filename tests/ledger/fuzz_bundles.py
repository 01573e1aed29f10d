"""The fuzzing of ledger bundles (tests/ledger/test_fuzz_import.py): what a refusal must look like, a
bundle as files, the valid rows that fuzzing starts from, fuzzed cells, CSV and random bytes."""
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

from flask import current_app
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from audit.ledger.importer import import_bundle
from audit.ledger.schema import BY_NAME, TABLES
from audit.ledger.values import CellError
from models import db

from helpers import base_tables, snapshot
from web_helpers import token

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


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


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
