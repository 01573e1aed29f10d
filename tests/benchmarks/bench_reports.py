#!/usr/bin/env python
"""Benchmark: the PDF reports on the 10,000-person demo county, on SQLite and on PostgreSQL.

    .venv/bin/python tests/benchmarks/bench_reports.py [--persons 10000] [--no-pg] [--stress N]

Loads the demo county (``audit demo --persons N``, planted cases included) and audits it (``audit
run``), both as separate processes; then, in this process, issues one 整改通知书 holding 50 findings
(every finding of the county, with evidence, basis and actions) and times its build (SQL + HTML)
and its rendering, and the same for the 审计报告 of the county over the demo's twelve months and
the 整改台账; finally ``audit report summary`` as a process of its own (start-up, query, render,
archive). Memory is the peak resident size of the rendering child (its ``ru_maxrss``, which counts
what it shares with this process at the fork; that share is printed too).

Targets: the notice under 5 s, the 审计报告 under 20 s, each under 500 MB peak in the child.
``--stress N`` also copies the findings to N (synthetic rows) and times the 审计报告 again, to see
how the finding list scales.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from common import PG_DEFAULT, audit, base_env, scratch_pg  # noqa: E402  (this folder)

TARGETS = {"notice": (5, 500), "summary": (20, 500), "ledger": (20, 500)}


def _line(label: str, kind: str, build_s: float, r, extra: str = "") -> str:
    limit_s, limit_mb = TARGETS[kind]
    total = build_s + r.seconds
    peak = r.peak_rss_kb / 1024
    ok = "ok" if total < limit_s and peak < limit_mb else "OVER TARGET"
    return (f"{label:<11} {kind:<8} build {build_s:5.2f} s  render {r.seconds:5.2f} s  total {total:5.2f} s "
            f"(< {limit_s} s)  {r.pages:3d} pages  {len(r.pdf) / 1024:7.0f} KiB  child peak {peak:5.0f} MB "
            f"(< {limit_mb}; {r.start_rss_kb / 1024:.0f} MB shared at fork)  {ok}{extra}")


def in_process(label: str, env: dict, stress: int) -> None:
    os.environ.update(env)
    from sqlalchemy import func, select

    from audit import create_app
    from models import Finding, Notice, NoticeFinding, db
    from reports.ledger import build_ledger
    from reports.notice import build_notice
    from reports.render import render
    from reports.summary import build_summary

    app = create_app()
    with app.app_context():
        district, n = db.session.execute(select(Finding.district, func.count()).group_by(Finding.district)
                                         .order_by(func.count().desc()).limit(1)).one()
        first, last = db.session.execute(select(func.min(Finding.period_start),
                                                func.max(Finding.period_start))).one()
        findings = list(db.session.scalars(select(Finding).order_by(Finding.rule, Finding.id).limit(50)))
        unit = findings[0].unit or "单位"
        notice = Notice(number=f"渝奉人社审〔{dt.date.today().year}〕99号", year=dt.date.today().year, seq=99,
                        unit=unit, unit_kind="employer", unit_name=unit, district=district,
                        township=findings[0].township,
                        issuer=f"{district}人力资源和社会保障局", status="issued",
                        deadline=dt.date.today() + dt.timedelta(days=30),
                        amount_to_recover_fen=sum(f.amount_at_risk_fen or 0 for f in findings),
                        issued_by="bench", issued_at=dt.datetime.now())
        for f in findings:
            notice.items.append(NoticeFinding(finding_id=f.id, actions=["recover", "correct_ledger"],
                                              recover_fen=f.amount_at_risk_fen or 0))
        db.session.add(notice)
        db.session.commit()
        print(f"{label}: {n} findings in {district}, months {first:%Y-%m}…{last:%Y-%m}; notice with "
              f"{len(notice.items)} findings", flush=True)

        started = time.perf_counter()
        built = build_notice(notice.id)
        b = time.perf_counter() - started
        print(_line(label, "notice", b, render(built.html)), flush=True)

        # the demo's twelve months: up to last month
        last_m = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        first_m = dt.date(last_m.year - (1 if last_m.month < 12 else 0), last_m.month % 12 + 1, 1)
        last = last_m
        started = time.perf_counter()
        built = build_summary(district, first_m, last)
        b = time.perf_counter() - started
        print(_line(label, "summary", b, render(built.html), f"  [{first_m:%Y-%m}:{last:%Y-%m}]"), flush=True)

        started = time.perf_counter()
        built = build_ledger(district)
        b = time.perf_counter() - started
        print(_line(label, "ledger", b, render(built.html)), flush=True)

        if stress:
            _stress(db, Finding, stress)
            started = time.perf_counter()
            built = build_summary(district, first_m, last)
            b = time.perf_counter() - started
            print(_line(label, "summary", b, render(built.html), f"  [stress: {stress:,} findings]"),
                  flush=True)
        db.session.remove()
        db.engine.dispose()
    return first_m, last, district


def _stress(db, Finding, target: int) -> None:
    """Copy the findings (new ids) until there are ``target`` of them (synthetic rows for timing),
    with the payments their money comes from (each round of copies on payments of its own, so the
    counted-once totals have as many payments to rank as findings)."""
    from sqlalchemy import func, insert, select

    from models import FindingMoney

    cols = [c for c in Finding.__table__.columns if c.name != "id"]
    have = db.session.scalar(select(func.count()).select_from(Finding))
    rows = [dict(r._mapping) for r in db.session.execute(select(Finding.__table__))]
    claims: dict[str, list] = {}
    for fid, payment, month, fen in db.session.execute(select(FindingMoney.finding_id, FindingMoney.payment,
                                                              FindingMoney.month, FindingMoney.amount_fen)):
        claims.setdefault(fid, []).append((payment, month, fen))
    batch, money, i = [], [], 0
    while have + len(batch) < target:
        src = rows[i % len(rows)]
        fid = f"stress{i:026d}"
        batch.append({**{c.name: src[c.name] for c in cols}, "id": fid})
        money += [{"finding_id": fid, "payment": f"{payment}#{i // len(rows)}", "month": month,
                   "amount_fen": fen}
                  for payment, month, fen in claims.get(src["id"], [])]
        i += 1
    if batch:
        db.session.execute(insert(Finding.__table__), batch)
        if money:
            db.session.execute(insert(FindingMoney.__table__), money)
        db.session.commit()


def run(label: str, env: dict, stress: int, tmp: Path) -> None:
    started = time.perf_counter()
    audit(["demo", "--persons", str(ARGS.persons)], env)
    audit(["run"], env)
    print(f"{label}: demo county loaded and audited in {time.perf_counter() - started:.0f} s", flush=True)
    # in a child process of its own (a clean environment per backend)
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=lambda: q.put(in_process(label, env, stress)))
    p.start()
    first, last, district = q.get()
    p.join()
    out = tmp / f"{label}-summary.pdf"
    seconds = audit(["report", "summary", "--district", district, "--period", f"{first:%Y-%m}:{last:%Y-%m}",
                     "--output", str(out)], env)
    print(f"{label:<11} `audit report summary` as a process: {seconds:.1f} s (start-up, query, render,"
          " archive), "
          f"{out.stat().st_size / 1024:.0f} KiB", flush=True)


def main() -> None:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--stress", type=int, default=0, help="also time the 审计报告 with this many findings")
    ARGS = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        tmp = Path(tmp)
        base = base_env()
        run("SQLite", dict(base, AUDIT_INSTANCE_PATH=str(tmp / "sqlite")), ARGS.stress, tmp)
        if not ARGS.no_pg:
            with scratch_pg(ARGS.pg_url, "audit_bench_reports") as url:
                run("PostgreSQL", dict(base, DATABASE_URL=url, AUDIT_INSTANCE_PATH=str(tmp / "pg")),
                    ARGS.stress, tmp)


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
