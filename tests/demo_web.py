"""The demo county split in two districts, for the web tests that read names and scopes.

``audit demo`` makes one county (奉节县). Here three of its townships (草堂镇, 康乐镇, 汾河镇: people,
posts, workshops and cadres) are moved to a second district, 巫山县, before the import; the planted
cases (in 兴隆镇) stay in 奉节县. One cross-district case is added: a 巫山县 person's wages of a month go
into the account that receives a 奉节县 person's wages that month (IM04 on both sides)."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from audit.demo.generator import generate_bundle
from audit.demo.plant import as_of_for, plant_cases
from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from models import db

START, MONTHS, SEED = dt.date(2025, 1, 1), 12, 11
MOVED = ("草堂镇", "康乐镇", "汾河镇")
OTHER = "巫山县"


def _rows(folder: Path, table: str) -> list[dict]:
    with open(folder / f"{table}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(folder: Path, table: str, rows: list[dict]) -> None:
    with open(folder / f"{table}.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def two_district_demo(app, folder: Path, persons: int = 400) -> dict:
    """Generate, split, import and audit; returns what was planted across the districts:
    ``{"near": (id number, name), "far": (id number, name)}`` of the shared account."""
    generate_bundle(folder, persons=persons, start=START, months=MONTHS, seed=SEED)
    plant_cases(folder, start=START, months=MONTHS, seed=SEED)
    for table in ("persons", "positions", "workshops", "officials"):
        rows = _rows(folder, table)
        for r in rows:
            if r.get("township") in MOVED:
                r["district"] = OTHER
        _write(folder, table, rows)
    people = {r["id_number"]: r for r in _rows(folder, "persons")}
    posts = {r["position_code"]: r for r in _rows(folder, "positions")}
    wages = _rows(folder, "wages")

    def district(w):
        post = posts.get(w["post_code"])
        return post and post["district"], people[w["id_number"]]["district"]

    # one 奉节县 and one 巫山县 payment of the same month (each person and post in their own district)
    near = next(w for w in wages if district(w) == ("奉节县", "奉节县") and w["period"] == "2025-06"
                and people[w["id_number"]]["township"] == "白帝镇")
    far = next(w for w in wages if district(w) == (OTHER, OTHER) and w["period"] == "2025-06")
    far["account_number"] = near["account_number"]
    far["account_name"] = people[far["id_number"]]["name"]
    _write(folder, "wages", wages)
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    run_audit(db.engine, as_of=as_of_for(START, MONTHS), actor="test")
    db.session.rollback()
    return {"near": (near["id_number"], people[near["id_number"]]["name"]),
            "far": (far["id_number"], people[far["id_number"]]["name"])}


def mask(idn: str) -> str:
    return idn[:6] + "********" + idn[-4:]
