"""Attendance terminals (考勤设备) that push check-ins through ``POST /api/v1/attendance``.

- ``device_tokens``: one bearer token per device, bound to one unit exactly as an operator's scope
  is (``models.accounts.UserScope``: a workshop by its code, or an employing unit by its key,
  ``models.unit_key``). Only the SHA-256 of the token is kept (the token itself is shown once, when
  it is made); its first characters are kept to tell tokens apart on the admin page.
- ``device_records``: the ``record_id`` of every record a device stored, unique per device
  (idempotency: the same ``record_id`` again is answered ``duplicate``). Unique per device, not
  globally: each terminal numbers its own records, and two terminals may well count alike.
- ``device_calls``: when each accepted call came, to limit calls per token (``audit.ratelimit``).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class DeviceToken(Base):
    __tablename__ = "device_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    unit_kind: Mapped[str] = mapped_column(String(16))  # 'workshop' / 'employer'
    # a workshop's code, or an employing unit's key (district/township/name: ``models.unit_key``)
    unit: Mapped[str] = mapped_column(String(260), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    token_prefix: Mapped[str] = mapped_column(String(8))  # its first characters, for display
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("unit_kind IN ('workshop', 'employer')", name="unit_kind"),)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class DeviceRecord(Base):
    """A record a device stored: its ``record_id`` and the attendance day it wrote."""

    __tablename__ = "device_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("device_tokens.id"))
    record_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    work_date: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("token_id", "record_id"),)


class DeviceCall(Base):
    """One accepted call of a device (for the per-token rate limit; rows older than a day go)."""

    __tablename__ = "device_calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("device_tokens.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_device_calls_token_at", "token_id", "at"),)
