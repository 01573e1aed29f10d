"""Column types that keep ID and account numbers out of the database.

``MaskedText``, ``MaskedString`` and ``MaskedJSON`` are for what people type and files carry (an
answer to a notice, a dismissal's reason, an evidence file's name, an import's warnings): whatever
in them looks like an ID number (15 or 18 characters) or a bank account (12 to 30 digits) is masked
before it is written, however the row is written (ORM or Core). The masks themselves live here, at
the bottom of the stack; audit/pii.py re-exports them.

Invisible control and format characters (Unicode categories Cc and Cf: right-to-left overrides,
zero-width characters, NUL …) are removed from them on the way in too (``strip_controls``): a
bidi override in a stored reason would reorder what the next reader sees. Tab and line breaks,
which a typed answer may hold, are kept."""
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


# Every character of Unicode categories Cc and Cf (as of Unicode 15), written out: building the
# class from unicodedata at import would cost a tenth of a second in every process.
_CONTROLS = ("\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
             "\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
             "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
             "\U000e0001\U000e0020-\U000e007f")
CONTROL_CHARS = re.compile(f"[{_CONTROLS}]")  # without tab, line feed and carriage return
CONTROL_CHARS_ALL = re.compile(f"[\t\n\r{_CONTROLS}]")


def strip_controls(text: str, *, keep_lines: bool = True) -> str:
    """``text`` without control and format characters (bidi overrides and isolates, zero-width
    characters, NUL, …); tab and line breaks are kept unless ``keep_lines`` is False."""
    if not text:
        return text
    return (CONTROL_CHARS if keep_lines else CONTROL_CHARS_ALL).sub("", text)


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
        return mask_identifiers(strip_controls(value))
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_deep(v) for v in value]
    return value


class MaskedText(TypeDecorator):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_identifiers(strip_controls(value)) if isinstance(value, str) else value


class MaskedString(TypeDecorator):
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_identifiers(strip_controls(value)) if isinstance(value, str) else value


class MaskedJSON(TypeDecorator):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_deep(value)
