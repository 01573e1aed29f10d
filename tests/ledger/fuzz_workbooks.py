"""Fuzzed workbooks (cells of any type, damaged parts) and odd zips, for tests/ledger/test_fuzz_import.py."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import openpyxl
from hypothesis import assume
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from audit.ledger import values as v
from audit.ledger.schema import BY_NAME

from fuzz_bundles import NASTY, POISON, SHORT_NFKC, TABLE_NAMES, VALID, cells_of, header_of, poisoned, zipped

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
    """A valid cell as Excel holds it: dates as dates, money and counts as numbers. Not
    ``bundle_files.excel_cell``: a month stays text here, as the poisoned rows put any text there."""
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


def rewrite_part(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    assert any(n == part and old in d for n, d in members), part
    return rezip([(n, d.replace(old, new, 1) if n == part else d) for n, d in members])
