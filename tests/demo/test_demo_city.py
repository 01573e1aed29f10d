"""The demo city: two districts, each a generated county under its own name and code with its own
planted cases, in one bundle. The audit finds every planted case of both districts, exactly, and
nothing else under a violation category: no person, phone, account or company of one district
makes a finding together with the other's."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from test_demo_county import RULES_MD, key, show

from audit.demo.city import DISTRICTS, generate_city
from audit.engine.rule import VIOLATIONS
from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from models import Person, Post, db

from helpers import findings

START, MONTHS = dt.date(2025, 1, 1), 12


@pytest.mark.slow
def test_city_of_two_districts_finds_every_planted_case_of_both_and_nothing_else(app, tmp_path):
    folder = tmp_path / "city"
    summary = generate_city(folder, districts=2, persons=150, start=START, months=MONTHS, seed=5)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert [d["district"] for d in summary["districts"]] == ["奉节县", "云阳县"]
    assert not (folder / "districts").exists()

    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    run_audit(db.engine, as_of=dt.date.fromisoformat(expected["as_of"]), actor="test")
    found = findings(app)

    # both districts are there, with their own posts, and each planted every rule
    districts = {p.district for p in db.session.scalars(db.select(Person))}
    assert districts == {"奉节县", "云阳县"}
    codes = {p.code[2:8] for p in db.session.scalars(db.select(Post))}
    assert codes == {DISTRICTS[0][1], DISTRICTS[1][1]}
    for _, code in DISTRICTS[:2]:
        planted = {m["rule"] for m in expected["findings"] if code in (m["post"] or "")}
        assert set(RULES_MD) <= planted, (code, sorted(set(RULES_MD) - planted))

    manifest = expected["findings"]
    want = {key(m) for m in manifest if m["category"] in VIOLATIONS}
    assert len(want) == sum(m["category"] in VIOLATIONS for m in manifest), "duplicate manifest entries"
    got = {key(f) for f in found if f["category"] in VIOLATIONS}
    missing, extra = want - got, got - want
    cases = {key(m): m["case"] for m in manifest}
    assert not missing and not extra, (f"\nplanted but not found ({len(missing)}):\n{show(missing, cases)}"
                                       f"\nfound but not planted ({len(extra)}):\n{show(extra)}")
    for m in manifest:
        if m["category"] not in VIOLATIONS:
            assert any(key(f) == key(m) and f["category"] == m["category"] for f in found), m
