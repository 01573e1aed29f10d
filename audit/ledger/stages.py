"""The importer's stage tables (a temporary table per bundle table: the row number, then the
converted columns in spec order), each table's natural key in stage columns, and how stage rows
become rows of their target (``Merge``)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
)

from models import (
    Attendance,
    Business,
    Death,
    MigrantWork,
    Pension,
    Placement,
    Report,
    SocialInsurance,
    Wage,
    WorkshopStaff,
)

from .schema import BY_NAME

_TYPES = {"s": String(128), "t": Text(), "d": Date(), "i": Integer(), "b": BigInteger(), "tm": Time()}


def _stage(name: str, cols: str) -> Table:
    columns = [Column("row_no", Integer)]
    for part in cols.split():
        cname, ctype = part.split(":")
        columns.append(Column(cname, _TYPES[ctype]))
    return Table(f"stage_{name}", MetaData(), *columns, prefixes=["TEMPORARY"])


_IDENTITY = "id_hash:s id_enc:t id_masked:s birth_date:d sex:s region_code:s"  # persons.id_number
_ACCOUNT = "{0}_hash:s {0}_enc:t {0}_masked:s"  # a bank account number
_REF_ID = "id_hash:s id_enc:t id_masked:s"  # an ID number in a comparison table

STAGES: dict[str, Table] = {
    "persons": _stage("persons", f"{_IDENTITY} name:s name_key:s phone:s household_code:s "
                      "district:s township:s village:s category_mask:i labour_ability:s "
                      f"{_ACCOUNT.format('bank')}"),
    "positions": _stage("positions", "code:s title:s kind:s employer:s district:s township:s village:s "
                        "monthly_wage_fen:b required_days:i created_on:d"),
    "placements": _stage("placements", "person_id:i position_id:i start_date:d end_date:d"),
    "workshops": _stage("workshops", "code:s name:s operator:s credit_code:s district:s township:s "
                        "village:s certified_on:d baseline_poverty_headcount:i"),
    "workshop_staff": _stage("workshop_staff", "workshop_id:i person_id:i start_date:d end_date:d "
                             "monthly_wage_fen:b"),
    "attendance": _stage("attendance", "person_id:i post_id:i work_month:d work_date:d status:s "
                         "check_in_time:tm method:s device_id:s verified:s"),
    "wages": _stage("wages", f"person_id:i post_id:i period:d amount_fen:b paid_on:d seq:i "
                    f"{_ACCOUNT.format('account')} account_name:s account_name_key:s batch:s"),
    "reports": _stage("reports", "workshop_id:i period:d metric:s value_x100:b"),
    "deaths": _stage("deaths", f"{_REF_ID} death_date:d"),
    "social_insurance": _stage("social_insurance", f"{_REF_ID} period:d employer:s employer_credit_code:s"),
    "pensions": _stage("pensions", f"{_REF_ID} kind:s since:d"),
    "businesses": _stage("businesses", f"{_REF_ID} company_name:s role:s registered_on:d deregistered_on:d"),
    "officials": _stage("officials", f"{_REF_ID} name:s role:s unit:s district:s township:s village:s "
                        "household_code:s"),
    "migrant_work": _stage("migrant_work", f"{_REF_ID} start_date:d end_date:d place:s"),
    "attendance_grid": _stage("attendance_grid", "person_id:i post_id:i work_month:d work_date:d status:s "
                              "check_in_time:tm method:s device_id:s verified:s"),
    "replaces": _stage("replaces", "table_name:s period_from:d period_to:d district:s township:s post_id:i"),
}

# The natural key of each table in stage columns (wages have none: identical rows are kept).
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "persons": ("id_hash",),
    "positions": ("code",),
    "workshops": ("code",),
    "placements": ("person_id", "position_id", "start_date"),
    "workshop_staff": ("workshop_id", "person_id", "start_date"),
    "attendance": ("person_id", "post_id", "work_date"),
    "attendance_grid": ("person_id", "post_id", "work_date"),
    "reports": ("workshop_id", "period", "metric"),
    "deaths": ("id_hash",),
    "social_insurance": ("id_hash", "period", "employer"),
    "pensions": ("id_hash", "kind"),
    "businesses": ("id_hash", "company_name", "role"),
    "officials": ("id_hash", "role"),
    "migrant_work": ("id_hash", "start_date"),
}


@dataclass(frozen=True)
class Merge:
    """How the stage rows (as ``src``, labelled like the target) become rows of the target."""

    target: Table
    key: tuple[str, ...]  # target columns that identify a row
    compare: tuple[str, ...]  # target columns whose change is an update
    carry: tuple[str, ...] = ()  # target columns written along (ciphertext, masks)
    ref: Callable[[Mapping], str] = lambda r: ""  # the row, readable, for the change log


# Tables whose stage columns are exactly target columns: when the target is empty, rows go
# straight in (see Importer._load_table). Wages too, unless they hold a reversal or two payments
# alike: those are staged, their copies numbered (seq) and their reversals checked in SQL.
DIRECT: dict[str, Table] = {m.__tablename__: m.__table__ for m in (
    Placement, WorkshopStaff, Attendance, Wage, Report, Death, SocialInsurance, Pension, Business,
    MigrantWork)}
DIRECT["attendance_grid"] = Attendance.__table__
# A replaced table's rows that the bundle holds: a 考勤表's days are attendance rows too.
HELD_IN: dict[str, tuple[str, ...]] = {"attendance": ("attendance", "attendance_grid")}

GRID_AS_ATTENDANCE = dataclasses.replace(BY_NAME["attendance"], name="attendance_grid",
                                         zh=BY_NAME["attendance_grid"].zh)
