"""The tamper-evident change log: every ``change_log`` entry is chained to the one before it, with a
key the database does not hold, and the chain's head is noted daily outside the instance folder.

**The chain.** Each entry has ``seq`` (its position in the chain, 1, 2, 3, … with no gaps),
``prev_hash`` (the previous entry's hash; 64 zeros for the first) and ``hash`` = HMAC-SHA256 under
the log key of ``prev_hash`` followed by the canonical JSON of the entry's fields (``entry_hash``).
Editing an entry changes its hash; deleting one leaves a gap in ``seq``; both are found by
``verify`` (``audit verify-log``). Without the key nobody can compute a valid hash, so someone who
can write to the database but has not got the key cannot rebuild the chain after an edit (with the
plain SHA-256 of the earlier format anyone could).

**The key** is ``AUDIT_LOG_KEY`` (hex, or base64; at least 32 bytes) or else the file
``log_chain.key`` in the instance folder, created on first start (mode 0600) like ``pii.key`` and
``secret_key`` (audit/config.py). It is never written to the database: only its fingerprint (an
HMAC of a fixed text, which reveals nothing of the key) appears, in anchors and in the
``log.rekeyed`` entry. Lose it and the chain can no longer be checked: back it up apart from the
database.

**The earlier format** (plain SHA-256, before this key existed) is recognised by the first entry:
its hash is the plain digest and not the HMAC. Decision: such a chain is upgraded once, by an
operator, with ``audit verify-log --upgrade`` — never automatically. An automatic upgrade cannot
tell a database that was never upgraded from one whose whole chain someone without the key
rebuilt in the old format after editing it, and would seal that edit under the key. So:

- ``verify`` never calls an old-format chain whole: it says 「未加密钥」 and how to upgrade;
- ``append`` writes in the format of the head, so an old database keeps one unbroken old-format
  chain until it is upgraded (a chain of two formats could not be checked), and a keyed one stays
  keyed;
- ``upgrade`` checks the old chain first (every entry, and the anchors: those of the current
  ``LOG_ANCHOR_DIR``, the day notes of the earlier ``LOG_ANCHOR_FILE`` / ``instance/log-anchors.txt``,
  and any ``--expect``) and refuses, saying where, if it is broken; it also refuses when an anchor
  was written under the current key or a ``log.rekeyed`` entry is in the chain (the chain was keyed
  before: an old-format chain now means it was rebuilt). Otherwise it re-chains every entry with the
  HMAC in one transaction and appends ``log.rekeyed`` (old head, count, key fingerprint). Besides
  migration 0006, this is the only UPDATE of ``change_log``; the entries' contents are untouched.

**Anchors.** The chain alone cannot show that its newest entries were cut off, nor that someone
holding the key rebuilt it. So its head is noted outside the database and outside the instance
folder (which holds the SQLite database and the key), in ``LOG_ANCHOR_DIR`` (``AUDIT_LOG_ANCHOR_DIR``;
default ``<instance>/../log-anchors``): one file a day, ``anchor-YYYY-MM-DD.json`` (0600; the folder
0700) with ``seq``, ``hash``, ``time``, ``host`` and the key's fingerprint, written by the scheduler's
daily ``log_check`` and by ``audit verify-log --anchor``, only when the chain and every earlier anchor
check out. ``verify-log`` checks the chain against every anchor in the folder: an anchored entry gone
is 「缺少条目」 (the log was cut back), one whose hash now differs is 「与锚点不符」 (history rewritten).
Point the folder at storage the database's administrators cannot write.

``append`` is the only way entries are written. It serialises writers so the chain never forks:
on PostgreSQL with a transaction-scoped advisory lock, on SQLite with the database's write lock
(taken by a write before the last entry is read; see ``_sqlite_write_lock`` in audit/sqlite.py).
Both are held until the caller's transaction ends, so the entries are committed or rolled back with
what they describe. Nothing in the application deletes entries.

The package: ``key`` (the log key), ``chain`` (hashing and ``append``), ``verify`` (the check, the
anchors and the upgrade of an old chain) and ``cli`` (``audit verify-log``). What other modules
use is named here."""
from __future__ import annotations

from .chain import FIELDS, GENESIS, append, canonical, entry_hash, last, plain_hash
from .key import chain_key, fingerprint, init_app, parse_key
from .verify import (
    Anchor,
    Break,
    Report,
    UpgradeRefused,
    Verdict,
    anchor_dir,
    check,
    check_anchors,
    legacy_anchors,
    read_anchors,
    upgrade,
    verify,
    write_anchor,
)

__all__ = ["FIELDS", "GENESIS", "Anchor", "Break", "Report", "UpgradeRefused", "Verdict", "anchor_dir",
           "append", "canonical", "chain_key", "check", "check_anchors", "entry_hash", "fingerprint",
           "init_app", "last", "legacy_anchors", "parse_key", "plain_hash", "read_anchors", "upgrade",
           "verify", "write_anchor"]
