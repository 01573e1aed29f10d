"""Users, roles and their scopes (regions or units)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base

ROLES = {
    "admin": "管理员",
    "auditor": "审计人员",
    "operator": "经办人",
    "inspector": "督查人员",
}


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


class UserScope(Base):
    """One scope of a user: a region (district, optionally narrowed to a township and a village)
    or a unit (a workshop by code, or an employing unit by name)."""

    __tablename__ = "user_scopes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    unit_kind: Mapped[str | None] = mapped_column(String(16))  # 'workshop' / 'employer'
    unit: Mapped[str | None] = mapped_column(String(128), index=True)  # workshop_code or employer name
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
