"""Users, roles and their scopes (regions or units)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .enums import ROLES


class User(Base):
    """A person who signs in. Flask-Login's protocol is implemented here: ``get_id`` carries the
    ``session_version``, so bumping it (sign-out, password change, lock) voids every old session."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # bumped on sign-out and password change: sessions carrying an older value are void
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # when the password was last set (NULL: before migration 0012, read as ``created_at``)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # B4, TOTP second factor: the shared secret (base32), encrypted with the personal-data key like
    # the ID numbers (audit/pii.py; re-encrypted by a key rotation). Set with ``totp_enrolled_at``
    # NULL while the user is enrolling (the QR code shown, no code confirmed yet): not yet enrolled.
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_enrolled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # the time step (unix time // 30) of the last code accepted: a code of that step or an earlier
    # one is refused, so a code seen over a shoulder or in a proxy's log cannot be used again
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    scopes: Mapped[list[UserScope]] = relationship(back_populates="user", cascade="all, delete-orphan")
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'auditor', 'operator', 'inspector')", name="role"),
    )

    # -- Flask-Login -----------------------------------------------------------------------------
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def totp_enrolled(self) -> bool:
        """Whether sign-in asks this user for a code (always, once enrolled: no setting skips it)."""
        return self.totp_enrolled_at is not None and self.totp_secret_enc is not None


class UserScope(Base):
    """One scope of a user: a region (district, optionally narrowed to a township and a village)
    or a unit (a workshop by code, or an employing unit by its district, township and name)."""

    __tablename__ = "user_scopes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    unit_kind: Mapped[str | None] = mapped_column(String(16))  # 'workshop' / 'employer'
    # a workshop's code, or an employing unit's key (district/township/name: ``models.unit_key``)
    unit: Mapped[str | None] = mapped_column(String(260), index=True)
    user: Mapped[User] = relationship(back_populates="scopes")
    __table_args__ = (
        CheckConstraint(
            "(district IS NOT NULL AND unit IS NULL) OR (district IS NULL AND unit IS NOT NULL"
            " AND unit_kind IN ('workshop', 'employer'))",
            name="region_or_unit",
        ),
    )


class PasswordHistory(Base):
    """A password a user has had (its hash): a new password may not be one of the last five."""

    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RecoveryCode(Base):
    """One of a user's ten recovery codes (made when TOTP is enrolled, shown once): each signs in
    once in place of a TOTP code. Only a salted hash is kept."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class UserSession(Base):
    """A signed-in session (B4: at most ``MAX_SESSIONS_PER_USER`` at a time). ``id`` is a random
    token kept in the (signed) Flask session; a request whose row is missing or ended is signed
    out (audit/auth/sessions.py). ``ended_reason``: logout, timeout, expired, limit (ended by a
    newer sign-in beyond the limit), void (the user's ``session_version`` moved on)."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # the user's ``session_version`` the session carries: a row of an older one is no live session
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    # 「Chrome 120 · Windows」, not the whole string
    user_agent: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(16))
