"""Planner statistics of the ledger tables (ANALYZE), refreshed after a large import.

The rules' plans at city scale depend on row counts and value distributions: a PostgreSQL table
just filled by ``COPY`` has no statistics until autovacuum gets to it (minutes later, or never
inside a test), and the planner then guesses — nested loops over millions of attendance rows.
``refresh`` runs ANALYZE on the ledger tables: after an import (the importer calls it), and at the
start of an audit run for the tables changed by more than a tenth since their last analysis
(``stale_only``), whoever changed them.

SQLite: ``ANALYZE`` with ``PRAGMA analysis_limit`` (a sample of each index, not a full scan), which
fills ``sqlite_stat1`` for its planner.
"""
from __future__ import annotations

from sqlalchemy import Connection, Engine, text

LEDGER_TABLES = ("households", "persons", "posts", "positions", "placements", "workshops", "workshop_staff",
                 "attendance", "wages", "reports", "deaths", "social_insurance", "pensions", "businesses",
                 "officials", "migrant_work")
STALE_SHARE = 0.1  # changed rows since the last analysis, as a share of the table, that make it stale
LARGE_IMPORT = 1_000  # rows an import adds, changes or deletes in a table that make it analyse the table
# tables the importer fills from others: households from persons, posts from positions and workshops
DERIVED = {"persons": ("households",), "positions": ("posts",), "workshops": ("posts",),
           "attendance_grid": ("attendance",)}
SQLITE_ANALYSIS_LIMIT = 1000  # rows sampled per index by SQLite's ANALYZE


def after_import(engine: Engine, counts: dict) -> list[str]:
    """ANALYZE the tables an import changed by at least ``LARGE_IMPORT`` rows (``counts``: the
    import's ``TableCounts`` per table); the tables analysed. Smaller changes add up until an audit
    run finds the table stale."""
    names: list[str] = []
    for table, c in counts.items():
        if c.added + c.changed + c.deleted >= LARGE_IMPORT:
            for name in (table, *DERIVED.get(table, ())):
                if name in LEDGER_TABLES and name not in names:
                    names.append(name)
    return refresh(engine, tuple(names)) if names else []


def refresh(bind: Engine | Connection, tables: tuple[str, ...] = LEDGER_TABLES, *,
            stale_only: bool = False) -> list[str]:
    """ANALYZE ``tables`` (all of them, or with ``stale_only`` those PostgreSQL counts as changed by more
    than ``STALE_SHARE`` since their last analysis, or never analysed); the tables analysed."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return refresh(conn, tables, stale_only=stale_only)
    conn = bind
    if conn.dialect.name == "postgresql":
        if stale_only:
            rows = conn.execute(text(
                "SELECT relname FROM pg_stat_user_tables "
                "WHERE relname = ANY(:names) AND schemaname = current_schema() "
                "AND (COALESCE(last_analyze, last_autoanalyze) IS NULL "
                "     OR n_mod_since_analyze > :share * GREATEST(n_live_tup, 1000))"),
                {"names": list(tables), "share": STALE_SHARE}).scalars().all()
            tables = tuple(t for t in tables if t in set(rows))
        for name in tables:
            conn.exec_driver_sql(f"ANALYZE {name}")
        return list(tables)
    if conn.dialect.name == "sqlite":
        if stale_only:  # SQLite keeps no count of changes: an import refreshes its statistics
            return []
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        for name in tables:
            conn.exec_driver_sql(f"ANALYZE {name}")
        return list(tables)
    return []
