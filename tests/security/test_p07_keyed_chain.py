"""P7 (issue 13): the audit log's chain is keyed (HMAC-SHA256 with a key the database does not hold)
and its head is anchored outside the instance folder. Someone with database access who edits an
entry and recomputes the chain — with plain SHA-256, as anyone could before, or with a key of their
own — is found at the entry they edited; a history rebuilt by someone who has the key no longer
matches an anchor written by ``audit verify-log --anchor``; an old plain chain is upgraded once,
and refused when it is broken."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from audit import create_app
from audit.auditlog import record_now
from audit.logchain import GENESIS, canonical
from models import ChangeLog, db

log = ChangeLog.__table__


def write_entries(n: int) -> None:
    for i in range(n):
        record_now("test.entry", table="t", ref=f"第{i + 1}条", new={"amount": 100 + i})


def rows() -> list:
    with db.engine.connect() as conn:
        return conn.execute(select(log).order_by(log.c.seq)).all()


def sha256_chain(prev: str, row) -> str:
    """What an attacker without the key computes: the published format, plain SHA-256."""
    return hashlib.sha256((prev + canonical(row._mapping)).encode()).hexdigest()


def hmac_chain(key: bytes):
    def digest(prev: str, row) -> str:
        return hmac.new(key, (prev + canonical(row._mapping)).encode(), hashlib.sha256).hexdigest()
    return digest


def rechain(digest, start: int = 1) -> None:
    """Recompute ``prev_hash`` and ``hash`` from entry ``start`` on, straight in the database."""
    every = rows()
    prev = GENESIS if start == 1 else every[start - 2].hash
    with db.engine.begin() as conn:
        for r in every[start - 1:]:
            h = digest(prev, r)
            conn.execute(update(log).where(log.c.id == r.id).values(prev_hash=prev, hash=h))
            prev = h


def edit(seq: int, new: dict) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(log).where(log.c.seq == seq).values(new=new))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_edit_rechained_with_plain_sha256_is_found_at_the_entry_edited(app, runner):
    write_entries(6)
    assert runner.invoke("verify-log").exit_code == 0
    edit(4, {"amount": 1})  # someone with database access "corrects" entry 4 ...
    rechain(sha256_chain, start=4)  # ... and recomputes the chain from there as anyone could before
    r = runner.invoke("verify-log")
    assert r.exit_code == 1
    victim = rows()[3]
    assert "日志链在第 4 条处断开（内容被修改）" in r.output
    assert f"记录 id {victim.id}，{victim.at:%Y-%m-%d %H:%M:%S}" in r.output  # which entry, and its time
    assert "日志链完整" not in r.output
    assert "已核对日志 6 条：第 1 条" in r.output and "其中前 3 条核对无误" in r.output


def test_the_whole_chain_rebuilt_with_plain_sha256_is_never_called_whole(app, runner):
    write_entries(5)
    assert runner.invoke("verify-log", "--anchor").exit_code == 0  # the day's anchor: head 5
    edit(2, {"amount": 1})
    rechain(sha256_chain)  # every hash recomputed from the first, in the old format
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "日志链完整" not in r.output
    assert "未加密钥" in r.output and "audit verify-log --upgrade" in r.output
    assert "日志链在第 5 条处断开（与锚点不符）" in r.output
    # and it cannot be passed off as an old database to upgrade: the anchor was written under this key
    before = [(x.seq, x.hash) for x in rows()]
    up = runner.invoke("verify-log", "--upgrade")
    assert up.exit_code == 1 and "拒绝升级" in up.output and "用当前密钥写下的" in up.output
    assert [(x.seq, x.hash) for x in rows()] == before
    # new entries meanwhile continue that chain's format: it stays one chain, still not whole
    record_now("test.after", table="t")
    assert "未加密钥" in runner.invoke("verify-log").output


def test_a_chain_rebuilt_with_another_key_is_found(app, runner):
    write_entries(4)
    edit(3, {"amount": 1})
    rechain(hmac_chain(secrets.token_bytes(32)))  # a chain that looks keyed, under a key of the attacker's
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "日志链在第 1 条处断开（内容被修改）" in r.output
    assert "密钥不对" in r.output and "log_chain.key" in r.output


def test_the_key_is_outside_the_database(app, runner, tmp_path):
    write_entries(3)
    key_file = Path(app.instance_path) / "log_chain.key"
    assert mode(key_file) == 0o600
    key = bytes.fromhex(key_file.read_text().strip())
    assert len(key) == 32
    last = rows()[-1]
    assert last.hash == hmac_chain(key)(last.prev_hash, last)
    with db.engine.connect() as conn:  # no column of any table holds it, in hex or base64
        dump = "\n".join(str(tuple(r)) for t in ("change_log", "settings")
                         for r in conn.execute(text(f"SELECT * FROM {t}")))
    assert key.hex() not in dump and base64.b64encode(key).decode() not in dump


def test_the_key_from_the_environment_in_hex_or_base64(app, monkeypatch, tmp_path):
    key = secrets.token_bytes(32)

    def start(instance: str):
        return create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                           "SECRET_KEY": "x", "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"],
                           "INSTANCE_PATH": str(tmp_path / instance), "TESTING": True})

    for i, given in enumerate((key.hex(), base64.b64encode(key).decode())):
        monkeypatch.setenv("AUDIT_LOG_KEY", given)
        other = start(f"inst{i}")
        assert not (tmp_path / f"inst{i}" / "log_chain.key").exists()
        with other.app_context():
            record_now("test.env", table="t", ref=str(i))
            db.engine.dispose()
    for r in rows():
        assert r.hash == hmac_chain(key)(r.prev_hash, r)
    monkeypatch.setenv("AUDIT_LOG_KEY", "abcd" * 4)  # 8 bytes: refused at start, in Chinese
    with pytest.raises(ValueError, match="至少需要 32 字节"):
        start("short")


def test_an_anchor_is_written_outside_the_instance_and_a_rewritten_history_is_reported(app, runner):
    write_entries(5)
    r = runner.invoke("verify-log", "--anchor")
    assert r.exit_code == 0 and "日志链完整：共 5 条" in r.output
    path = Path(re.search(r"已写下锚点 (\S+anchor-\d{4}-\d{2}-\d{2}\.json)", r.output).group(1))
    instance = Path(app.instance_path).resolve()
    assert path.is_file() and not path.resolve().is_relative_to(instance)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    doc = json.loads(path.read_text(encoding="utf-8"))
    head = rows()[-1]
    assert (doc["seq"], doc["hash"]) == (5, head.hash) and doc["time"] and doc["host"]
    key = app.extensions["log_key"]
    assert re.fullmatch(r"[0-9a-f]{16}", doc["key"]) and key.hex() not in path.read_text()

    # someone holding the database AND the key edits entry 2 and rebuilds the chain: it is
    # consistent again, but no longer what the anchor saw
    edit(2, {"amount": 1})
    rechain(hmac_chain(key), start=2)
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "日志链完整" not in r.output
    assert "已核对锚点 1 个" in r.output and "1 处不符" in r.output
    assert "日志链在第 5 条处断开（与锚点不符）" in r.output and path.name in r.output
    assert "哈希链本身逐条连贯" in r.output
    # no anchor is written for a history that does not hold
    again = runner.invoke("verify-log", "--anchor")
    assert again.exit_code == 1 and "未写锚点" in again.output
    assert json.loads(path.read_text(encoding="utf-8"))["hash"] == head.hash


def test_entries_cut_from_the_end_are_missing_against_the_anchor(app, runner):
    write_entries(5)
    assert runner.invoke("verify-log", "--anchor").exit_code == 0
    with db.engine.begin() as conn:
        conn.execute(delete(log).where(log.c.seq >= 4))
    r = runner.invoke("verify-log")
    assert r.exit_code == 1
    assert "日志链在第 5 条处断开（缺少条目）" in r.output and "链现只到第 3 条" in r.output


def test_an_anchor_folder_inside_the_instance_is_refused(app, runner):
    write_entries(2)
    app.config["LOG_ANCHOR_DIR"] = str(Path(app.instance_path) / "anchors")
    r = runner.invoke("verify-log", "--anchor")
    assert r.exit_code == 1 and "在实例目录内，未写锚点" in r.output
    assert not (Path(app.instance_path) / "anchors").exists()


def test_an_old_plain_chain_is_upgraded_once_and_then_verifies(app, runner):
    write_entries(4)
    rechain(sha256_chain)  # a database written before the chain had a key
    contents = [(x.seq, x.at, x.actor, x.action, x.row_ref, x.new) for x in rows()]
    old_head = rows()[-1].hash
    # the earlier daily notes, in the instance folder: checked before upgrading
    (Path(app.instance_path) / "log-anchors.txt").write_text(f"2026-11-30T03:00:00 4 {old_head}\n")
    record_now("test.before_upgrade", table="t")  # appended in the old format: one chain still
    old_head = rows()[-1].hash
    assert rows()[-1].hash == sha256_chain(rows()[-1].prev_hash, rows()[-1])
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "未加密钥" in r.output and "断开" not in r.output

    up = runner.invoke("verify-log", "--upgrade")
    assert up.exit_code == 0, up.output
    assert "已将旧格式的日志链升级为 HMAC-SHA256 链" in up.output and old_head in up.output
    assert "日志链完整：共 6 条" in up.output
    after = rows()
    assert [(x.seq, x.at, x.actor, x.action, x.row_ref, x.new) for x in after[:4]] == contents  # same entries
    key = app.extensions["log_key"]
    assert all(x.hash == hmac_chain(key)(x.prev_hash, x) for x in after)
    rekeyed = after[-1]
    assert rekeyed.action == "log.rekeyed"
    assert rekeyed.new["count"] == 5 and rekeyed.new["old_head_hash"] == old_head
    record_now("test.after_upgrade", table="t")
    r = runner.invoke("verify-log")
    assert r.exit_code == 0 and "日志链完整：共 7 条" in r.output and "HMAC-SHA256" in r.output
    assert "无需升级" in runner.invoke("verify-log", "--upgrade").output


def test_a_broken_plain_chain_is_refused(app, runner):
    write_entries(5)
    rechain(sha256_chain)
    edit(3, {"amount": 1})  # broken in the old format: the upgrade must not seal it
    before = [(x.seq, x.hash) for x in rows()]
    up = runner.invoke("verify-log", "--upgrade")
    assert up.exit_code == 1
    assert "拒绝升级" in up.output and "日志链在第 3 条处断开（内容被修改）" in up.output
    assert [(x.seq, x.hash) for x in rows()] == before
    assert not [x for x in rows() if x.action == "log.rekeyed"]


def test_a_plain_chain_that_contradicts_its_old_notes_is_refused(app, runner):
    write_entries(4)
    rechain(sha256_chain)
    noted = rows()[2].hash
    (Path(app.instance_path) / "log-anchors.txt").write_text(f"2026-11-30T03:00:00 3 {noted}\n")
    edit(2, {"amount": 1})
    rechain(sha256_chain)  # consistent again, in the old format, but not what was noted
    up = runner.invoke("verify-log", "--upgrade")
    assert (up.exit_code == 1 and "拒绝升级" in up.output
            and "日志链在第 3 条处断开（与锚点不符）" in up.output)
