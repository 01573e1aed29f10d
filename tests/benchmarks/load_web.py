#!/usr/bin/env python
"""Load test: the findings list and the dashboard under gunicorn, with concurrent signed-in clients.

    .venv/bin/python tests/benchmarks/load_web.py [--persons 10000] [--months 12] [--clients 20]
        [--seconds 60] [--workers 4] [--solo 20] [--findings N] [--pg]

Generates the demo county (10,000 persons, a year of daily attendance, the planted cases), imports
it into a scratch database (SQLite by default; --pg for a scratch PostgreSQL database), runs the
audit, creates an auditor of the county, starts gunicorn with WORKERS sync workers, then lets
CLIENTS clients (each its own session and cookie jar, signed in through the login form) fetch the
dashboard and the findings list (plain, filtered, sorted, paged) as fast as they can for SECONDS
seconds, and prints the latency percentiles per page (first those of one client alone for SOLO
seconds). With --findings N the county's findings are copied up to N first (a city's worth of
findings on a county's ledger). The web issue's target: p95 under 300 ms
with 20 concurrent clients on this 2-core machine.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import common  # noqa: E402
from common import PASSWORD, PG_DEFAULT, audit, base_env, free_port, pct, scratch_pg, sign_in  # noqa: E402

PAGES = {**common.PAGES, "findings?period": "/findings/?period=2026-01:2026-06"}


# copies of the findings up to N, then the findings' summary rebuilt as the run would (where there is one)
STRESS = """
import sys
sys.path.insert(0, "tests/benchmarks")
from sqlalchemy import func, select
from audit import create_app
from bench_reports import _stress
from models import AuditRun, Finding, db
app = create_app()
with app.app_context():
    _stress(db, Finding, int(sys.argv[1]))
    try:
        from audit.engine import summary
    except ImportError:
        summary = None
    if summary is not None:
        with db.engine.begin() as conn:
            summary.build(conn, db.session.scalar(select(func.max(AuditRun.id))))
"""


def client(base: str, until: float, out: dict[str, list[float]], errors: list[str], k: int) -> None:
    opener = sign_in(base)
    names = list(PAGES)
    i = k
    while time.perf_counter() < until:
        name = names[i % len(names)]
        i += 1
        t0 = time.perf_counter()
        try:
            with opener.open(base + PAGES[name], timeout=30) as resp:
                body = resp.read()
                if resp.status != 200 or b"/login" in resp.geturl().encode():
                    errors.append(f"{name}: {resp.status} {resp.geturl()}")
        except Exception as exc:  # noqa: BLE001 - counted and shown
            errors.append(f"{name}: {exc}")
            continue
        out.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        assert body


def table(title: str, out: dict[str, list[float]]) -> None:
    every = [v for vals in out.values() for v in vals]
    print(title)
    print(f"{'page':<36}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, vals in [*sorted(out.items()), ("all", every)]:
        print(f"{name:<36}{len(vals):>7}{statistics.median(vals):>9.0f}{pct(vals, 95):>9.0f}"
              f"{pct(vals, 99):>9.0f}{max(vals):>9.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--solo", type=float, default=20, help="seconds of one client alone first (0: none)")
    ap.add_argument("--findings", type=int, default=0,
                    help="copy the county's findings up to this many (a city's worth: 45000)")
    ap.add_argument("--pg", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="load-web-") as tmp:
        env = base_env()
        env["AUDIT_INSTANCE_PATH"] = tmp
        # the clients (one user, many sessions) sign in by password: pages are measured, not the second
        # factor or the limit of sessions per user
        env.update(TOTP_ENFORCE="false", MAX_SESSIONS_PER_USER=str(args.clients + args.workers * 2 + 5))
        if args.pg:
            with scratch_pg(args.pg_url, "audit_load_web") as url:
                env["DATABASE_URL"] = url
                run(args, env)
        else:
            env["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'audit.sqlite'}"
            run(args, env)


def run(args, env: dict) -> None:
    t = audit(["demo", "--persons", str(args.persons), "--months", str(args.months)], env)
    print(f"demo county: {args.persons} persons, {args.months} months, imported in {t:.1f} s", flush=True)
    t = audit(["run"], env)
    print(f"audit run: {t:.1f} s", flush=True)
    if args.findings:  # a city's worth of findings: copies of the county's (bench_reports.py --stress)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", STRESS, str(args.findings)], env=env, check=True, cwd=ROOT)
        print(f"findings copied up to {args.findings:,} (and the summary rebuilt): "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", "users", "create", "auditor",
                    "--role", "auditor", "--region", "奉节县"], input=PASSWORD + "\n", text=True, env=env,
                   check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                               "-w", str(args.workers), "-b",
                               f"127.0.0.1:{port}", "--log-level", "warning", "audit:create_app()"],
                              env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("gunicorn did not start")
                time.sleep(0.3)
        # warm every worker up
        warm = sign_in(base)
        for _ in range(args.workers * 3):
            for path in PAGES.values():
                warm.open(base + path, timeout=30).read()
        errors: list[str] = []
        if args.solo:  # one client alone first: the page's own time, with nothing else waiting
            alone: dict[str, list[float]] = {}
            client(base, time.perf_counter() + args.solo, alone, errors, 0)
            table(f"1 client, {args.solo:.0f} s", alone)
        out: dict[str, list[float]] = {}
        until = time.perf_counter() + args.seconds
        threads = [threading.Thread(target=client, args=(base, until, out, errors, k))
                   for k in range(args.clients)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    every = [v for vals in out.values() for v in vals]
    db = "PostgreSQL" if args.pg else "SQLite"
    table(f"{db}, gunicorn {args.workers} workers, {args.clients} clients, {elapsed:.0f} s: {len(every)} "
          f"requests ({len(every) / elapsed:.0f}/s), {len(errors)} errors", out)
    for e in errors[:10]:
        print("error:", e)
    if errors or pct(every, 95) >= 300:
        sys.exit(1)


if __name__ == "__main__":
    main()
