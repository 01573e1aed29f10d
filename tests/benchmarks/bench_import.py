#!/usr/bin/env python
"""Benchmark: ``audit import`` of a generated county, on SQLite and on PostgreSQL.

    .venv/bin/python tests/benchmarks/bench_import.py [--persons 10000] [--months 12]
                     [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--no-pg]

Generates the bundle (10,000 persons and a year of daily attendance ≈ 1.7 million rows by
default), then times, as separate processes on fresh databases: the first import, and a second
import of the same bundle (which must change nothing). The target of the foundation issue is a
first import under 30 s on SQLite on a 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import generate_bundle  # noqa: E402
from common import PG_DEFAULT, audit, base_env, scratch_pg  # noqa: E402  (this folder)


def run(label: str, bundle: Path, env: dict) -> None:
    audit(["init-db"], env)
    first = audit(["import", str(bundle)], env)
    again = audit(["import", str(bundle)], env)
    print(f"{label:<12} first import {first:6.1f} s   re-import (no change) {again:6.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        counts = generate_bundle(tmp / "bundle", persons=args.persons, months=args.months)
        size = sum(f.stat().st_size for f in (tmp / "bundle").iterdir()) / 2**20
        print(f"bundle: {args.persons:,} persons, {counts['attendance']:,} attendance rows, "
              f"{sum(counts.values()):,} rows in all, {size:.0f} MiB of CSV "
              f"(generated in {time.perf_counter() - started:.1f} s)")
        print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
        base = base_env()
        run("SQLite", tmp / "bundle", dict(base, AUDIT_INSTANCE_PATH=str(tmp / "sqlite")))
        if not args.no_pg:
            with scratch_pg(args.pg_url, "audit_bench") as url:
                run("PostgreSQL", tmp / "bundle", dict(base, DATABASE_URL=url, AUDIT_INSTANCE_PATH=str(tmp / "pg")))


if __name__ == "__main__":
    main()
