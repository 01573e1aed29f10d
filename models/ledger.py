"""The project's own ledgers (台账): people, posts, placements, workshops, attendance, wages, reports.

Conventions:
- ID numbers and bank account numbers are never stored in plaintext: ``*_hash`` is a keyed
  HMAC-SHA256 (hex) used for joins and look-ups, ``*_enc`` a Fernet token readable only with the
  key, ``*_masked`` the display form (e.g. ``500236********123X``).
- Money is integer fen (``*_fen``). Months (periods) are dates on the first day of the month.
- ``posts`` gives public positions and workshops one code space: ``attendance.post_id`` and
  ``wages.post_id`` point at a post, which is either a position or a workshop (same primary key).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from .base import Base


class Household(Base):
    """户: members of one household share a code (from persons and from the officials list)."""

    __tablename__ = "households"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_enc: Mapped[str] = mapped_column(Text)
    id_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))  # 'M' / 'F', from the 17th character
    region_code: Mapped[str] = mapped_column(String(6))  # issuing region, first 6 characters
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))  # NFKC, no white space: for name matching
    phone: Mapped[str | None] = mapped_column(String(32))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    district: Mapped[str | None] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    # 人员类别 as a bit set over audit.vocab.CATEGORIES (bit i = CATEGORIES[i]); 0 = none given.
    category_mask: Mapped[int] = mapped_column(Integer, default=0)
    labour_ability: Mapped[str | None] = mapped_column(String(16))
    bank_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    bank_enc: Mapped[str | None] = mapped_column(Text)
    bank_masked: Mapped[str | None] = mapped_column(String(40))


class Post(Base):
    """The shared code space of public positions and workshops (岗位或车间编号)."""

    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # 'position' / 'workshop'
    __table_args__ = (CheckConstraint("kind IN ('position', 'workshop')", name="kind"),)


UNIT_SEP = "/"


def unit_key(district: str | None, township: str | None, name: str) -> str:
    """An employing unit's identity: ``district/township/name`` (``奉节县/白帝镇/白帝村村民委员会``;
    the township part empty when the unit has none). Two village committees of one name in two
    townships are two units; a bare name never identifies one (P1). A workshop is its code."""
    return UNIT_SEP.join((district or "", township or "", name))


def split_unit_key(key: str | None) -> tuple[str, str | None, str] | None:
    """``(district, township, name)`` of an employing unit's key; None for a workshop code."""
    if not key or key.count(UNIT_SEP) < 2:
        return None
    district, township, name = key.split(UNIT_SEP, 2)
    return district, township or None, name


def unit_display(key: str | None) -> str:
    """How people read an employing unit: its name after its township (``白帝镇白帝村村民委员会``),
    unless the name already starts with its township or district (``奉节县永安街道办事处``). A
    workshop code is returned as it is (its name needs the database: ``audit.findings.queries``)."""
    parts = split_unit_key(key)
    if parts is None:
        return key or ""
    district, township, name = parts
    if not township or name.startswith(township) or (district and name.startswith(district)):
        return name
    return township + name


class Position(Base):
    __tablename__ = "positions"
    id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # 乡村公益性岗位 / 城镇公益性岗位
    employer: Mapped[str] = mapped_column(String(128), index=True)
    district: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    monthly_wage_fen: Mapped[int] = mapped_column(BigInteger)
    required_days: Mapped[int] = mapped_column(Integer, default=20)
    created_on: Mapped[dt.date | None] = mapped_column(Date)

    @hybrid_property
    def unit_key(self) -> str:
        """The employing unit this position belongs to (``unit_key``): in SQL, the same text."""
        return unit_key(self.district, self.township, self.employer)

    @unit_key.inplace.expression
    @classmethod
    def _unit_key_expression(cls) -> ColumnElement[str]:
        return (func.coalesce(cls.district, "") + UNIT_SEP + func.coalesce(cls.township, "") + UNIT_SEP
                + cls.employer)


class Placement(Base):
    __tablename__ = "placements"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("person_id", "position_id", "start_date"),)


class Workshop(Base):
    __tablename__ = "workshops"
    id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    operator: Mapped[str] = mapped_column(String(128), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(64))
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    certified_on: Mapped[dt.date | None] = mapped_column(Date)
    baseline_poverty_headcount: Mapped[int | None] = mapped_column(Integer)


class WorkshopStaff(Base):
    __tablename__ = "workshop_staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    monthly_wage_fen: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("workshop_id", "person_id", "start_date"),)


def _month_of_work_date(context) -> dt.date:
    return context.get_current_parameters()["work_date"].replace(day=1)


class Attendance(Base):
    """One row per person, post and day: the largest table by far. Its primary key is its natural
    key (person, post, day) with the day's month in front of the day; on SQLite it is stored
    WITHOUT ROWID, clustered in that order, so the rules' monthly aggregation streams without a
    sort and no second B-tree is maintained. ``work_month`` is always the first of ``work_date``'s
    month (the importer computes it; other inserts get it by default). PostgreSQL also has the partial
    index ``ix_attendance_phone`` of present check-ins on personal phones (migration 0017, for IM02)."""

    __tablename__ = "attendance"
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    work_month: Mapped[dt.date] = mapped_column(Date, primary_key=True, default=_month_of_work_date)
    work_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(8))  # 出勤 / 请假 / 缺勤 / 休息
    check_in_time: Mapped[dt.time | None] = mapped_column(Time)
    method: Mapped[str | None] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[str | None] = mapped_column(String(8))
    __table_args__ = ({"sqlite_with_rowid": False},)


class Wage(Base):
    """工资发放. Rows identical in every column are kept (evidence of double payment): ``seq``
    numbers the copies of one key within a bundle, so re-importing the bundle is a no-op."""

    __tablename__ = "wages"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    period: Mapped[dt.date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer, default=1)
    account_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    account_enc: Mapped[str | None] = mapped_column(Text)
    account_masked: Mapped[str | None] = mapped_column(String(40))
    account_name: Mapped[str | None] = mapped_column(String(64))
    account_name_key: Mapped[str | None] = mapped_column(String(64))  # NFKC, no white space
    batch: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        UniqueConstraint("person_id", "post_id", "period", "paid_on", "amount_fen", "seq"),
    )


class Report(Base):
    """上报数据: a figure a workshop reported upward for a month."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id"))
    period: Mapped[dt.date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(32))
    # The value × 100, exactly: money metrics in fen, headcounts × 100.
    value_x100: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("workshop_id", "period", "metric"),)
