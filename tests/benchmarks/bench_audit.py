#!/usr/bin/env python
"""Benchmark: ``audit run`` over a generated county, on SQLite and on PostgreSQL.

    .venv/bin/python tests/benchmarks/bench_audit.py [--persons 10000] [--months 12] [--no-pg]

Generates the county (10,000 persons, a year of daily attendance ≈ 1.7 million rows) with the
demo's planted cases, imports it, then times ``audit run`` twice as a separate process (the
second run finds the same facts and must duplicate nothing), and prints the slowest rules of the
second run. The engine issue's target is ``audit run`` under 10 s on SQLite on a 2-core machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, desc, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import generate_bundle  # noqa: E402
from models import AuditRun  # noqa: E402

from common import PG_DEFAULT, audit, base_env, scratch_pg  # noqa: E402  (this folder)

START = dt.date(2025, 1, 1)


def run(label: str, bundle: Path, env: dict, url: str, as_of: dt.date) -> None:
    audit(["import", str(bundle)], env)
    first = audit(["run", "--as-of", as_of.isoformat()], env)
    again = audit(["run", "--as-of", as_of.isoformat()], env)
    eng = create_engine(url)
    with eng.connect() as conn:
        last = conn.execute(select(AuditRun).order_by(desc(AuditRun.id)).limit(1)).one()
    eng.dispose()
    ran = {c: s for c, s in last.rules.items() if s["status"] == "ran"}
    slow = sorted(ran.items(), key=lambda kv: -kv[1]["seconds"])[:3]
    print(f"{label:<12} audit run {first:5.1f} s (process), again {again:5.1f} s; in the engine "
          f"{last.summary['seconds']:.1f} s; {len(ran)} rules ran, {last.summary['total']} findings; shared"
          " aggregates "
          + ", ".join(f"{k} {v:.2f} s" for k, v in last.summary.get("shared_aggregates_seconds", {}).items())
          + "; slowest rules: " + ", ".join(f"{c} {s['seconds']:.2f} s" for c, s in slow), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        tmp = Path(tmp)
        bundle = tmp / "bundle"
        counts = generate_bundle(bundle, persons=args.persons, start=START, months=args.months)
        try:
            from audit.demo.plant import plant_cases
            planted = plant_cases(bundle, start=START, months=args.months, seed=1)
        except ImportError:
            planted = []
        y, m = START.year + (START.month - 1 + args.months
                             + 2) // 12, (START.month - 1 + args.months + 2) % 12 + 1
        as_of = dt.date(y, m, 1)  # everything paid and due
        print(f"county: {args.persons:,} persons, {counts['attendance']:,} attendance rows, {len(planted)}"
              " planted "
              f"findings; as of {as_of}; {os.cpu_count()} cores")
        base = base_env()
        sqlite_dir = tmp / "sqlite"
        run("SQLite", bundle, dict(base, AUDIT_INSTANCE_PATH=str(sqlite_dir)),
            f"sqlite:///{sqlite_dir / 'audit.sqlite'}", as_of)
        if not args.no_pg:
            with scratch_pg(args.pg_url, "audit_bench_run") as url:
                run("PostgreSQL", bundle, dict(base, DATABASE_URL=url, AUDIT_INSTANCE_PATH=str(tmp / "pg")),
                    url, as_of)


if __name__ == "__main__":
    main()
