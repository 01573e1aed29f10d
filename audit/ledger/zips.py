"""Zip entries read within bounds: a zip's declared sizes checked before a byte is read
(``check_zip``), and each entry counted as it is inflated (``open_entry``): a zip bomb, a damaged,
encrypted or oddly compressed entry is a ``BundleError`` with a Chinese message."""
from __future__ import annotations

import io
import sys
import zipfile

from .sources import CHUNK, BundleError, Limits


def zip_name(info: zipfile.ZipInfo) -> str:
    """Entry names without the UTF-8 flag: UTF-8 all the same (macOS), else GBK (Chinese Windows)."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="ignore")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


WHOLE_PARTS = ("sharedStrings.xml", "styles.xml")
WHOLE_PART_RATIO = 50  # their real ratio is a few to one: every string is stored there once


def check_zip(zf: zipfile.ZipFile, what: str, limits: Limits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise BundleError(f"{what} 含 {len(infos)} 个条目，超过上限 {limits.max_entries}，拒绝解析")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed:
        biggest = max(infos, key=lambda i: i.file_size)
        raise BundleError(
            f"{what} 解压后共 {total / 2**20:.0f} MiB"
            f"（其中 {zip_name(biggest)} {biggest.file_size / 2**20:.0f} MiB），"
            f"超过上限 {limits.max_uncompressed / 2**20:.0f} MiB，拒绝解析（疑似压缩炸弹）")
    for i in infos:
        # the parts of an xlsx that openpyxl reads whole (shared strings, styles) hold each text once:
        # they never compress like a table's rows, and a bomb there would be read whole into memory
        ratio = (min(limits.max_ratio, WHOLE_PART_RATIO) if i.filename.endswith(WHOLE_PARTS)
                 else limits.max_ratio)
        if i.file_size > (1 << 20) and i.file_size > ratio * max(i.compress_size, 1):
            raise BundleError(f"{what} 中的 {i.filename} 压缩比异常（疑似压缩炸弹），拒绝解析")


def _entry_problem(name: str) -> BundleError:
    """A damaged, encrypted or oddly compressed entry, for the user (call in an ``except``)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, BundleError):
        return exc
    if isinstance(exc, NotImplementedError):  # before RuntimeError, of which it is a kind
        return BundleError(f"压缩包中的 {name} 使用了不支持的压缩方式，请用常见的 zip 工具重新打包后再上传")
    if isinstance(exc, RuntimeError):  # zipfile's word for an encrypted entry
        return BundleError(f"压缩包中的 {name} 设有密码，请不加密重新打包后再上传")
    # a wrong CRC, a truncated or damaged stream (zlib, bz2, lzma errors, EOFError)
    return BundleError(f"压缩包中的 {name} 已损坏，无法解压，请重新打包后再上传")


class _Counted(io.RawIOBase):
    """A zip entry read as a stream, its bytes counted as they come out of the decompressor: past
    the size limit, or past ``max_ratio`` times its compressed size, the read stops with a
    ``BundleError`` naming the entry. (Never trust the sizes the zip declares.) ``budget`` (one per
    zip: entry -> the most bytes read from it) bounds the whole zip's inflated size the same way."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits,
                 budget: dict | None = None):
        self.name, self.limits, self.count, self.raw = name, limits, 0, None
        self.packed = max(info.compress_size, 1)
        self.budget = {} if budget is None else budget
        try:
            self.raw = zf.open(info)
        except Exception:
            raise _entry_problem(name) from None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self.raw.read(min(len(buf), CHUNK))
        except Exception:
            raise _entry_problem(self.name) from None
        n = len(data)
        buf[:n] = data
        self.count += n
        lim = self.limits
        if self.count > self.budget.get(self.name, 0):
            self.budget[self.name] = self.count
        if sum(self.budget.values()) > lim.max_uncompressed:
            raise BundleError(f"压缩包中的 {self.name} 解压后（连同其他文件）"
                              f"超过上限 {lim.max_uncompressed / 2**20:.0f} MiB，"
                              "拒绝解析（疑似压缩炸弹）")
        if self.count > (1 << 20) and self.count > lim.max_ratio * self.packed:
            raise BundleError(f"压缩包中的 {self.name} 压缩比超过 {lim.max_ratio}:1"
                              "（疑似压缩炸弹），拒绝解析")
        return n

    def close(self) -> None:
        if not self.closed and self.raw is not None:
            self.raw.close()
        super().close()


def open_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits = Limits(),
               budget: dict | None = None):
    """An entry as a buffered binary stream, bounded as ``_Counted`` says."""
    return io.BufferedReader(_Counted(zf, info, name, limits, budget), CHUNK)


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits = Limits()) -> bytes:
    """An entry's bytes (bounded); a damaged, encrypted or oddly compressed entry is a ``BundleError``."""
    with open_entry(zf, info, name, limits) as fh:
        return fh.read()
