#!/usr/bin/env python
"""Benchmark: ``audit import`` of a generated county, on SQLite and on PostgreSQL.

    .venv/bin/python tests/benchmarks/bench_import.py [--persons 10000] [--months 12]
                     [--bundle FOLDER] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
                     [--no-pg] [--no-sqlite]

Generates the bundle (10,000 persons and a year of daily attendance ≈ 1.7 million rows by
default), or takes the one in FOLDER (``--bundle /work/city-data/city``: a city of
``audit.demo.city``), then times, as separate processes on fresh databases: the first import, and
a second import of the same bundle (which must change nothing), each with the peak memory of its
process. The target of the foundation issue is a first import under 30 s on SQLite on a 2-core
machine; issue 15's: a city (100,000 persons, 17 million attendance rows) into PostgreSQL in at
most 150 s and 1.5 GB.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import generate_bundle  # noqa: E402

from common import PG_DEFAULT, audit, base_env, scratch_pg  # noqa: E402  (this folder)


def measured(args: list[str], env: dict) -> tuple[float, float]:
    """Run ``audit ARGS`` in a fresh process: its wall-clock seconds and peak memory (MiB, the
    process's own maximum resident set), exit on failure."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", "from audit.cli import main; main()", *args], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            out.seek(0)
            sys.exit(f"audit {' '.join(args)} failed:\n{out.read().decode(errors='replace')[-4000:]}")
    return seconds, usage.ru_maxrss / 1024


def run(label: str, bundle: Path, env: dict) -> None:
    audit(["init-db"], env)
    first, first_peak = measured(["import", str(bundle)], env)
    again, again_peak = measured(["import", str(bundle)], env)
    print(f"{label:<12} first import {first:6.1f} s, peak {first_peak:6.0f} MiB   "
          f"re-import (no change) {again:6.1f} s, peak {again_peak:6.0f} MiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--bundle", type=Path, help="a bundle folder to import instead of a generated county")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        bundle = args.bundle or tmp / "bundle"
        if args.bundle is None:
            generate_bundle(bundle, persons=args.persons, months=args.months)
        lines = {f.stem: _lines(f) - 1 for f in bundle.glob("*.csv")}
        size = sum(f.stat().st_size for f in bundle.glob("*.csv")) / 2**20
        print(f"bundle {bundle}: {lines.get('persons', 0):,} persons, {lines.get('attendance', 0):,} "
              f"attendance rows, {lines.get('wages', 0):,} wage rows, {sum(lines.values()):,} rows in all, "
              f"{size:.0f} MiB of CSV ({'generated' if args.bundle is None else 'read'} in "
              f"{time.perf_counter() - started:.1f} s)")
        print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
        base = base_env()
        if not args.no_sqlite:
            run("SQLite", bundle, dict(base, AUDIT_INSTANCE_PATH=str(tmp / "sqlite")))
        if not args.no_pg:
            with scratch_pg(args.pg_url, "audit_bench") as url:
                run("PostgreSQL", bundle, dict(base, DATABASE_URL=url, AUDIT_INSTANCE_PATH=str(tmp / "pg")))


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


if __name__ == "__main__":
    main()
