"""Corrections that delete: the ``replaces`` table (ledger-format.md, "Corrections: replacing what a
bundle covers").

Each ``replaces`` row names a table and a scope (months, a district and township, or one post);
the bundle is the complete record of that table inside it, so every stored row there whose key is
not among the bundle's rows goes, in the import's own transaction (a refused or dry-run import
deletes nothing). Each deleted row is written to the audit log (``import.delete``) with its old
values, ID and account numbers masked, and listed in the import's preview; the next audit run marks
the findings whose facts went with them 数据已消除, as any other correction.

Decisions where the contract is silent:
- the months of a table without a month column (placements, workshop staff, the comparison lists)
  select its rows by their date (上岗日期, 入职日期, 死亡日期, 领取起始日期, 登记日期, 外出日期); the
  officials list has none, and a month given for it is refused;
- a post (``post_code``) limits the tables of posts only; for a comparison list it is refused;
- the comparison lists are limited to a region through the persons they name (their 区县 and
  乡镇街道 in the persons table), as the contract says;
- a table the bundle loaded into an empty database table has no older rows: nothing is deleted.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, delete, exists, or_, select, union

from audit.money import yuan
from models import (
    Attendance,
    Business,
    Death,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Report,
    SocialInsurance,
    Wage,
    Workshop,
    WorkshopStaff,
)

from .schema import BY_NAME

SHOWN = 200  # deleted rows of a table listed in the preview (all are logged)


@dataclass(frozen=True)
class Scoped:
    target: Table
    key: tuple[str, ...]  # the columns that tell a stored row from another (the merge's key)
    month: str | None = None  # a column holding the first day of a month
    day: str | None = None  # else a column holding a date
    post: str | None = None  # the column naming the post (posts of positions and workshops)


SCOPED: dict[str, Scoped] = {
    "attendance": Scoped(Attendance.__table__, ("person_id", "post_id", "work_month", "work_date"),
                         month="work_month", post="post_id"),
    "wages": Scoped(Wage.__table__, ("person_id", "post_id", "period", "paid_on", "amount_fen", "seq"),
                    month="period", post="post_id"),
    "reports": Scoped(Report.__table__, ("workshop_id", "period", "metric"), month="period",
                      post="workshop_id"),
    "placements": Scoped(Placement.__table__, ("person_id", "position_id", "start_date"), day="start_date",
                         post="position_id"),
    "workshop_staff": Scoped(WorkshopStaff.__table__, ("workshop_id", "person_id", "start_date"),
                             day="start_date", post="workshop_id"),
    "social_insurance": Scoped(SocialInsurance.__table__, ("id_hash", "period", "employer"), month="period"),
    "deaths": Scoped(Death.__table__, ("id_hash",), day="death_date"),
    "pensions": Scoped(Pension.__table__, ("id_hash", "kind"), day="since"),
    "businesses": Scoped(Business.__table__, ("id_hash", "company_name", "role"), day="registered_on"),
    "officials": Scoped(Official.__table__, ("id_hash", "role")),
    "migrant_work": Scoped(MigrantWork.__table__, ("id_hash", "start_date"), day="start_date"),
}


def problem(row: Mapping) -> tuple[str, str] | None:
    """(column, reason) of a ``replaces`` row this module cannot apply, else None."""
    s = SCOPED[row["table"]]
    if s.post is None and row.get("post_id") is not None:
        return "post_code", (f"{BY_NAME[row['table']].zh}不按岗位或车间划分，不能按岗位编号替换："
                             "请删去岗位编号，按区县、乡镇街道替换")
    if s.month is None and s.day is None and row.get("period_from") is not None:
        return "period_from", f"{BY_NAME[row['table']].zh}没有日期，不能按月份替换：请删去起始月份和截止月份"
    return None


def _months_after(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _date(x) -> dt.date:
    return dt.date.fromisoformat(x[:10]) if isinstance(x, str) else x


def scope_of(conn: Connection, r: Mapping) -> list:
    """The conditions on the target table's rows that the ``replaces`` row ``r`` covers."""
    s = SCOPED[r["table"]]
    t = s.target
    where = []
    first = _date(r["period_from"]) if r.get("period_from") is not None else None
    last = _date(r["period_to"]) if r.get("period_to") is not None else first
    if first is not None:
        col = t.c[s.month or s.day]
        if s.month:
            where += [col >= first, col <= last]
        else:
            where += [col >= first, col < _months_after(last)]
    if r.get("post_id") is not None:
        where.append(t.c[s.post] == r["post_id"])
    if r.get("district"):
        if s.post is not None:
            posts = [select(m.id).where(m.district == r["district"],
                                        *([m.township == r["township"]] if r.get("township") else []))
                     for m in (Position, Workshop)]
            where.append(t.c[s.post].in_(union(*posts).scalar_subquery()))
        else:
            p = Person.__table__
            where.append(exists().where(p.c.id_hash == t.c.id_hash, p.c.district == r["district"],
                                        *([p.c.township == r["township"]] if r.get("township") else [])))
    return where


def doomed(conn: Connection, r: Mapping, *stages: Table):
    """A query of the stored rows that ``r`` deletes: in its scope, their key in none of the bundle's
    tables that hold them (``stages``: for attendance, its 考勤记录 and its 考勤表)."""
    s = SCOPED[r["table"]]
    t = s.target
    in_bundle = or_(*(exists().where(*[stage.c[k] == t.c[k] for k in s.key]) for stage in stages))
    return select(t).where(*scope_of(conn, r), ~in_bundle)


def delete_rows(conn: Connection, table: str, rows: list[Mapping]) -> int:
    """Delete the given stored rows (found by ``doomed``), by id or by key."""
    s = SCOPED[table]
    t = s.target
    if not rows:
        return 0
    if "id" in t.c:
        ids = [r["id"] for r in rows]
        for i in range(0, len(ids), 5000):
            conn.execute(delete(t).where(t.c.id.in_(ids[i:i + 5000])))
    else:
        for i in range(0, len(rows), 500):
            batch = rows[i:i + 500]
            conn.execute(delete(t).where(or_(*[and_(*[t.c[k] == r[k] for k in s.key]) for r in batch])))
    return len(rows)


def old_values(table: str, r: Mapping, people: Mapping[int, str], posts: Mapping[int, str]) -> dict:
    """A deleted row as the audit log keeps it: readable, ID and account numbers masked only."""
    out = {}
    for k, x in r.items():
        if k == "id" or k.endswith(("_enc", "_hash", "_key")) or k == "work_month" or x is None:
            continue
        if k == "person_id":
            k, x = "id_number", people.get(x, x)
        elif k in ("post_id", "position_id", "workshop_id"):
            k, x = {"post_id": "post_code", "position_id": "position_code",
                    "workshop_id": "workshop_code"}[k], posts.get(x, x)
        elif k.endswith("_masked"):
            k = {"id_masked": "id_number", "account_masked": "account_number",
                 "bank_masked": "bank_account"}.get(k, k)
        elif k.endswith("_fen"):
            k, x = k[:-4], yuan(x, grouping=False)
        elif k == "value_x100":
            k, x = "value", yuan(x, grouping=False)
        elif k == "period":
            x = _date(x).isoformat()[:7]
        elif isinstance(x, (dt.date, dt.time)):
            x = x.isoformat()
        out[k] = x
    return out

