#!/usr/bin/env python
"""Benchmark (issue 14): ``audit import`` of the same county as a CSV folder and as one xlsx workbook.

    .venv/bin/python tests/benchmarks/bench_xlsx.py [--persons 10000] [--months 12]
                     [--workdir DIR] [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--no-pg]

Generates the district county's bundle (10,000 persons and a year of daily attendance ≈ 1.7 million
rows by default) as a CSV folder, writes the same tables as one workbook with a sheet per table
(openpyxl's write-only mode: every cell the text of the CSV, inline strings, 784 MB of sheet XML for
the attendance sheet), then imports each into a fresh SQLite database (and PostgreSQL), each
``audit import`` a process of its own, and prints its seconds and peak memory (the child's
``ru_maxrss``). Target of issue 14: the xlsx import within 2x the CSV import.

Writing the workbook takes several minutes (openpyxl's writer): ``--workdir`` keeps the bundle
and the workbook there and reuses them on the next run.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audit.demo.generator import TABLES, generate_bundle  # noqa: E402

from common import PG_DEFAULT, audit, base_env, lines_below_header, scratch_pg  # noqa: E402  (this folder)

MB = 1 << 20


def write_workbook(folder: Path, path: Path) -> None:
    """The bundle's CSV files as the sheets of one workbook, in openpyxl's write-only mode."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    for name in TABLES:
        f = folder / f"{name}.csv"
        if not f.exists():
            continue
        ws = wb.create_sheet(name)
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                ws.append(row)
    tmp = path.with_suffix(".part")
    wb.save(tmp)
    tmp.rename(path)


def timed_import(path: Path, env: dict) -> tuple[float, float]:
    """(seconds, peak MB) of ``audit import PATH`` in a process of its own."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        command = [sys.executable, "-c", "from audit.cli import main; main()", "import", str(path)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            sys.exit(f"audit import {path} failed:\n{err.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def run(label: str, csv_folder: Path, workbook: Path, env_of) -> None:
    figures = {}
    for kind, path in (("CSV", csv_folder), ("xlsx", workbook)):
        env = env_of(kind)
        audit(["init-db"], env)
        figures[kind] = timed_import(path, env)
        seconds, peak = figures[kind]
        print(f"{label:<11}{kind:<6} first import {seconds:6.1f} s   peak memory {peak:6.0f} MB", flush=True)
    ratio = figures["xlsx"][0] / figures["CSV"][0]
    verdict = "within" if ratio <= 2 else "OVER"
    print(f"{label:<11}xlsx / CSV: {ratio:.2f}x ({verdict} the 2x target)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--workdir", type=Path, help="keep the bundle and the workbook here (reused)")
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-xlsx-") as tmp:
        tmp = Path(tmp)
        work = args.workdir or tmp
        work.mkdir(parents=True, exist_ok=True)
        folder, workbook = work / "bundle", work / "bundle.xlsx"
        if not (folder / "persons.csv").exists():
            started = time.perf_counter()
            generate_bundle(folder, persons=args.persons, months=args.months)
            print(f"bundle generated in {time.perf_counter() - started:.0f} s")
        if not workbook.exists():
            started = time.perf_counter()
            write_workbook(folder, workbook)
            print(f"workbook written in {time.perf_counter() - started:.0f} s")
        files = list(folder.glob("*.csv"))
        rows = sum(lines_below_header(f) for f in files)
        size = sum(f.stat().st_size for f in files) / MB
        print(f"bundle: {rows:,} rows, {size:.0f} MiB of CSV; "
              f"workbook {workbook.stat().st_size / MB:.0f} MiB")
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
              f"python {sys.version.split()[0]}", flush=True)
        base = base_env()
        run("SQLite", folder, workbook,
            lambda kind: dict(base, AUDIT_INSTANCE_PATH=str(tmp / f"sqlite-{kind}")))
        if not args.no_pg:
            with scratch_pg(args.pg_url, "audit_bench_csv") as csv_url, \
                    scratch_pg(args.pg_url, "audit_bench_xlsx") as xlsx_url:
                urls = {"CSV": csv_url, "xlsx": xlsx_url}
                run("PostgreSQL", folder, workbook,
                    lambda kind: dict(base, DATABASE_URL=urls[kind],
                                      AUDIT_INSTANCE_PATH=str(tmp / f"pg-{kind}")))

if __name__ == "__main__":
    main()
