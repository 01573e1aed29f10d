"""The CSV files of a bundle: their encoding found by reading them as a stream, their rows and
their text (the importer's fast path), and the csv module's complaints in Chinese."""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from .schema import TableSpec
from .sources import CHUNK, BundleError, Source

UNREADABLE = "的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV"
HAS_NUL = "含有空字符（NUL），不是文本格式的 CSV"
ASCII = bytes(range(128))
# Bytes that are not ASCII, read as UTF-8, that tell a UTF-8 file (``scan_csv``): 16 Chinese characters.
# In GB18030 one character of GB2312 in seven reads as UTF-8 on its own, but no run of eight did in
# 200,000 random tries.
TOLD = 32


def scan_csv(opener, name: str) -> tuple[str, int]:
    """(encoding, lines) of a CSV, read as a stream of bytes (the bounds of a zip entry apply as it
    is read): UTF-8 (with or without BOM), else GB18030; a NUL, or bytes neither reads, is a
    ``BundleError``.

    The file is UTF-8 once ``TOLD`` bytes of its text that are not ASCII have read as UTF-8 (Chinese
    text in GB18030 never does for long), and the rest of it is then checked as its rows are read
    (``csv_source``: a byte further on that is not UTF-8 refuses the import, naming its line, rather
    than being read in another encoding). Before that, a byte that is not UTF-8 makes it GB18030,
    and the whole file must then read as GB18030 before a row is read."""
    lines = 0
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    told = 0  # bytes that are not ASCII, read as UTF-8 so far (counted until TOLD)
    with opener() as fh:
        while chunk := fh.read(CHUNK):
            # counted in the bytes: a NUL or a line feed is that one byte in UTF-8 and in GB18030
            # (whose multi-byte characters never hold a byte below 0x30), and never part of another
            if b"\x00" in chunk:
                raise _with_nul(opener, name)
            lines += chunk.count(b"\n")
            if told >= TOLD or chunk.isascii():
                continue
            pending = len(utf8.getstate()[0])  # bytes of a character the last block cut
            try:
                utf8.decode(chunk)  # (the text is not kept: only whether it decodes)
            except UnicodeDecodeError as exc:
                if told + len(chunk[:max(exc.start - pending, 0)].translate(None, ASCII)) < TOLD:
                    break  # GB18030, if anything
                raise BundleError(undecodable(opener, name)) from None
            told += len(chunk.translate(None, ASCII))
        else:
            try:
                if told < TOLD:
                    utf8.decode(b"", final=True)  # a character cut at the end of the file
                return "utf-8-sig", lines
            except UnicodeDecodeError:
                pass
    return "gb18030", _whole_gb18030(opener, name)


def _whole_gb18030(opener, name: str) -> int:
    """The lines of a file that must read as GB18030 from end to end."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    lines = 0
    try:
        with opener() as fh:
            while chunk := fh.read(CHUNK):
                decoder.decode(chunk)
                if b"\x00" in chunk:
                    raise BundleError(f"{name} {HAS_NUL}")
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise BundleError(f"{name} {UNREADABLE}") from None
    return lines


def _with_nul(opener, name: str) -> BundleError:
    """A file with a NUL: text that has one, if it reads as UTF-8 or GB18030 up to it; else a file
    in another encoding (UTF-16, as Excel saves "Unicode text", is full of NULs)."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with opener() as fh:
                while chunk := fh.read(CHUNK):
                    decoder.decode(chunk)
                    if b"\x00" in chunk:
                        return BundleError(f"{name} {HAS_NUL}")
        except UnicodeDecodeError:
            continue
    return BundleError(f"{name} {UNREADABLE}")


def csv_source(spec: TableSpec, name: str, opener) -> Source:
    encoding, lines = scan_csv(opener, name)

    def rows() -> Iterator[tuple]:
        with opener() as fh:
            reader = csv.reader(io.TextIOWrapper(fh, encoding=encoding, newline=""))
            try:
                yield from reader
            except csv.Error as exc:
                raise BundleError(csv_problem(name, reader.line_num, exc)) from None
            except UnicodeDecodeError:
                raise BundleError(undecodable(opener, name)) from None

    def text() -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(encoding)()  # utf-8-sig: without the BOM
        with opener() as fh:
            try:
                while chunk := fh.read(CHUNK):
                    yield decoder.decode(chunk)
                yield decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise BundleError(undecodable(opener, name)) from None

    return Source(spec, name, rows, approx_rows=max(lines - 1, 0), text=text)


def undecodable(opener, name: str) -> str:
    """The message for a file read as UTF-8 (``scan_csv``) with bytes further on that are not: it
    names the line of the first such byte, found by reading the file again."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line = 1
    with opener() as fh:
        while chunk := fh.read(CHUNK):
            pending = len(decoder.getstate()[0])  # bytes of a character the last block cut (no line feed)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[:max(exc.start - pending, 0)].count(b"\n")
                break
            line += chunk.count(b"\n")
    return (f"{name} 第{line}行有不是 UTF-8 编码的字符，而文件前面的内容是 UTF-8：文件{UNREADABLE}"
            "（常见原因：把不同编码的两个文件拼在了一起）")


def csv_problem(name: str, line: int, exc: csv.Error) -> str:
    """The csv module's complaint, for the user (its own words are English)."""
    if "field larger than field limit" in str(exc):
        return (f"{name} 第{line}行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
                "（常见原因：引号不成对，使后面的内容都并进了一个单元格）")
    return f"{name} 第{line}行附近格式错误，不是有效的 CSV（请检查引号是否成对）"
