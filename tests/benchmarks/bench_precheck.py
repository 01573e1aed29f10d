#!/usr/bin/env python
"""Benchmark: ``audit precheck`` of a 10,000-row draft payroll on the 10,000-person county.

    .venv/bin/python tests/benchmarks/bench_precheck.py [--county /work/bench-county] [--rows 10000] [--pg]

The county is the generated one in ``--county`` (``python -m audit.demo.generator DIR --persons
10000``; generated into a temporary folder when the folder does not exist). Its latest wage rows,
``--rows`` of them (the last months whole, then the latest rows of the month before), are taken out
as the draft; the rest is imported into a fresh SQLite database (and PostgreSQL with ``--pg``). Then
the pre-check runs twice: in this process (``services.check``: read the file, judge, roll back —
the figure the issue's target of 10 s is for), and as the ``audit precheck`` command in a separate
process (start-up, the check, storing the pre-check and writing the JSON Lines).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common import PG_DEFAULT, audit, base_env, scratch_pg  # noqa: E402  (this folder)

START = dt.date(2025, 1, 1)


def split(county: Path, out: Path, rows: int) -> tuple[Path, Path, dt.date]:
    """The bundle without the draft's rows (the other tables linked), the draft CSV, and a check
    date after the draft's last month."""
    bundle = out / "bundle"
    bundle.mkdir(parents=True)
    for f in county.glob("*.csv"):
        if f.name != "wages.csv":
            os.symlink(f, bundle / f.name)
    with open(county / "wages.csv", encoding="utf-8", newline="") as fh:
        data = list(csv.reader(fh))
    head, body = data[0], data[1:]
    period, paid_on = head.index("period"), head.index("paid_on")
    order = sorted(range(len(body)), key=lambda i: (body[i][period], i), reverse=True)
    chosen = set(order[:rows])
    with open(bundle / "wages.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head] + [r for i, r in enumerate(body) if i not in chosen])
    draft = out / "draft.csv"
    with open(draft, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([h for h in head if h != "paid_on"])
        w.writerows([c for j, c in enumerate(body[i]) if j != paid_on] for i in sorted(chosen))
    last = max(body[i][period] for i in chosen)
    y, m = int(last[:4]), int(last[5:7])
    return bundle, draft, dt.date(y + m // 12, m % 12 + 1, 10)


def run(label: str, bundle: Path, draft: Path, as_of: dt.date, env: dict, url: str) -> None:
    seconds = audit(["import", str(bundle)], env)
    print(f"{label:<11} import {seconds:5.1f} s", flush=True)
    os.environ.update(env)
    from audit import create_app
    from audit.precheck.reader import read_draft
    from audit.precheck.services import check
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": env["SECRET_KEY"],
                      "AUDIT_PII_KEY": env["AUDIT_PII_KEY"], "INSTANCE_PATH": env["AUDIT_INSTANCE_PATH"]})
    with app.app_context():
        started = time.perf_counter()
        result = check(db.engine, read_draft(draft), as_of=as_of, pii=app.extensions["pii"])
        took = time.perf_counter() - started
        s = result.summary
        slow = sorted(((c, x.get("seconds", 0)) for c, x in result.rules.items()), key=lambda kv: -kv[1])[:3]
        print(f"{label:<11} precheck of {s['rows']:,} rows as of {as_of}: {took:.2f} s "
              "(read, judge, roll back); "
              f"pass {s['pass']['rows']:,}, hold {s['hold']['rows']:,}, reject {s['reject']['rows']:,}; "
              "slowest rules: " + ", ".join(f"{c} {t:.2f} s" for c, t in slow), flush=True)
        db.engine.dispose()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", "precheck", str(draft),
                           "--as-of", as_of.isoformat(), "--output", str(draft.with_suffix(".jsonl"))],
                          env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        sys.exit(f"audit precheck failed:\n{done.stdout}\n{done.stderr}")
    took = time.perf_counter() - started
    print(f"{label:<11} audit precheck (process, stores the pre-check): {took:.2f} s; "
          f"{done.stderr.strip().splitlines()[-1]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--county", default="/work/bench-county")
    ap.add_argument("--persons", type=int, default=10_000, help="when the county has to be generated")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--pg", action="store_true")
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-precheck-") as tmp:
        tmp = Path(tmp)
        county = Path(args.county)
        if not (county / "wages.csv").exists():
            from audit.demo.generator import generate_bundle

            county = tmp / "county"
            generate_bundle(county, persons=args.persons, start=START)
        bundle, draft, as_of = split(county, tmp / "split", args.rows)
        print(f"county {county}; draft {args.rows:,} rows; {os.cpu_count()} cores", flush=True)
        base = base_env()
        sqlite_dir = tmp / "sqlite"
        run("SQLite", bundle, draft, as_of, dict(base, AUDIT_INSTANCE_PATH=str(sqlite_dir)),
            f"sqlite:///{sqlite_dir / 'audit.sqlite'}")
        if args.pg:
            with scratch_pg(args.pg_url, "audit_bench_precheck") as url:
                env = dict(base, DATABASE_URL=url, AUDIT_INSTANCE_PATH=str(tmp / "pg"))
                run("PostgreSQL", bundle, draft, as_of, env, url)


if __name__ == "__main__":
    main()
