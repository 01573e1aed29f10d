"""The bundle's own types: a ``Bundle`` of ``Source``s (one a table), its ``Limits``, and the
``BundleError`` that refuses it (audit/ledger/bundle.py opens one; csvfile.py, workbook.py and
zips.py read its files)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .schema import TableSpec


class BundleError(Exception):
    """The bundle cannot be read at all; the message is for the user."""


@dataclass(frozen=True)
class Limits:
    max_uncompressed: int = 4 << 30
    max_entries: int = 2000
    max_ratio: int = 1000
    max_xlsx_rows: int = 2_000_000
    max_xlsx_columns: int = 200
    max_xlsx_seconds: float = 600.0
    # row errors kept before the check stops (a file of junk rows, e.g. a zip bomb of a small ratio,
    # would otherwise keep millions of them in memory); the last one says that it stopped
    max_errors: int = 10_000
    # PostgreSQL: a CSV of attendance or wages from this many rows takes the importer's fast path
    # (audit/ledger/fast.py); a smaller one is read row by row
    fast_min_rows: int = 10_000

    @classmethod
    def from_config(cls, c) -> Limits:
        d = cls()
        return cls(c.get("IMPORT_MAX_UNCOMPRESSED_BYTES", d.max_uncompressed),
                   c.get("IMPORT_MAX_ENTRIES", d.max_entries), c.get("IMPORT_MAX_RATIO", d.max_ratio),
                   c.get("IMPORT_MAX_XLSX_ROWS", d.max_xlsx_rows),
                   c.get("IMPORT_MAX_XLSX_COLUMNS", d.max_xlsx_columns),
                   c.get("IMPORT_MAX_XLSX_SECONDS", d.max_xlsx_seconds),
                   c.get("IMPORT_MAX_ERRORS", d.max_errors),
                   fast_min_rows=c.get("IMPORT_FAST_MIN_ROWS", d.fast_min_rows))


CHUNK = 1 << 20  # bytes read at a time from a file or a zip entry


@dataclass
class Source:
    """One table of the bundle: where it came from and its rows (header first)."""

    spec: TableSpec
    origin: str  # file or sheet name, for messages
    _open: object  # () -> Iterator[tuple]
    approx_rows: int | None = None
    text: Callable[[], Iterator[str]] | None = None  # a CSV's text in blocks, decoded (importer's fast path)

    def rows(self) -> Iterator[tuple]:
        return self._open()


@dataclass
class Bundle:
    name: str
    sources: dict[str, Source] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for c in reversed(self._closers):
            c()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, spec: TableSpec, source: Source) -> None:
        if spec.name in self.sources:
            raise BundleError(
                f"表 {spec.label} 出现了两次（{self.sources[spec.name].origin} 和 {source.origin}），"
                "请只保留一个")
        self.sources[spec.name] = source
