"""Opening a ledger bundle: a folder, a .zip of that folder, or one .xlsx workbook.

Everything that concerns the bundle as a whole (unreadable files, zip bombs, a table given twice)
raises ``BundleError`` with a Chinese message before a single row is parsed."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from functools import partial
from pathlib import Path, PurePosixPath

from .csvfile import csv_source
from .schema import TableSpec, table_for
from .sources import CHUNK, Bundle, BundleError, Limits, Source
from .workbook import open_workbook
from .zips import check_zip, open_entry, zip_name

# the bundle's types, imported from here by the importer, the uploads and the tests
__all__ = ["Bundle", "BundleError", "Limits", "Source", "open_bundle"]


def open_bundle(path: str | Path, limits: Limits = Limits()) -> Bundle:
    p = Path(path)
    if not p.exists():
        raise BundleError(f"找不到 {p}")
    bundle = Bundle(name=p.name)
    try:
        if p.is_dir():
            _open_folder(bundle, p, limits)
        elif p.suffix.lower() == ".zip":
            _open_zip(bundle, p, limits)
        elif p.suffix.lower() in (".xlsx", ".xlsm"):
            open_workbook(bundle, p, p.name, limits, whole_bundle=True)
        elif p.suffix.lower() == ".csv":
            raise BundleError("单个 CSV 文件不是台账包：请把各表的 CSV 放在一个文件夹（或其 zip）中，"
                              "文件名为表名，如 persons.csv")
        else:
            raise BundleError(f"无法识别的台账包：{p.name}（应为文件夹、.zip 或 .xlsx）")
    except BaseException:
        bundle.close()
        raise
    if not bundle.sources:
        bundle.close()
        raise BundleError(f"{p.name} 中没有可识别的表（文件或工作表应以表名命名，如 persons.csv、人员信息）")
    return bundle


# ---- folders and zips ------------------------------------------------------------------------

def _table_file(bundle: Bundle, name: str) -> tuple[TableSpec, str] | None:
    """(spec, suffix) for a file name that names a table; a warning for other visible files."""
    pure = PurePosixPath(name)
    if pure.name.startswith((".", "~$")) or "__MACOSX" in pure.parts:
        return None
    suffix = pure.suffix.lower()
    spec = table_for(pure.stem) if suffix in (".csv", ".xlsx", ".xlsm") else None
    if spec is None:
        bundle.warnings.append(f"未识别的文件 {name}，已忽略（文件名应为表名，如 persons.csv）")
        return None
    return spec, suffix


def _open_folder(bundle: Bundle, folder: Path, limits: Limits) -> None:
    files = sorted(f for f in folder.iterdir() if f.is_file())
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if not files and len(subdirs) == 1:  # a folder holding the bundle folder
        return _open_folder(bundle, subdirs[0], limits)
    for f in files:
        hit = _table_file(bundle, f.name)
        if hit:
            spec, suffix = hit
            _add_file(bundle, spec, f.name, suffix, partial(open, f, "rb"), limits)


def _open_zip(bundle: Bundle, path: Path, limits: Limits) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except Exception:  # BadZipFile, and on a damaged central directory ValueError, EOFError, …
        raise BundleError(f"{path.name} 不是有效的 zip 文件（文件已损坏或不完整）") from None
    bundle._closers.append(zf.close)
    check_zip(zf, path.name, limits)
    budget: dict[str, int] = {}
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = zip_name(info)
        hit = _table_file(bundle, name)
        if hit:
            spec, suffix = hit
            _add_file(bundle, spec, name, suffix, partial(open_entry, zf, info, name, limits, budget), limits)


def _add_file(bundle: Bundle, spec: TableSpec, name: str, suffix: str, opener, limits: Limits) -> None:
    if suffix == ".csv":
        bundle.add(spec, csv_source(spec, name, opener))
    else:  # a workbook inside the zip: copied, bounded, to a temporary file (never whole in memory)
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - the bundle closes it
        bundle._closers.append(spool.close)
        with opener() as fh:
            shutil.copyfileobj(fh, spool, CHUNK)
        spool.seek(0)
        open_workbook(bundle, spool, name, limits, whole_bundle=False, spec=spec)
