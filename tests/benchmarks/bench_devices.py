#!/usr/bin/env python
"""Benchmark: the devices' attendance API, ``POST /api/v1/attendance``, on SQLite (and PostgreSQL).

    .venv/bin/python tests/benchmarks/bench_devices.py [--persons 2000] [--calls 20] [--pg [URL]]

Makes a scratch database with ``--persons`` persons and 20 posts of one employing unit, a device
token of that unit, then sends ``--calls`` calls of 1,000 new records each through the whole
application (Flask's test client: authentication, rate limit, JSON, parsing, look-ups, writes,
audit log) and prints records per second; then sends the same calls again (every record answered
``duplicate``). The issue's target is at least 2,000 records/s on SQLite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from audit import create_app  # noqa: E402
from audit.demo.generator import make_id_number  # noqa: E402
from models import Person, Position, Post, db  # noqa: E402
from models.types import mask_id  # noqa: E402

from common import PG_DEFAULT, scratch_pg  # noqa: E402  (this folder)

KEY = "benchmark-key-" + "x" * 40
UNIT = ("奉节县", "白帝镇", "白帝村村民委员会")
POSTS = 20
START = dt.date(2025, 1, 1)


def seed(persons: int) -> tuple[list[str], list[str]]:
    """Persons and posts, inserted directly (the import is not what is measured)."""
    from flask import current_app

    rng = random.Random(7)
    pii = current_app.extensions["pii"]
    ids, seen = [], set()
    while len(ids) < persons:
        number = make_id_number(rng, "500236", dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000)),
                                rng.random() < 0.5)
        if number not in seen:
            seen.add(number)
            ids.append(number)
    rows = [{"id_hash": pii.digest(n), "id_enc": pii.encrypt(n), "id_masked": mask_id(n),
             "birth_date": dt.date(int(n[6:10]), int(n[10:12]), int(n[12:14])), "sex": "M" if int(n[16]) % 2
             else "F", "region_code": n[:6], "name": f"人员{i}", "name_key": f"人员{i}", "category_mask": 0}
            for i, n in enumerate(ids)]
    db.session.execute(insert(Person.__table__), rows)
    codes = [f"GW-BENCH-{i:03d}" for i in range(POSTS)]
    db.session.execute(insert(Post.__table__),
                       [{"id": i + 1, "code": c, "kind": "position"} for i, c in enumerate(codes)])
    db.session.execute(insert(Position.__table__), [
        {"id": i + 1, "title": "保洁员", "kind": "乡村公益性岗位", "employer": UNIT[2], "district": UNIT[0],
         "township": UNIT[1], "village": "白帝村", "monthly_wage_fen": 80000, "required_days": 20}
        for i in range(POSTS)])
    db.session.commit()
    return ids, codes


def batches(ids: list[str], codes: list[str], calls: int) -> list[list[dict]]:
    """``calls`` batches of 1,000 distinct records (person, post, day), as a terminal sends them."""
    out, n = [], 0
    for _ in range(calls):
        batch = []
        for _ in range(1000):
            person = ids[n % len(ids)]
            day = START + dt.timedelta(days=n // len(ids))
            batch.append({"record_id": f"R{n:09d}", "id_number": person, "post_code": codes[n % len(codes)],
                          "work_date": day.isoformat(), "status": "出勤", "check_in_time": "08:01",
                          "method": "人脸识别", "device_id": "KQJ-BENCH-01", "verified": "通过"})
            n += 1
        out.append(batch)
    return out


def bench(label: str, url: str, instance: Path, persons: int, calls: int) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "benchmark", "AUDIT_PII_KEY": KEY,
                      "INSTANCE_PATH": str(instance), "DEVICE_RATE_LIMIT": 0, "AUDIT_AS_OF": "2026-12-31"})
    with app.app_context():
        from audit.database import ensure_schema
        from audit.devices.services import create_token

        ensure_schema()
        ids, codes = seed(persons)
        _, token = create_token("bench", "/".join(UNIT), by="bench")
        db.session.commit()
        work = batches(ids, codes, calls)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        for what, expect in (("new records", "stored"), ("the same again", "duplicate")):
            started = time.perf_counter()
            slowest = 0.0
            for batch in work:
                t0 = time.perf_counter()
                resp = client.post("/api/v1/attendance", json={"records": batch}, headers=headers)
                slowest = max(slowest, time.perf_counter() - t0)
                results = resp.get_json()["results"]
                assert resp.status_code == 200 and {r["result"] for r in results} == {expect}, results[:3]
            took = time.perf_counter() - started
            n = 1000 * len(work)
            print(f"{label:10} {what:15} {n:>7,} records in {took:6.2f} s: {n / took:8,.0f} records/s "
                  f"(slowest call of 1,000: {slowest * 1000:.0f} ms)")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=20, help="calls of 1,000 records each")
    ap.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, metavar="URL",
                    help=f"also on PostgreSQL (server's maintenance database; default {PG_DEFAULT})")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench("SQLite", f"sqlite:///{tmp}/bench.sqlite", Path(tmp) / "instance", args.persons, args.calls)
        if args.pg:
            with scratch_pg(args.pg, "audit_bench_devices") as url:
                bench("PostgreSQL", url, Path(tmp) / "instance-pg", args.persons, args.calls)


if __name__ == "__main__":
    main()
