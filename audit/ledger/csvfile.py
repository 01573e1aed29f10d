"""The CSV files of a bundle: their encoding found by reading them as a stream, their rows and
their text (the importer's fast path), and the csv module's complaints in Chinese."""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from .schema import TableSpec
from .sources import CHUNK, BundleError, Source


def decode_csv(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB18030 (what Excel on a Chinese Windows saves)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BundleError(f"{name} 的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV") from None


def scan_csv(opener, name: str) -> tuple[str, int]:
    """(encoding, lines) of a CSV, read as a stream (the bounds of a zip entry apply as it is read):
    UTF-8 (with or without BOM), else GB18030; a NUL or another encoding is a ``BundleError``."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with opener() as fh:
                while chunk := fh.read(CHUNK):
                    decoder.decode(chunk)  # (the text is not kept: only whether it decodes)
                    # counted in the bytes: a NUL or a line feed is that one byte in UTF-8 and in GB18030
                    # (whose multi-byte characters never hold a byte below 0x30), and never part of another
                    if b"\x00" in chunk:
                        raise BundleError(f"{name} 含有空字符（NUL），不是文本格式的 CSV")
                    lines += chunk.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
    raise BundleError(f"{name} 的编码无法识别，请另存为 UTF-8 或 GB18030 编码的 CSV")


def csv_source(spec: TableSpec, name: str, opener) -> Source:
    encoding, lines = scan_csv(opener, name)

    def rows() -> Iterator[tuple]:
        with opener() as fh:
            reader = csv.reader(io.TextIOWrapper(fh, encoding=encoding, newline=""))
            try:
                yield from reader
            except csv.Error as exc:
                raise BundleError(csv_problem(name, reader.line_num, exc)) from None

    def text() -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(encoding)()  # utf-8-sig: without the BOM
        with opener() as fh:
            while chunk := fh.read(CHUNK):
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)

    return Source(spec, name, rows, approx_rows=max(lines - 1, 0), text=text)


def csv_problem(name: str, line: int, exc: csv.Error) -> str:
    """The csv module's complaint, for the user (its own words are English)."""
    if "field larger than field limit" in str(exc):
        return (f"{name} 第{line}行附近有一个单元格超过 {csv.field_size_limit():,} 个字符，不是有效的 CSV"
                "（常见原因：引号不成对，使后面的内容都并进了一个单元格）")
    return f"{name} 第{line}行附近格式错误，不是有效的 CSV（请检查引号是否成对）"
