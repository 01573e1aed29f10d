"""Small tables of the system itself: settings it must remember (the fingerprint of the personal
data key), failed sign-ins per address (rate limiting), and the former ids of findings renamed by a
key rotation."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Setting(Base):
    """A named value the system keeps (``pii_key_check``: which key the stored hashes were made with)."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SignInFailure(Base):
    """One failed sign-in from one address: counted per address over a sliding window, so that one
    address cannot try passwords against many accounts (the per-account lock is in ``users``)."""

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    __table_args__ = (Index("ix_sign_in_failures_ip_at", "ip", "at"),)


class FindingAlias(Base):
    """A finding's former id. A finding about a person is named from the keyed hash of the person's
    ID number; rotating the key renames it, and the old id keeps leading to it (links, exports,
    the audit log's entries about it)."""

    __tablename__ = "finding_aliases"
    old_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    new_id: Mapped[str] = mapped_column(String(32), index=True)
    renamed_at: Mapped[dt.datetime] = mapped_column(DateTime)
