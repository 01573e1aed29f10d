"""Personal data at rest: keyed hashes for joins, encryption for the roles that may read, masks for
everyone else.

One master key (``AUDIT_PII_KEY``, or a key file in the instance folder created on first use)
yields two independent keys through HKDF: an HMAC-SHA256 key for ``*_hash`` columns and a Fernet
key for ``*_enc`` columns. The database therefore never holds an ID or account number in clear.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import base64


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class PiiCodec:
    def __init__(self, master_key: str | bytes):
        master = master_key.encode() if isinstance(master_key, str) else master_key
        if len(master) < 32:
            raise ValueError("AUDIT_PII_KEY 至少需要 32 个字符")
        self._hmac_key = _derive(master, b"welfare-audit/pii/hmac/v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master, b"welfare-audit/pii/fernet/v1")))
        # which key this is, without revealing it: kept in the database (settings.pii_key_check) so
        # that an import under another key is refused instead of creating every person anew
        self.check = hmac.new(_derive(master, b"welfare-audit/pii/check/v1"), b"key check",
                              hashlib.sha256).hexdigest()

    def digest(self, value: str) -> str:
        """Keyed hash of a normalised identifier (hex, 64 characters)."""
        return hmac.new(self._hmac_key, value.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode("ascii")).decode()


def mask_id(id_number: str) -> str:
    """``500236199001011234`` -> ``500236********1234`` (region and last four kept)."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_account(account: str) -> str:
    """``6228480012345678901`` -> ``6228***********8901``."""
    if len(account) <= 8:
        return "*" * len(account)
    return account[:4] + "*" * (len(account) - 8) + account[-4:]


_ID_LIKE = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_ACCOUNT_LIKE = re.compile(r"(?<![0-9])[0-9]{12,30}(?![0-9])")


def mask_identifiers(text: str) -> str:
    """Every ID-number-like (15 or 18 characters) and account-like (12 to 30 digits) run in a text,
    masked: for messages and cells written where people read them (an upload's errors)."""
    if not text:
        return text
    text = _ID_LIKE.sub(lambda m: mask_id(m.group(1).upper()), text)
    return _ACCOUNT_LIKE.sub(lambda m: mask_account(m.group(0)), text)
