#!/usr/bin/env python
"""Benchmark of issue 15: a generated city on PostgreSQL — import, audit, detection, web load.

    .venv/bin/python tests/benchmarks/bench_city.py [--data-dir /work/city-data] [--bundle PATH]
        [--districts 10] [--persons 10000] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
        [--db audit_bench_city] [--keep-db] [--reuse-db] [--skip-web] [--seconds 30] [--workers 4]

1. The city (audit/demo/city.py: DISTRICTS districts of PERSONS persons, each with the planted cases)
   is generated into DATA_DIR/city once and reused afterwards (or --bundle PATH, a folder with the
   CSV files and expected.json). Generated data stays outside the repository.
2. On a scratch PostgreSQL database: ``audit import`` — wall-clock seconds and the peak memory of
   the importing process (ru_maxrss of the grandchild, through a small parent: a forked child
   starts with its parent's peak on Linux).
3. ``audit run --as-of`` (the expected.json date): seconds of the process, of the engine and of
   each rule, the slowest rules.
4. Detection against expected.json: every planted violation found (recall) and no violation
   finding that was not planted (precision), by (rule, subject, post, months, amount) as in
   tests/demo/test_demo_county.py; informational entries must be found too.
5. Web: gunicorn with WORKERS workers; a city-wide auditor (every district) and a district auditor
   (奉节县), with 1 client and with 20 clients, each fetching the dashboard and the findings list
   for SECONDS seconds: p50 and p95 per page.

Issue 15's targets: import ≤ 150 s and ≤ 1.5 GB; audit ≤ 90 s, no rule over 15 s; city-wide pages
p95 ≤ 150 ms alone and ≤ 1 s with 20 clients; district pages p95 ≤ 300 ms with 20 clients.
--reuse-db skips generation and import (the database from an earlier --keep-db run).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, desc, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common import PAGES, PASSWORD, PG_DEFAULT, base_env, free_port, pct, sign_in  # noqa: E402  (this folder)

# runs ``audit ARGS`` as its child and prints the child's peak resident memory (KiB) last: this
# parent stays small, so the child's ru_maxrss is its own
_MEASURE = ("import resource, subprocess, sys\n"
            "rc = subprocess.call([sys.executable, '-c', 'from audit.cli import main; main()',\n"
            "                      *sys.argv[1:]])\n"
            "print('\\nPEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(rc)\n")


def say(text: str) -> None:
    print(text, flush=True)


def measured(args: list[str], env: dict, log: Path | None = None) -> tuple[float, float]:
    """Run ``audit ARGS`` in a fresh process: (seconds, peak MiB of that process); exit on failure."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *args], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    seconds = time.perf_counter() - started
    if log is not None:
        log.write_text(proc.stdout + "\n" + proc.stderr, encoding="utf-8")
    if proc.returncode:
        sys.exit(f"audit {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = int(re.findall(r"PEAK_KIB (\d+)", proc.stdout)[-1]) / 1024
    return seconds, peak


def cli(args: list[str], env: dict, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", *args], input=stdin,
                   text=True, env=env, check=True, capture_output=True, cwd=ROOT)


# -- the city -------------------------------------------------------------------------------------------
def city_bundle(args) -> Path:
    if args.bundle:
        bundle = Path(args.bundle)
    else:
        bundle = Path(args.data_dir) / "city"
        if not (bundle / "expected.json").exists():
            from audit.demo.city import generate_city

            started = time.perf_counter()
            generate_city(bundle, districts=args.districts, persons=args.persons, log=say)
            say(f"generated in {time.perf_counter() - started:.0f} s")
    if not (bundle / "expected.json").exists():
        sys.exit(f"{bundle}: no expected.json (not a city written by audit/demo/city.py)")
    return bundle


def describe(bundle: Path, expected: dict) -> None:
    size = sum(f.stat().st_size for f in bundle.glob("*.csv")) / 2**30
    districts = expected.get("districts", [])
    counts: dict[str, int] = {}
    for d in districts:
        for t, n in d["counts"].items():
            counts[t] = counts.get(t, 0) + n
    say(f"city: {len(districts)} districts, {counts.get('persons', 0):,} persons, "
        f"{counts.get('attendance', 0):,} attendance rows, {counts.get('wages', 0):,} wage rows, "
        f"{sum(counts.values()):,} rows in all, {size:.2f} GiB of CSV; {len(expected['findings']):,} planted "
        f"findings, {len(expected['lookalikes']):,} look-alikes; as of {expected['as_of']}")
    say(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")


def database(server_url: str, name: str, fresh: bool) -> str:
    admin = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    if fresh:
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        eng.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def drop(server_url: str, name: str) -> None:
    admin = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    eng.dispose()


# -- audit and detection ----------------------------------------------------------------------------------
def report_run(url: str) -> None:
    from models import AuditRun

    eng = create_engine(url)
    with eng.connect() as conn:
        last = conn.execute(select(AuditRun).order_by(desc(AuditRun.id)).limit(1)).one()
    eng.dispose()
    rules = last.rules
    ran = {c: s for c, s in rules.items() if s.get("status") == "ran"}
    other = {c: s.get("status") for c, s in rules.items() if s.get("status") not in ("ran", "not_applicable")}
    na = sorted(c for c, s in rules.items() if s.get("status") == "not_applicable")
    shared = last.summary.get("shared_aggregates_seconds", {})
    say(f"engine: {last.summary.get('seconds', 0):.1f} s, {len(ran)} rules ran, {last.summary.get('total')} "
        f"findings; shared aggregates: " + (", ".join(f"{k} {v:.2f} s" for k, v in shared.items()) or "-"))
    if other:
        say("rules not run: " + ", ".join(f"{c} ({s})" for c, s in sorted(other.items())))
    if na:  # a rule whose table is absent by choice (no pre-checks in a generated city), not missing data
        say("rules not applicable: " + ", ".join(na))
    say("per rule (s): " + ", ".join(f"{c} {s['seconds']:.2f}" for c, s in
                                     sorted(ran.items(), key=lambda kv: -kv[1]["seconds"])))
    slow = [c for c, s in ran.items() if s["seconds"] > 15]
    say(f"rules over 15 s: {', '.join(sorted(slow)) or 'none'}")


def detection(url: str, expected: dict, key_text: str) -> bool:
    from audit.engine.rule import VIOLATIONS
    from audit.pii import PiiCodec
    from models import Finding, Person, Post

    pii = PiiCodec(key_text)
    eng = create_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(select(Finding.rule, Finding.category, Finding.subject_type,
                                   Finding.subject_label, Finding.person_id, Finding.post_id,
                                   Finding.periods, Finding.amount_at_risk_fen)).all()
        person_ids = {r.person_id for r in rows if r.subject_type == "person"}
        ids = {}
        for pid, enc in conn.execute(select(Person.id, Person.id_enc)):
            if pid in person_ids:
                ids[pid] = pii.decrypt(enc)
        codes = dict(conn.execute(select(Post.id, Post.code)).all())
    eng.dispose()

    def key(rule, subject, post, periods, amount):
        return rule, subject, post, tuple(periods), amount

    found = {}
    for r in rows:
        subject = ids[r.person_id] if r.subject_type == "person" else r.subject_label
        amount = None if r.amount_at_risk_fen is None else f"{r.amount_at_risk_fen / 100:.2f}"
        found.setdefault(r.category, set()).add(key(r.rule, subject, codes.get(r.post_id), r.periods, amount))
    manifest = expected["findings"]
    want = {key(m["rule"], m["subject"], m["post"], m["periods"], m["amount"]) for m in manifest
            if m["category"] in VIOLATIONS}
    got = set().union(*(v for c, v in found.items() if c in VIOLATIONS))
    info = [m for m in manifest if m["category"] not in VIOLATIONS]
    info_missing = [m for m in info if key(m["rule"], m["subject"], m["post"], m["periods"], m["amount"])
                    not in found.get(m["category"], set())]
    missing, extra = want - got, got - want
    say(f"detection: {len(want) - len(missing)}/{len(want)} planted violations found (recall "
        f"{(len(want) - len(missing)) / max(1, len(want)):.4f}), {len(extra)} violation findings not planted "
        f"(precision {len(got & want) / max(1, len(got)):.4f}); informational "
        f"{len(info) - len(info_missing)}/{len(info)} found; {sum(len(v) for v in found.values()):,} "
        f"findings in all")
    for k in sorted(missing, key=str)[:10]:
        say(f"  planted, not found: {k}")
    for k in sorted(extra, key=str)[:10]:
        say(f"  found, not planted: {k}")
    for m in info_missing[:10]:
        say(f"  informational, not found: {m['rule']} {m['subject']} {m['post']} {m['periods']}")
    return not missing and not extra and not info_missing


# -- web load -----------------------------------------------------------------------------------------------
def load(base: str, username: str, clients: int, seconds: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    errors: list[str] = []
    openers = [sign_in(base, username) for _ in range(clients)]
    until = time.perf_counter() + seconds

    def client(k: int) -> None:
        names = list(PAGES)
        i = k
        while time.perf_counter() < until:
            name = names[i % len(names)]
            i += 1
            t0 = time.perf_counter()
            try:
                with openers[k].open(base + PAGES[name], timeout=120) as resp:
                    resp.read()
                    if resp.status != 200 or "/login" in resp.geturl():
                        errors.append(f"{name}: {resp.status} {resp.geturl()}")
                        continue
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors.append(f"{name}: {exc}")
                continue
            out.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    every = [v for vals in out.values() for v in vals]
    line = " | ".join(f"{n} p50 {statistics.median(v):.0f} p95 {pct(v, 95):.0f}" for n, v in out.items())
    p50 = statistics.median(every) if every else 0
    p95 = pct(every, 95) if every else 0
    say(f"web {username:<9} {clients:>2} client(s), {seconds:.0f} s: {len(every)} requests, {len(errors)} "
        f"errors; all p50 {p50:.0f} ms p95 {p95:.0f} ms; " + line)
    for e in errors[:5]:
        say(f"  error: {e}")
    return out


def web(args, env: dict, districts: list[str]) -> None:
    users = {"city": districts, "district": districts[:1]}
    for name, regions in users.items():
        try:
            scope = [x for r in regions for x in ("--region", r)]
            cli(["users", "create", name, "--role", "auditor", *scope], env, stdin=PASSWORD + "\n")
        except subprocess.CalledProcessError as exc:
            if "已存在" not in (exc.stderr or "") + (exc.stdout or ""):
                raise
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # the load clients sign in with a password only, 20 sessions of one user at once
    env = dict(env, TOTP_ENFORCE="false", MAX_SESSIONS_PER_USER="0")
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                               "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                               "audit:create_app()"], env=env, cwd=ROOT)
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
        for name in users:  # warm every worker up
            warm = sign_in(base, name)
            for _ in range(args.workers * 2):
                for path in PAGES.values():
                    warm.open(base + path, timeout=120).read()
        for clients in (1, 20):
            for name in users:
                load(base, name, clients, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="/work/city-data")
    ap.add_argument("--bundle", help="a city bundle folder to reuse (CSV files and expected.json)")
    ap.add_argument("--districts", type=int, default=10)
    ap.add_argument("--persons", type=int, default=10_000, help="persons per district")
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--db", default="audit_bench_city", help="name of the scratch database")
    ap.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    ap.add_argument("--reuse-db", action="store_true", help="audit the database of an earlier --keep-db run")
    ap.add_argument("--skip-web", action="store_true")
    ap.add_argument("--seconds", type=float, default=30, help="seconds of each web load phase")
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    bundle = city_bundle(args)
    expected = json.loads((bundle / "expected.json").read_text(encoding="utf-8"))
    describe(bundle, expected)
    env = base_env()
    env["AUDIT_INSTANCE_PATH"] = str(Path(args.data_dir) / "instance")
    url = database(args.pg_url, args.db, fresh=not args.reuse_db)
    env["DATABASE_URL"] = url
    logs = Path(args.data_dir)
    try:
        if not args.reuse_db:
            cli(["init-db"], env)
            seconds, peak = measured(["import", str(bundle)], env, logs / "import.log")
            say(f"audit import: {seconds:.1f} s, peak {peak:,.0f} MiB (target ≤ 150 s, ≤ 1,536 MiB)")
        seconds, peak = measured(["run", "--as-of", expected["as_of"]], env, logs / "run.log")
        say(f"audit run: {seconds:.1f} s (process), peak {peak:,.0f} MiB (target ≤ 90 s, no rule over 15 s)")
        report_run(url)
        ok = detection(url, expected, env["AUDIT_PII_KEY"])
        if not args.skip_web:
            web(args, env, [d["district"] for d in expected["districts"]])
    finally:
        if not args.keep_db:
            drop(args.pg_url, args.db)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
