"""What an audit run compared: the data each table held, how current it was, and the optional
columns a rule needs (ledger-format.md, "Sheets as people really keep them"; issue 14).

**Coverage.** Each run records, per comparison list and per ledger table, in
``audit_runs.summary["coverage"]``: its rows, the persons it covers (distinct ID numbers; for a
comparison list also how many of them are persons of the ledger), the latest date in it, the
latest import that carried it, its **data date** and, for a comparison list, whether it is stale.
One set-based query per table, and one over the import batches.

The **data date** of a list is the latest date its content speaks of, because that is what the
department's extract is current to, whenever it was imported, and because it is the same when a run
is replayed later:

- 死亡人员: the latest death date; 养老金领取: the latest 领取起始日期; 工商登记: the latest
  registration or deregistration date; 外出务工: the latest departure or return date;
- 社保缴费: the last day of the latest month paid (a month's contributions are the month's data);
- 干部名单 has no date column: its data date is the day of the latest import that carried it.

A comparison list whose data date lies more than ``COMPARISON_STALE_MONTHS`` (default 3) months
before the run's as-of date is stale: 「死亡人员名单 已 4 个月未更新」 on the dashboard, the run page
and the 审计报告. (The daily job ``stale_comparison`` is another check: it measures the age of the
latest import against the clock, ``STALE_COMPARISON_DAYS``.) A ledger table's dates are shown, never
warned about: its own rules say what is missing.

**Optional columns.** A rule declares the optional columns it compares (``needs_columns``) or only
uses (``uses_columns``); a column with no value in any row of its table (one EXISTS query per
column, cached per run) makes the rule 未完整运行 (「未完整运行：缺少 收款户名 列」), never "no
findings": without a compared column it is not run and its earlier findings are kept.
"""
from __future__ import annotations

import calendar
import datetime as dt
import os
import time
from typing import Any

from sqlalchemy import Connection, String, Table, and_, case, distinct, exists, func, literal, or_, select

from models import Base, ImportBatch

LISTS = ("deaths", "social_insurance", "pensions", "businesses", "officials", "migrant_work")
LEDGER = ("persons", "positions", "placements", "workshops", "workshop_staff", "attendance", "wages",
          "reports")

LIST_NAMES = {"deaths": "死亡人员名单", "social_insurance": "社保缴费名单", "pensions": "养老金领取名单",
              "businesses": "工商登记名单", "officials": "干部名单", "migrant_work": "外出务工名单"}
LEDGER_NAMES = {"persons": "人员信息", "positions": "公益性岗位", "placements": "安置台账",
                "workshops": "就业帮扶车间", "workshop_staff": "车间用工花名册", "attendance": "考勤记录",
                "wages": "工资发放", "reports": "上报数据"}
NAMES = {**LIST_NAMES, **LEDGER_NAMES}

# the date columns of a table's content (the latest of them is its latest data), and what it means
DATES: dict[str, tuple[str, ...]] = {
    "deaths": ("death_date",), "social_insurance": ("period",), "pensions": ("since",),
    "businesses": ("registered_on", "deregistered_on"), "officials": (),
    "migrant_work": ("start_date", "end_date"), "persons": (), "positions": ("created_on",),
    "placements": ("start_date",), "workshops": ("certified_on",), "workshop_staff": ("start_date",),
    "attendance": ("work_date",), "wages": ("paid_on",), "reports": ("period",),
}
MONTHLY = frozenset({"social_insurance", "reports"})  # a month's data: current to the month's last day
DATE_MEANING = {
    "deaths": "最近的死亡日期", "social_insurance": "最近的缴费月份（月末）",
    "pensions": "最近的领取起始日期",
    "businesses": "最近的登记或注销日期", "officials": "最近一次导入的日期（名单无日期列）",
    "migrant_work": "最近的外出或返回日期", "persons": "最近一次导入的日期", "positions": "最近的开发日期",
    "placements": "最近的上岗日期", "workshops": "最近的认定日期", "workshop_staff": "最近的入职日期",
    "attendance": "最近的考勤日期", "wages": "最近的发放日期", "reports": "最近的所属月份（月末）",
}
PERSON_COLUMN = {"persons": "id", "placements": "person_id", "workshop_staff": "person_id",
                 "attendance": "person_id", "wages": "person_id", **{t: "id_hash" for t in LISTS}}
STALE_MONTHS = 3


def stale_months() -> int:
    """``COMPARISON_STALE_MONTHS`` of the app's configuration or the environment (default 3)."""
    from flask import current_app, has_app_context

    value = current_app.config.get("COMPARISON_STALE_MONTHS") if has_app_context() else None
    if value in (None, ""):
        value = os.environ.get("COMPARISON_STALE_MONTHS")
    try:
        return int(value) if value not in (None, "") else STALE_MONTHS
    except ValueError:
        return STALE_MONTHS


# ---- coverage ---------------------------------------------------------------------------------------

def compute(conn: Connection, as_of: dt.date, stale_after: int | None = None, *,
            attendance_month: Table | None = None) -> dict[str, Any]:
    """The coverage of every comparison list and ledger table as of ``as_of`` (JSON-ready).
    ``attendance_month``: the run's monthly attendance aggregate, if it has one (``_stats``)."""
    started = time.perf_counter()
    limit = stale_months() if stale_after is None else stale_after
    imports = _last_imports(conn)
    tables: dict[str, dict] = {}
    for name in (*LISTS, *LEDGER):
        stats = _stats(conn, name, as_of, attendance_month if name == "attendance" else None)
        last_import = imports.get(name)
        latest = stats["latest"]
        if latest is not None and name in MONTHLY:
            latest = _month_end(latest)
        data_date = latest if DATES[name] else (last_import.date() if last_import else None)
        entry = {"rows": stats["rows"], "persons": stats["persons"], "matched": stats["matched"],
                 "latest": _iso(latest), "data_date": _iso(data_date), "age_months": None, "stale": False,
                 "last_import": last_import.isoformat(timespec="seconds") if last_import else None}
        if stats["rows"] and data_date is not None:
            entry["age_months"] = months_between(data_date, as_of)
            entry["stale"] = name in LISTS and data_date < minus_months(as_of, limit)
        tables[name] = entry
    return {"as_of": as_of.isoformat(), "stale_months": limit, "tables": tables,
            "seconds": round(time.perf_counter() - started, 3)}


def _stats(conn: Connection, name: str, as_of: dt.date, by_month: Table | None = None) -> dict[str, Any]:
    """One query: rows, distinct persons (and those of them in the ledger), the latest date up to
    ``as_of`` (a payment dated after the audit's date is not data the audit had then: a table is
    never shown as reaching past the date it is judged on). The
    distinct persons are counted over a DISTINCT subquery (hashed: on PostgreSQL a third of the time
    of COUNT(DISTINCT) over ten million attendance rows); the ledger's persons on a list by EXISTS on
    the list's ID hash index.

    SQLite, attendance, in a run that built its monthly aggregate (``by_month``, the check-ins up to
    ``as_of`` per person, post and month): the rows and the persons each by a query of their own
    (SQLite counts a table's rows from its pages, and the distinct persons from the key they lead),
    and the latest date from the last day of each group of the latest month, found by the key, not
    by reading every check-in again (half a second of a district's run)."""
    t = Base.metadata.tables[name]
    person = PERSON_COLUMN.get(name)
    if by_month is not None and conn.dialect.name == "sqlite":
        a, m = t, by_month
        rows = conn.execute(select(func.count()).select_from(a)).scalar_one()
        persons = conn.execute(select(func.count()).select_from(
            select(distinct(a.c.person_id)).subquery())).scalar_one()
        last = select(func.max(m.c.month)).scalar_subquery()
        # each group's last day by one seek along the key (not its every check-in read): 0.03 s
        # against 0.17 s for a district's latest month
        last_day = (select(func.max(a.c.work_date))
                    .where(a.c.person_id == m.c.person_id, a.c.post_id == m.c.post_id,
                           a.c.work_month == m.c.month, a.c.work_date <= as_of)
                    .scalar_subquery())
        latest = conn.execute(select(func.max(last_day)).where(m.c.month == last)).scalar()
        return {"rows": rows, "persons": persons, "matched": None, "latest": _date(latest)}
    cols = [func.count().label("rows")]
    if person == "id":
        cols.append(func.count().label("persons"))
    elif person:
        ids = select(distinct(t.c[person]).label("who")).where(t.c[person].is_not(None)).subquery()
        cols.append(select(func.count()).select_from(ids).scalar_subquery().label("persons"))
    if person == "id_hash":
        p, held = Base.metadata.tables["persons"], t.alias("held")
        on_list = select(func.count()).select_from(p).where(exists().where(held.c.id_hash == p.c.id_hash))
        cols.append(on_list.scalar_subquery().label("matched"))
    cols.extend(func.max(case((t.c[c] <= as_of, t.c[c]))).label(f"max_{c}") for c in DATES[name])
    row = conn.execute(select(*cols).select_from(t)).one()._mapping
    dates = [d for d in (_date(row[f"max_{c}"]) for c in DATES[name]) if d is not None]
    return {"rows": int(row["rows"]), "persons": _int(row.get("persons")),
            "matched": _int(row.get("matched")), "latest": max(dates) if dates else None}


def _last_imports(conn: Connection) -> dict[str, dt.datetime]:
    """Per table, when the latest import that carried rows of it (or deleted some by a ``replaces``
    row) finished: one query over the import batches."""
    counts = ImportBatch.counts
    cols = [func.max(ImportBatch.finished_at).filter(
        or_(func.coalesce(counts[t]["rows"].as_integer(), 0) > 0,
            func.coalesce(counts[t]["deleted"].as_integer(), 0) > 0)).label(t) for t in (*LISTS, *LEDGER)]
    row = conn.execute(select(*cols)).one()._mapping
    out = {}
    for t in (*LISTS, *LEDGER):
        value = row[t]
        if isinstance(value, str):  # SQLite: an aggregate with a filter has no type
            value = dt.datetime.fromisoformat(value)
        if value is not None:
            out[t] = value
    return out


def months_between(day: dt.date, as_of: dt.date) -> int:
    """Whole months from ``day`` to ``as_of`` (0 when ``day`` is later)."""
    n = (as_of.year - day.year) * 12 + as_of.month - day.month - (1 if as_of.day < day.day else 0)
    return max(n, 0)


def minus_months(day: dt.date, months: int) -> dt.date:
    """``day`` ``months`` months earlier (the 31st to the month's last day)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _date(value) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _int(value) -> int | None:
    return None if value is None else int(value)


# ---- what the pages show --------------------------------------------------------------------------

def warnings(cov: dict | None) -> list[str]:
    """「死亡人员名单 已 4 个月未更新（数据截至 2025-02-28，基准日 2025-06-30）」, per stale list."""
    if not cov:
        return []
    out = []
    for name in LISTS:
        e = (cov.get("tables") or {}).get(name)
        if e and e.get("stale"):
            out.append(f"{LIST_NAMES[name]} 已 {e['age_months']} 个月未更新（数据截至 {e['data_date']}，"
                       f"审计基准日 {cov.get('as_of')}，"
                       f"超过 {cov.get('stale_months', STALE_MONTHS)} 个月即提示）")
    return out


def rows(cov: dict | None, kind: str = "lists") -> list[dict]:
    """The coverage of the comparison lists (``kind="lists"``) or the ledger tables, for a table."""
    if not cov:
        return []
    names = LIST_NAMES if kind == "lists" else LEDGER_NAMES
    out = []
    for table, zh in names.items():
        e = (cov.get("tables") or {}).get(table) or {}
        held = bool(e.get("rows"))
        if not held:
            state = "未提供"
        elif e.get("stale"):
            state = f"已 {e['age_months']} 个月未更新"
        elif e.get("data_date") is None:
            state = "数据日期不明"
        else:
            state = "正常" if kind == "lists" else "—"
        out.append({"table": table, "name": zh, "held": held, "rows": e.get("rows") or 0,
                    "persons": e.get("persons"), "matched": e.get("matched"), "data_date": e.get("data_date"),
                    "meaning": DATE_MEANING[table], "last_import": (e.get("last_import") or "")[:10] or None,
                    "age_months": e.get("age_months"), "stale": bool(e.get("stale")), "state": state})
    return out


# ---- optional columns a rule needs -------------------------------------------------------------------

# how a ledger column is stored where its name differs (the others: the column of the same name)
STORED = {("persons", "categories"): "category_mask", ("persons", "bank_account"): "bank_hash",
          ("wages", "account_number"): "account_hash", ("wages", "account_name"): "account_name_key"}


def column_header(table: str, column: str) -> str:
    """The Chinese header of a ledger column (audit/ledger/schema.py): 收款户名."""
    from audit.ledger.schema import BY_NAME

    return BY_NAME[table].col(column).zh


def stored_column(table: str, column: str):
    return Base.metadata.tables[table].c[STORED.get((table, column), column)]


def column_present(conn: Connection, table: str, column: str) -> bool:
    """Whether some row of ``table`` has a value in the ledger column (one EXISTS query): not NULL,
    not empty text, and for 人员类别 (a bit mask, 0 when none is given) some category."""
    col = stored_column(table, column)
    has = col.is_not(None)
    if (table, column) == ("persons", "categories"):
        has = and_(has, col != 0)
    elif isinstance(col.type, String):
        has = and_(has, col != "")
    return conn.execute(select(literal(1)).select_from(col.table).where(has).limit(1)).first() is not None


def missing_columns_reason(columns: list[tuple[str, str]]) -> str:
    """「未完整运行：缺少 收款户名 列」; columns of two tables name their table: 缺少 人员信息的户编号、…"""
    tables = {t for t, _ in columns}
    if len(tables) == 1:
        names = "、".join(column_header(t, c) for t, c in columns)
    else:
        names = "、".join(f"{NAMES.get(t, t)}的{column_header(t, c)}" for t, c in columns)
    return f"未完整运行：缺少 {names} 列"


def lacking_columns(ctx, rule) -> dict[str, Any] | None:
    """The status of a rule some of whose optional columns have no value anywhere (``None`` when it has
    them all): ``partial``, with the reason, the columns, and whether it still runs (``ran``: only
    when what is missing is a column it merely uses). Presence is cached on the run's context."""
    if not rule.needs_columns and not rule.uses_columns:
        return None
    cache = ctx.__dict__.setdefault("_columns_present", {})

    def absent(tc: tuple[str, str]) -> bool:
        if tc not in cache:
            cache[tc] = column_present(ctx.conn, *tc)
        return not cache[tc]

    needed = [tc for tc in rule.needs_columns if absent(tc)]
    used = [tc for tc in rule.uses_columns if absent(tc)]
    if not needed and not used:
        return None
    return {"status": "partial", "reason": missing_columns_reason(needed + used),
            "columns": [list(tc) for tc in needed + used], "ran": not needed}


def partial_note(status: dict) -> str:
    """What a partial status means for the reader."""
    if status.get("ran"):
        return "规则已运行，但缺少该列的部分无法判断或计算"
    return "该列是本规则比对的内容，规则未运行，此前的发现保持原状"


def not_fully_run(rules: dict | None) -> list[tuple[str, dict]]:
    """The (code, status) of the rules of a run that were not run or not fully run."""
    return [(code, s) for code, s in (rules or {}).items()
            if isinstance(s, dict) and s.get("status") in ("not_run", "partial")]


def overview(rules: dict | None, summary: dict | None) -> dict[str, Any]:
    """What the dashboard, the run page and the 审计报告 show of a run: its stale lists, the coverage
    of the lists and the ledger tables, and the rules it did not run or did not fully run."""
    from .rule import REGISTRY, all_rules, rule_order

    all_rules()
    cov = (summary or {}).get("coverage")
    shown = [{"rule": code, "title": REGISTRY[code].title if code in REGISTRY else code,
              "status": s["status"], "reason": s.get("reason", ""), "ran": bool(s.get("ran")),
              "note": partial_note(s) if s["status"] == "partial" else "规则未运行，此前的发现保持原状"}
             for code, s in sorted(not_fully_run(rules), key=lambda kv: rule_order(kv[0]))]
    return {"recorded": bool(cov), "as_of": (cov or {}).get("as_of"),
            "stale_months": (cov or {}).get("stale_months", STALE_MONTHS), "warnings": warnings(cov),
            "lists": rows(cov, "lists"), "ledger": rows(cov, "ledger"), "rules": shown,
            "partial": [r for r in shown if r["status"] == "partial"],
            "not_run": [r for r in shown if r["status"] == "not_run"]}
