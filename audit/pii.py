"""Personal data at rest: keyed hashes for joins, encryption for the roles that may read, masks for
everyone else.

One master key (``AUDIT_PII_KEY``, or a key file in the instance folder created on first use)
yields two independent keys through HKDF: an HMAC-SHA256 key for ``*_hash`` columns and a Fernet
key for ``*_enc`` columns. The database therefore never holds an ID or account number in clear.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


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


# the masks are defined with the column types that apply them (models/types.py)
from models.types import mask_account, mask_deep, mask_id, mask_identifiers  # noqa: E402,F401
