#!/usr/bin/env python
"""Benchmark of issue 15's last target: a district (10,000 persons) on SQLite, import + audit run
against the floor, a bare loader of the same CSV files.

    .venv/bin/python tests/benchmarks/bench_district.py [--bundle FOLDER] [--persons 10000] [--rounds 3]

The floor is the least any loader of these files does: each CSV read with Python's csv module and
written with executemany, in one transaction, into a table of text columns of its own (no types,
no keys, no checks, no conversions) in a fresh SQLite file. Against it: ``audit import`` of the
same bundle into a fresh, migrated database, then ``audit run`` as of the end of the bundle's
year, each a process of its own (its wall-clock seconds). Issue 15's target: import + audit ≤ 1.5 ×
the floor.

A machine shared with others runs the same work at speeds up to half apart from one minute to the
next, so one measurement of each proves little. Each round measures the floors and then import and
run, one after the other; the ratio is that of the least time of each over the rounds (each measure
at its least disturbed), and each round's own ratio is printed too.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import generate_bundle  # noqa: E402
from audit.demo.plant import as_of_for  # noqa: E402
from audit.ledger.schema import table_for  # noqa: E402

from common import audit, base_env, lines_below_header  # noqa: E402  (this folder)

START, MONTHS = dt.date(2025, 1, 1), 12


def floor(bundle: Path, path: Path, keyed: bool) -> float:
    """Seconds to load every CSV of ``bundle`` into text tables of a fresh SQLite file; ``keyed``:
    each table with its natural key (ledger-format.md) as primary key, the least a load that
    finds a key given twice must keep."""
    started = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    with con:
        for f in sorted(bundle.glob("*.csv")):
            with open(f, encoding="utf-8-sig", newline="") as fh:
                rows = csv.reader(fh)
                header = next(rows)
                cols = ", ".join(f"c{i} TEXT" for i in range(len(header)))
                spec = table_for(f.stem)
                key = [header.index(k) for k in (spec.key if spec else ()) if k in header]
                if keyed and key:
                    cols += f", PRIMARY KEY ({', '.join(f'c{i}' for i in key)})"
                con.execute(f"CREATE TABLE {f.stem} ({cols})")
                insert = f"INSERT INTO {f.stem} VALUES ({', '.join('?' * len(header))})"
                while chunk := list(islice(rows, 20_000)):
                    con.executemany(insert, chunk)
    con.close()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", help="a bundle folder of CSV files (default: generate one)")
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each (default 3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.bundle:
            bundle = Path(args.bundle)
        else:
            bundle = work / "bundle"
            generate_bundle(bundle, persons=args.persons, start=START, months=MONTHS)
        rows = sum(lines_below_header(f, "utf-8-sig") for f in bundle.glob("*.csv"))
        print(f"bundle: {bundle} ({rows:,} rows)", flush=True)
        rounds = []
        for n in range(1, args.rounds + 1):
            for f in work.glob("*.sqlite*"):
                f.unlink()
            bare = floor(bundle, work / "floor.sqlite", keyed=False)
            keyed = floor(bundle, work / "keyed.sqlite", keyed=True)
            env = dict(base_env(), DATABASE_URL=f"sqlite:///{work / 'audit.sqlite'}")
            audit(["init-db"], env)
            imported = audit(["import", str(bundle)], env)
            ran = audit(["run", "--as-of", as_of_for(START, MONTHS).isoformat()], env)
            rounds.append((bare, keyed, imported, ran))
            print(f"round {n}: floor {bare:.1f} s, keyed {keyed:.1f} s; audit import {imported:.1f} s "
                  f"+ audit run {ran:.1f} s = {imported + ran:.1f} s: {(imported + ran) / keyed:.2f} × "
                  "the keyed floor", flush=True)
        bare, keyed, imported, ran = (min(r[i] for r in rounds) for i in range(4))
        both = imported + ran
        print(f"least of {len(rounds)} rounds: floor (csv + executemany into text tables) {bare:.1f} s; "
              f"with the natural keys as primary keys {keyed:.1f} s; audit import {imported:.1f} s "
              f"+ audit run {ran:.1f} s = {both:.1f} s: {both / bare:.2f} × the floor, "
              f"{both / keyed:.2f} × the keyed floor (target ≤ 1.5 ×)", flush=True)


if __name__ == "__main__":
    main()
