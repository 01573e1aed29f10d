"""Column types that keep ID and account numbers out of the database.

``MaskedText``, ``MaskedString`` and ``MaskedJSON`` are for what people type and files carry (an
answer to a notice, a dismissal's reason, an evidence file's name, an import's warnings): whatever
in them looks like an ID number (15 or 18 characters) or a bank account (12 to 30 digits) is masked
before it is written, however the row is written (ORM or Core). The masks themselves live here, at
the bottom of the stack; audit/pii.py re-exports them."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.types import TypeDecorator


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


# A run of digits glued to Latin letters or digits is part of a code (a hex token, a hash, a credit
# code), not a number of its own: masking it would corrupt the code.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_ACCOUNT_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{12,30}(?![0-9A-Za-z])")


def mask_identifiers(text: str) -> str:
    """Every ID-number-like (15 or 18 characters) and account-like (12 to 30 digits) run in a text,
    masked: for messages and cells written where people read them (an upload's errors)."""
    if not text:
        return text
    text = _ID_LIKE.sub(lambda m: mask_id(m.group(1).upper()), text)
    return _ACCOUNT_LIKE.sub(lambda m: mask_account(m.group(0)), text)


def mask_deep(value: Any) -> Any:
    """``mask_identifiers`` on every string inside a JSON-like value (keys kept)."""
    if isinstance(value, str):
        return mask_identifiers(value)
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_deep(v) for v in value]
    return value


class MaskedText(TypeDecorator):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_identifiers(value) if isinstance(value, str) else value


class MaskedString(TypeDecorator):
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_identifiers(value) if isinstance(value, str) else value


class MaskedJSON(TypeDecorator):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_deep(value)
