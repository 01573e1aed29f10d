"""Checking the chain: every entry in order (``verify``), against the anchors written outside the
database (``check_anchors``, ``write_anchor``), both together (``check``, what ``audit verify-log``
and the scheduler's ``log_check`` run); and the one-time upgrade of a chain of the earlier format."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Engine, bindparam, func, select, update

from models import ChangeLog

from .chain import (
    CHUNK,
    GENESIS,
    append,
    at_text,
    columns,
    entry_hash,
    is_plain,
    keyed,
    last,
    lock,
    plain_hash,
)
from .key import KEY_FILE, chain_key, fingerprint

ANCHOR_GLOB = "anchor-*.json"
REKEYED = "log.rekeyed"

# what is wrong where (the words verify-log prints)
EDITED, MISSING, ORDER, ANCHOR, UNKEYED = "内容被修改", "缺少条目", "顺序错乱", "与锚点不符", "未加密钥"


# ---- verification -------------------------------------------------------------------------------

@dataclass
class Break:
    """Where the chain does not hold: the entry's position, what is wrong there, and the details
    (which entry, its time, which anchor)."""
    seq: int | None
    what: str  # 内容被修改 / 缺少条目 / 顺序错乱 / 与锚点不符 / 未加密钥
    detail: str

    def message(self) -> str:
        if self.seq is None:
            return f"日志链{self.what}：{self.detail}"
        return f"日志链在第 {self.seq} 条处断开（{self.what}）：{self.detail}"


@dataclass
class Verdict:
    ok: bool
    count: int  # entries found good, from the first
    last: dict[str, Any] | None = None  # the last good entry: seq, id, at, actor, action, hash
    problem: Break | None = None
    keyed: bool = True  # False: a chain of the earlier plain format

    @property
    def break_seq(self) -> int | None:
        return self.problem.seq if self.problem else None

    @property
    def reason(self) -> str | None:
        return self.problem.what if self.problem else None

    def message(self, whole: str = "日志链完整") -> str:
        """The verdict for people; ``whole`` names a chain without a break (「日志链完整」 only when
        the anchors hold too)."""
        if self.problem:
            return self.problem.message()
        if not self.last:
            return f"{whole}：共 0 条（日志为空）"
        x = self.last
        return (f"{whole}：共 {self.count} 条，最后一条 第 {x['seq']} 条（记录 id {x['id']}，"
                f"{at_text(x['at'])[:19]} {x['actor']} {x['action']}），哈希 {x['hash']}")


def _rows(conn: Connection) -> Iterator[Any]:
    """Every entry in ``seq`` order, read in chunks (keyset paging: constant memory)."""
    t = ChangeLog.__table__
    after = None
    while True:
        q = select(*columns()).order_by(t.c.seq).limit(CHUNK)
        if after is not None:
            q = q.where(t.c.seq > after)
        batch = conn.execute(q).all()
        yield from batch
        if len(batch) < CHUNK:
            return
        after = batch[-1].seq


def _who(r: Any) -> str:
    return f"记录 id {r.id}，{at_text(r.at)[:19]} {r.actor} {r.action}"


def _walk(rows: Iterable[Any], digest: Callable[[str, Any], str]) -> Verdict:
    """Walk the chain from the first entry and stop at the first break."""
    expected, prev, n, good = 1, GENESIS, 0, None
    for r in rows:
        if r.seq is None or r.seq != expected:
            if r.seq is not None and r.seq > expected:
                gap = f"第 {expected} 条" if r.seq == expected + 1 else f"第 {expected} 至 {r.seq - 1} 条"
                return Verdict(False, n, good,
                               Break(expected, MISSING, f"{gap}不存在，其后是第 {r.seq} 条（{_who(r)}）"))
            return Verdict(False, n, good, Break(expected, ORDER, f"序号为 {r.seq}（{_who(r)}）"))
        if r.prev_hash != prev:
            return Verdict(False, n, good,
                           Break(r.seq, ORDER, f"所记的前一条哈希与第 {r.seq - 1} 条不符（{_who(r)}）"
                                 if r.seq > 1 else f"第一条的前一条哈希不是全零（{_who(r)}）"))
        if digest(prev, r._mapping) != r.hash:
            return Verdict(False, n, good, Break(r.seq, EDITED, f"重新计算的哈希与所记不符（{_who(r)}）"))
        n, expected, prev = n + 1, expected + 1, r.hash
        good = {"seq": r.seq, "id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "hash": r.hash}
    return Verdict(True, n, good)


def verify(conn: Connection, rows: Iterable[Any] | None = None, key: bytes | None = None) -> Verdict:
    """Walk the chain from the first entry with the HMAC and stop at the first break. A chain of
    the earlier plain format (recognised by its first entry) is walked with plain SHA-256 to find a
    break in it, and is never called whole (see the module's docstring)."""
    key = key if key is not None else chain_key()
    it = iter(_rows(conn) if rows is None else rows)
    first = next(it, None)
    if first is None:
        return Verdict(True, 0)
    plain = first.seq == 1 and first.prev_hash == GENESIS and is_plain(first, key)

    def everything() -> Iterator[Any]:
        yield first
        yield from it

    if not plain:
        v = _walk(everything(), keyed(key))
        if v.problem and v.problem.seq == 1 and v.problem.what == EDITED:
            v.problem.detail += (f"；若其后各条也都不符，可能是密钥不对："
                                 f"AUDIT_LOG_KEY 或实例目录中的 {KEY_FILE} "
                                 f"不是写下日志时的密钥（当前密钥指纹 {fingerprint(key)}）")
        return v
    v = _walk(everything(), plain_hash)
    v.keyed = False
    if v.problem:
        v.problem.detail += "（此链为未加密钥的旧格式）"
        return v
    v.ok = False
    v.problem = Break(None, UNKEYED, (
        f"第 1 至 {v.count} 条是旧格式的链（不带密钥的 SHA-256），本身连贯，"
        "但任何能改数据库的人都能整条重建它，"
        "不能证明未被改写。若本库从未升级过，请运行 audit verify-log --upgrade 升级一次；"
        f"若已升级过（曾有 {REKEYED} 记录或本密钥写下的锚点），说明有人不用密钥重建了整条链"))
    return v


# ---- anchors ------------------------------------------------------------------------------------

@dataclass
class Anchor:
    seq: int
    hash: str
    source: str  # for people: 「锚点 anchor-2026-11-30.json（2026-11-30 03:00:00 于 host 记下）」
    key: str | None = None  # the fingerprint of the key it was written under


def anchor_dir() -> Path:
    """``LOG_ANCHOR_DIR`` (env ``AUDIT_LOG_ANCHOR_DIR``), default ``<instance>/../log-anchors``."""
    configured = current_app.config.get("LOG_ANCHOR_DIR") or os.environ.get("AUDIT_LOG_ANCHOR_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(current_app.instance_path).resolve().parent / "log-anchors"


def read_anchors(folder: Path) -> tuple[list[Anchor], list[Break]]:
    """Every anchor in the folder (by name, that is by day), and those that cannot be read."""
    found, bad = [], []
    if not folder.is_dir():
        return found, bad
    for p in sorted(folder.glob(ANCHOR_GLOB)):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            seq, digest = doc["seq"], doc["hash"]
            if not isinstance(seq, int) or seq < 1 or not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
                raise ValueError("seq 或 hash 不对")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            bad.append(Break(None, ANCHOR, f"锚点文件 {p} 无法读取（{exc}）"))
            continue
        found.append(Anchor(seq, digest,
                            f"锚点 {p.name}（{doc.get('time', '?')} 于 {doc.get('host', '?')} 记下）",
                            doc.get("key")))
    return found, bad


def legacy_anchors() -> list[Anchor]:
    """The day notes of the earlier ``log_check`` (``LOG_ANCHOR_FILE``, default
    ``instance/log-anchors.txt``: ``time seq hash`` a line), of an old-format chain."""
    path = Path(current_app.config.get("LOG_ANCHOR_FILE") or os.environ.get("LOG_ANCHOR_FILE")
                or Path(current_app.instance_path) / "log-anchors.txt")
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                out.append(Anchor(int(parts[1]), parts[2], f"{path.name} 中 {parts[0]} 记下的锚点"))
    return out


def check_anchors(conn: Connection, anchors: list[Anchor], key: bytes | None = None) -> list[Break]:
    """What is wrong with the entries noted earlier: gone (the log was cut back) or changed (the
    chain was rebuilt from there)."""
    if not anchors:
        return []
    t = ChangeLog.__table__
    seqs = sorted({a.seq for a in anchors})
    found: dict[int, Any] = {}
    for i in range(0, len(seqs), 500):
        for r in conn.execute(select(t.c.seq, t.c.hash, t.c.at).where(t.c.seq.in_(seqs[i:i + 500]))):
            found[r.seq] = r
    head, _ = last(conn)
    mine = fingerprint(key) if key is not None else None
    out = []
    for a in anchors:
        got = found.get(a.seq)
        if got is None:
            where = f"链现只到第 {head} 条，末尾的记录被删除" if a.seq > head else "这一条被删除"
            out.append(Break(a.seq, MISSING,
                             f"日志被截断：此前记下的第 {a.seq} 条已不存在（{a.source}；{where}）"))
        elif got.hash != a.hash:
            other = (f"；锚点由指纹 {a.key} 的密钥写下，当前密钥指纹 {mine}"
                     if a.key and mine and a.key != mine else "")
            out.append(Break(a.seq, ANCHOR, (
                f"第 {a.seq} 条（{at_text(got.at)[:19]}）的哈希现为 {got.hash[:16]}…，"
                f"{a.source}为 {a.hash[:16]}…：这条或更早的条目被改过、链被重建{other}")))
    return out


def write_anchor(seq: int, digest: str, day: dt.date, key: bytes, folder: Path | None = None,
                 now: dt.datetime | None = None) -> Path:
    """Note the head as the day's anchor (the day's earlier note, if any, is replaced: a later head
    vouches for everything before it). The file is 0600 and its folder 0700, written whole or not
    at all; the folder must be outside the instance folder."""
    folder = folder or anchor_dir()
    instance = Path(current_app.instance_path).resolve()
    target = folder.resolve()
    if target == instance or target.is_relative_to(instance):
        raise ValueError(f"锚点目录 {folder} 在实例目录内，未写锚点："
                         "请把 AUDIT_LOG_ANCHOR_DIR 指到实例目录以外"
                         "（最好是数据库管理员无权改写的存储）")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # a folder of another owner (shared storage): it stays as it is
        os.chmod(folder, 0o700)
    now = now or dt.datetime.now()
    doc = {"seq": seq, "hash": digest, "time": now.isoformat(sep=" ", timespec="seconds"),
           "host": socket.gethostname(), "key": fingerprint(key), "format": "HMAC-SHA256"}
    path = folder / f"anchor-{day.isoformat()}.json"
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ---- the whole check ----------------------------------------------------------------------------

@dataclass
class Report:
    """The chain and the anchors checked, for ``verify-log`` and the daily ``log_check``."""
    verdict: Verdict
    total: int  # entries in the log
    first: Any | None  # (seq, at) of the first and last entries there are
    final: Any | None
    anchors: int  # anchors checked
    folder: Path
    problems: list[Break] = field(default_factory=list)  # the anchors'
    key: str = ""  # fingerprint

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.problems

    def lines(self) -> list[tuple[str, bool]]:
        """What to say, each line with whether it reports a problem."""
        v = self.verdict
        fmt = f"HMAC-SHA256（密钥指纹 {self.key}）" if v.keyed else "不带密钥的 SHA-256（旧格式）"
        if self.total:
            span = (f"第 {self.first.seq} 条（{at_text(self.first.at)[:19]}）至第 {self.final.seq} 条"
                    f"（{at_text(self.final.at)[:19]}）")
            good = ("，逐条核对均无误" if v.ok else "" if not (v.problem and v.problem.seq)
                    else f"，其中前 {v.count} 条核对无误" if v.count else "，第 1 条即不符")
            out = [(f"已核对日志 {self.total} 条：{span}，链的算法为 {fmt}{good}", False)]
        else:
            out = [("日志为空，没有需要核对的条目", False)]
        bad = sum(1 for p in self.problems if p.seq is not None)
        unread = len(self.problems) - bad
        state = "均与日志一致" if not self.problems else "，".join(
            x for x in (f"{bad} 处不符" if bad else "", f"{unread} 个无法读取" if unread else "") if x)
        out.append((f"已核对锚点 {self.anchors} 个（锚点目录 {self.folder}）" + (f"：{state}" if self.anchors
                    or self.problems else "：目录中还没有锚点"), False))
        out.append((v.message() if not self.problems else v.message("哈希链本身逐条连贯，但与锚点核对有问题"),
                    not v.ok))
        out.extend((p.message(), True) for p in self.problems)
        return out


def check(conn: Connection, extra: list[Anchor] | None = None, key: bytes | None = None,
          folder: Path | None = None) -> Report:
    """Verify the chain and check it against every anchor in the folder (and ``extra``)."""
    key = key if key is not None else chain_key()
    folder = folder or anchor_dir()
    verdict = verify(conn, key=key)
    anchors, unreadable = read_anchors(folder)
    anchors += extra or []
    t = ChangeLog.__table__
    total = conn.execute(select(func.count()).select_from(t)).scalar_one()
    first = conn.execute(select(t.c.seq, t.c.at).order_by(t.c.seq).limit(1)).first()
    final = conn.execute(select(t.c.seq, t.c.at).order_by(t.c.seq.desc()).limit(1)).first()
    problems = unreadable + check_anchors(conn, anchors, key)
    return Report(verdict, total, first, final, len(anchors), folder, problems, fingerprint(key))


# ---- upgrading a chain of the earlier format ----------------------------------------------------

class UpgradeRefused(Exception):
    """The old chain cannot be upgraded; the message (Chinese) says where it does not hold."""


def upgrade(engine: Engine, *, actor: str, anchors: list[Anchor], key: bytes | None = None) -> str:
    """Re-chain an old-format (plain SHA-256) chain with the HMAC, once, in one transaction, after
    checking it whole (see the module's docstring). Returns what was done, for people; raises
    ``UpgradeRefused`` saying where the old chain does not hold."""
    key = key if key is not None else chain_key()
    fp = fingerprint(key)
    t = ChangeLog.__table__
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            lock(conn)
            first = conn.execute(select(*columns()).order_by(t.c.seq).limit(1)).first()
            if first is None:
                return "日志为空，无需升级"
            if first.hash == entry_hash(first.prev_hash, first._mapping, key):
                return f"日志链已是 HMAC-SHA256 链（密钥指纹 {fp}），无需升级"
            if not is_plain(first, key):
                raise UpgradeRefused(f"拒绝升级：第 {first.seq} 条既不是旧格式的哈希，也不是当前密钥的 HMAC"
                                     f"（{_who(first)}）：链被改过，或密钥不对")
            old = _walk(_rows(conn), plain_hash)
            if not old.ok:
                raise UpgradeRefused(f"拒绝升级：旧格式的日志链不完整，{old.problem.message()}")
            under_key = [a for a in anchors if a.key == fp]
            if under_key:
                raise UpgradeRefused(f"拒绝升级：{under_key[0].source}是用当前密钥写下的，"
                                     "说明本库的日志链此前已加密钥；"
                                     f"现在却是旧格式，说明有人不用密钥重建了整条链（{ANCHOR}）")
            problems = check_anchors(conn, anchors, key)
            if problems:
                raise UpgradeRefused("拒绝升级：" + "；".join(p.message() for p in problems))
            rekeyed = conn.execute(select(t.c.seq).where(t.c.action == REKEYED).limit(1)).scalar_one_or_none()
            if rekeyed is not None:
                raise UpgradeRefused(f"拒绝升级：第 {rekeyed} 条是 {REKEYED}，说明本库的日志链此前已加密钥；"
                                     "现在却是旧格式，说明有人不用密钥重建了整条链")
            old_head, count = old.last["hash"], old.count
            change = (update(t).where(t.c.id == bindparam("_id"))
                      .values(prev_hash=bindparam("_prev"), hash=bindparam("_hash")))
            prev, params = GENESIS, []
            for r in _rows(conn):
                h = entry_hash(prev, r._mapping, key)
                params.append({"_id": r.id, "_prev": prev, "_hash": h})
                prev = h
                if len(params) >= CHUNK:
                    conn.execute(change, params)
                    params = []
            if params:
                conn.execute(change, params)
            append(conn, [{"actor": actor, "action": REKEYED, "table_name": "change_log",
                           "row_ref": f"第 1 至 {count} 条",
                           "new": {"count": count, "old_head_seq": old.last["seq"], "old_head_hash": old_head,
                                   "key": fp, "format": "HMAC-SHA256"}}], key)
    return (f"已将旧格式的日志链升级为 HMAC-SHA256 链：重新计算了第 1 至 {count} 条的哈希（内容未变），"
            f"原链头 第 {old.last['seq']} 条 {old_head}；并记下第 {count + 1} 条 {REKEYED}（密钥指纹 {fp}）")


