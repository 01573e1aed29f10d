"""比对数据: lists other departments hand over. They may name people who are not in ``persons``,
so they carry the keyed hash of the ID number (``id_hash``) rather than a foreign key; rules join
``persons.id_hash`` to it. Natural keys (the contract gives none) are documented in README.md."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class _Identified:
    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    # the ID number encrypted: the list may name people who are not in ``persons``, and a key
    # rotation must be able to hash them again (empty only for rows imported before 0008)
    id_enc: Mapped[str | None] = mapped_column(Text)
    id_masked: Mapped[str] = mapped_column(String(18))


class Death(_Identified, Base):
    __tablename__ = "deaths"
    death_date: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("id_hash"),)


class SocialInsurance(_Identified, Base):
    __tablename__ = "social_insurance"
    period: Mapped[dt.date] = mapped_column(Date)
    employer: Mapped[str] = mapped_column(String(128))
    employer_credit_code: Mapped[str | None] = mapped_column(String(18))
    __table_args__ = (UniqueConstraint("id_hash", "period", "employer"),)


class Pension(_Identified, Base):
    __tablename__ = "pensions"
    kind: Mapped[str] = mapped_column(String(32))
    since: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("id_hash", "kind"),)


class Business(_Identified, Base):
    __tablename__ = "businesses"
    company_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    registered_on: Mapped[dt.date] = mapped_column(Date)
    deregistered_on: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("id_hash", "company_name", "role"),)


class Official(_Identified, Base):
    __tablename__ = "officials"
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(128))
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    __table_args__ = (UniqueConstraint("id_hash", "role"),)


class MigrantWork(_Identified, Base):
    __tablename__ = "migrant_work"
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(128))
    __table_args__ = (UniqueConstraint("id_hash", "start_date"),)
