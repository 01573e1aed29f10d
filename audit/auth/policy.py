"""The password policy (B4), one for every way a password is set: an admin creating a user or
resetting a password on the web, a user changing their own, and ``audit users create|passwd``.

A password has at least 12 characters, is not a common one (the list in ``common_passwords.txt``,
and what is one of them with digits or signs before or after, in leet spelling, or a character,
digit run or keyboard row repeated), does not contain the user name, and is none of the user's last
five. Each refusal names the rule broken, in Chinese."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 12
HISTORY = 5  # a new password may not be one of the user's last five

TOO_SHORT = f"密码至少 {MIN_LENGTH} 位"
TOO_COMMON = ("密码过于常见（属于常用密码或常见规律，如 123456、qwerty、woaini、password 加数字），"
              "请换一个不易猜到的密码")
HAS_NAME = "密码不能包含用户名"
REUSED = f"新密码不能与最近 {HISTORY} 次使用过的密码相同"

_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s",
                       "7": "t"})
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")
_RUNS = ("0123456789012345678901234567890", "9876543210987654321098765432109", "abcdefghijklmnopqrstuvwxyz",
         "qwertyuiopasdfghjklzxcvbnm", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn",
         "qazwsxedcrfvtgbyhnujm", "1q2w3e4r5t6y7u8i9o0p", "zaq12wsxcde34rfv")


@lru_cache(maxsize=1)
def common() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def _words() -> frozenset[str]:
    """The common passwords made of letters (``password``, ``woaini``, ``qwertyuiop``…): what a
    password is when its digits and signs at either end are taken off."""
    return frozenset(w for w in common() if len(w) >= 4 and w.isalpha())


def is_common(password: str) -> bool:
    low = password.lower()
    if low in common():
        return True
    for text in {low, low.translate(_LEET)}:
        core = _EDGES.sub("", text)
        if not core or core in common() or core in _words():
            return True  # only digits and signs, or a common word with digits or signs around it
        if any(core[:i] in _words() and core[i:] in _words() for i in range(4, len(core) - 3)):
            return True  # two common words (``iloveyouwoaini``)
    if any(low in run * 2 for run in _RUNS):
        return True  # a stretch of a digit run, the alphabet or a keyboard row
    # one short piece repeated (``abcabcabcabc``)
    return any(len(low) % size == 0 and low == low[:size] * (len(low) // size) for size in range(1, 5))


def problem(password: str, username: str | None = None) -> str | None:
    """The first rule the password breaks (a message for the user), or None. The history is the
    services' (it needs the database)."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    name = (username or "").strip().lower()
    low = password.lower()
    if name and (name in low or (len(name) >= 3 and name[::-1] in low)):
        return HAS_NAME
    if is_common(password):
        return TOO_COMMON
    return None
