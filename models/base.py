"""Declarative base, naming convention and the Flask-SQLAlchemy handle."""
from __future__ import annotations

from typing import ClassVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # every model maps one Table (no model maps a join or a select): said here so that Core statements
    # on ``Model.__table__`` (insert, update, delete) type-check
    __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)
