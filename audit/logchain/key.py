"""The audit log's chain key: ``AUDIT_LOG_KEY`` or the instance folder's ``log_chain.key``, read at
start-up, never written to the database (see the package's docstring)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

from flask import Flask, current_app, has_app_context

KEY_FILE = "log_chain.key"
KEY_MIN_BYTES = 32


# ---- the key ------------------------------------------------------------------------------------

def parse_key(text: str | bytes) -> bytes:
    """The key's bytes from its text: hex when it is all hex digits (an even number of them),
    base64 (standard or URL-safe, padding optional) otherwise. At least 32 bytes."""
    s = (text.decode("ascii", "replace") if isinstance(text, bytes) else str(text)).strip()
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", s):
        key = bytes.fromhex(s)
    else:
        try:
            b64 = s.replace("-", "+").replace("_", "/")
            key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("AUDIT_LOG_KEY（或实例目录中的 log_chain.key）"
                             "应为十六进制或 base64 文本") from None
    if len(key) < KEY_MIN_BYTES:
        raise ValueError(f"AUDIT_LOG_KEY（或实例目录中的 log_chain.key）至少需要 {KEY_MIN_BYTES} 字节"
                         f"（64 位十六进制或 44 个 base64 字符），现为 {len(key)} 字节")
    return key


def _key_file(instance: Path) -> str:
    """The key kept in the instance folder, created (0600, 32 random bytes in hex) when there is
    none, as ``pii.key`` is; another process creating it at the same moment wins."""
    path = instance / KEY_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    for _ in range(50):  # the other process may not have written it yet
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.02)
    raise ValueError(f"{path} 是空的：请删除它（若日志为空）或放回原来的密钥")


def init_app(app: Flask) -> None:
    """Read (or create) the log key at start-up, so that a bad ``AUDIT_LOG_KEY`` stops the start
    rather than the first sign-in."""
    text = (app.config.get("AUDIT_LOG_KEY") or os.environ.get("AUDIT_LOG_KEY")
            or _key_file(Path(app.instance_path)))
    app.extensions["log_key"] = parse_key(text)


def chain_key() -> bytes:
    """The current application's log key."""
    if not has_app_context():
        raise RuntimeError("写入或校验审计日志需要应用上下文（日志链的密钥来自应用配置）")
    if "log_key" not in current_app.extensions:
        init_app(current_app._get_current_object())
    return current_app.extensions["log_key"]


def fingerprint(key: bytes) -> str:
    """Which key this is, without revealing it (16 hex digits)."""
    return hmac.new(key, b"welfare-audit/log-chain/fingerprint/v1", hashlib.sha256).hexdigest()[:16]

