"""A sheet's XML cut into blocks of whole rows, and the checks that decide whether calamine may
read a block (audit/ledger/workbook.py says why): bytes and regular expressions only, and the
thread that works ahead of the reader."""
from __future__ import annotations

import contextlib
import io
import queue
import re
import threading
from collections.abc import Iterator

from .sources import CHUNK, Limits

ROW_BYTES_MAX = 64 << 20  # a single row longer than this: openpyxl reads the sheet from there on
HEAD_BYTES_MAX = 1 << 20  # the part of a sheet's XML before <sheetData>
# a block's grid (32 bytes a cell) may have a cell per BYTES_PER_CELL bytes of the block, + GRID_SLACK:
# a filled cell takes 20 bytes and more (<c r="A1"><v>1</v></c>), so a grid of filled rows passes
BYTES_PER_CELL = 8
GRID_SLACK = 1 << 20
INT_EXACT = 10**15  # Excel keeps 15 digits: a whole number below this is the integer typed

_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)")
_ROOT = re.compile(rb"<(?![?!])([^\s/>]+)")
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
_ANY_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")


class Uncut(Exception):
    """The rest of a sheet cannot be cut into blocks of rows (``pending``: its bytes read so far)."""

    def __init__(self, pending: bytes):
        self.pending = pending


class Joined(io.RawIOBase):
    """``first`` and then the rest of ``rest``, as one stream."""

    def __init__(self, first: bytes, rest):
        self.first, self.rest = memoryview(first), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.first:
            n = min(len(buf), len(self.first))
            buf[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        data = self.rest.read(min(len(buf), CHUNK))
        buf[:len(data)] = data
        return len(data)


def row_blocks(fh, pending: bytes, size: int) -> Iterator[bytes]:
    """The <row> elements of a sheet's <sheetData> (``pending``: the bytes read after its start
    tag), whole rows of at most ``size`` bytes at a time (a longer row alone). Raises ``Uncut``
    for a row longer than ROW_BYTES_MAX, or cells after the last </row>."""
    done, want = False, size
    while True:
        if not done and len(pending) < want:
            parts, have = [pending], len(pending)
            while have < want:
                chunk = fh.read(CHUNK)
                if not chunk:
                    done = True
                    break
                parts.append(chunk)
                have += len(chunk)
            pending = b"".join(parts)
        end = pending.find(b"</sheetData>")
        if end >= 0:
            pending, done = pending[:end], True
        cut = pending.rfind(b"</row>", 0, size)
        if cut < 0:
            cut = pending.find(b"</row>")
        if cut < 0:
            if done:
                if _ANY_CELL.search(pending):
                    raise Uncut(pending)
                return
            if len(pending) > ROW_BYTES_MAX:
                raise Uncut(pending)
            want = len(pending) + CHUNK
            continue
        cut += len(b"</row>")
        yield pending[:cut]
        pending, want = pending[cut:], size


def _digits_between(lo: str, hi: str) -> str:
    """A regular expression of the numbers from ``lo`` to ``hi``, written with as many digits."""
    n = len(lo)
    if lo == hi:
        return lo
    if lo.strip("0") == "" and hi.strip("9") == "":
        return f"[0-9]{{{n}}}"
    if lo[0] == hi[0]:
        return lo[0] + "(?:" + _digits_between(lo[1:], hi[1:]) + ")"
    rest = f"[0-9]{{{n - 1}}}" if n > 1 else ""
    parts = [lo[0] + "(?:" + _digits_between(lo[1:], "9" * (n - 1)) + ")" if n > 1 else lo[0]]
    if int(hi[0]) - int(lo[0]) > 1:
        parts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" + rest)
    parts.append(hi[0] + "(?:" + _digits_between("0" * (n - 1), hi[1:]) + ")" if n > 1 else hi[0])
    return "|".join(parts)


def _rows_between(low: int, high: int) -> str:
    """A regular expression of the row numbers ``low`` to ``high`` (no leading zero)."""
    lo, hi = str(low), str(high)
    if len(lo) == len(hi):
        return _digits_between(lo, hi)
    parts = [_digits_between(lo, "9" * len(lo))]
    parts += [f"[1-9][0-9]{{{k - 1}}}" for k in range(len(lo) + 1, len(hi))]
    parts.append(_digits_between("1" + "0" * (len(hi) - 1), hi))
    return "|".join(parts)


def _columns_upto(column: int) -> str:
    """A regular expression of the column letters of columns 1 to ``column``."""
    from openpyxl.utils.cell import get_column_letter  # here: every `audit` command would load openpyxl

    letters = get_column_letter(max(1, min(column, 18278)))
    parts = [f"[A-Z]{{1,{len(letters) - 1}}}"] if len(letters) > 1 else []
    for i, ch in enumerate(letters):
        if ch > "A":
            parts.append(letters[:i] + f"[A-{chr(ord(ch) - 1)}]" + "[A-Z]" * (len(letters) - i - 1))
    parts.append(letters)
    return "|".join(parts)


_PLAIN_CELL = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')
# what may follow a cell's r in its start tag: calamine takes the last of two r attributes (<c r="A1"
# r="XFD1048576"> would ask for a grid of 17 billion cells), so nothing but the attributes Excel writes;
# no error cell (t="e": calamine reads #N/A as empty, openpyxl as the text "#N/A", a row error)
_CELL_ATTRIBUTES = r'(?:\s+(?:(?:[sp]|cm|vm|ph)="[^"<>]*"|t="(?!e")[^"<>]*"))*\s*/?>'


def grid_fits(block: bytes, limits: Limits) -> bool:
    """Whether calamine may read ``block`` (whole <row> elements): every cell a plain <c r="B7">
    with Excel's own attributes (none placed by its order, none namespace prefixed, no error cell),
    between the rows of the first and the last cell and within the column limit (first tried:
    within Z), as many "<" as ">" (openpyxl refuses a damaged tag that calamine reads past), the
    last row within the row limit, and the grid from the first row to the last at most a cell per
    BYTES_PER_CELL bytes of the block (+ GRID_SLACK). Cells out of order, sheets wider than allowed
    and the like are left to openpyxl. A few passes over the bytes: about 5 s per GB of sheet XML."""
    if _PREFIXED_CELL.search(block):  # a prefixed <x:c>
        return False
    if block.count(b"<") != block.count(b">"):  # a damaged tag (calamine reads past some), or a ">" in text
        return False
    first = _PLAIN_CELL.search(block)
    if first is None:
        return not _ANY_CELL.search(block)
    last = _PLAIN_CELL.match(block, block.rfind(b'<c r="'))
    if last is None:
        return False
    low, high = sorted((int(first.group(1)), int(last.group(1))))
    if high > limits.max_xlsx_rows + 1:
        return False
    rows = _rows_between(low, high)
    for width in sorted({min(26, limits.max_xlsx_columns), limits.max_xlsx_columns}):
        other = f'<c(?! r="(?:{_columns_upto(width)})(?:{rows})"{_CELL_ATTRIBUTES})[\\s/>]'.encode()
        if not re.search(other, block):
            return (high - low + 1) * width <= len(block) // BYTES_PER_CELL + GRID_SLACK
    return False


def grid_rows(grid) -> list[tuple[int, tuple]] | None:
    """(row number, row) of the filled rows of calamine's ``grid``; None if it cannot give them.
    Values as openpyxl gives them: an empty cell None, a whole number below INT_EXACT an int (calamine
    gives every number as a float; 2025.1 stays a float, an 18-digit ID typed as a number too)."""
    try:
        start = grid.start
        values = grid.to_python(skip_empty_area=True) if start is not None else []
    except Exception:
        return None
    if not values:
        return []
    top, left = start
    pad = (None,) * left
    out = []
    append = out.append
    for i, vals in enumerate(values):
        while vals and vals[-1] == "":
            vals.pop()
        if not vals:
            continue
        if "" in vals or float in map(type, vals):  # else (most rows of text) as they are
            vals = [None if v == "" else
                    int(v) if v.__class__ is float and v.is_integer() and -INT_EXACT < v < INT_EXACT else v
                    for v in vals]
        append((top + i + 1, pad + tuple(vals) if left else tuple(vals)))
    return out


def sheet_head(fh) -> tuple[bytes | None, bytes, bytes]:
    """(head, footer, rest) of a sheet's XML: ``head`` up to and including <sheetData>, or None
    if the sheet is not one we cut in blocks (its <sheetData> not found near the start, namespace
    prefixed, or not in UTF-8); ``rest`` the bytes read after the head (or all read, if None)."""
    buf, m = b"", None
    while len(buf) <= HEAD_BYTES_MAX:
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        buf += chunk
        m = _SHEET_DATA.search(buf)
        if m:
            break
    if m is None or m.group(1):
        return None, b"", buf
    enc = _ENCODING.match(buf)
    root = _ROOT.search(buf, 0, m.start())
    if (enc and enc.group(1).lower() not in (b"utf-8", b"utf8")) or root is None:
        return None, b"", buf
    if m.group(2):  # <sheetData/>: no rows
        return buf[:m.end()], b"", b""
    return buf[:m.end()], b"</sheetData></" + root.group(1) + b">", buf[m.end():]


class Ahead:
    """The items of ``make()``, made in a thread of their own at most ``depth`` ahead of the reader
    (the next blocks of a sheet are cut, checked and parsed by calamine while the importer works
    on the rows of this one). An exception there is raised here; ``close`` stops the thread."""

    def __init__(self, make, depth: int = 1):
        self.queue: queue.Queue = queue.Queue(depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make,), name="xlsx-blocks", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, make) -> None:
        items = make()
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((False, None))
        except BaseException as exc:  # handed to the reader, who raises it
            self._put((False, exc))
        finally:
            items.close()

    def __iter__(self):
        while True:
            more, item = self.queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get(timeout=0.1)
        self.thread.join()
