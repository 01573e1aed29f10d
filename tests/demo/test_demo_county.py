"""The demo county: a generated (clean) county with one planted case of every rule of rules.md and
look-alikes that must not fire. On it the audit must find every planted case, exactly (rule,
subject, post, months, amount at risk), and file nothing else under a violation category."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from audit.demo.generator import generate_bundle
from audit.demo.plant import RULE_CATEGORY, as_of_for, plant_cases
from audit.engine.rule import VIOLATIONS, all_rules
from audit.engine.runner import run_audit
from audit.ledger.importer import import_bundle
from models import db

from helpers import findings

START, MONTHS, SEED = dt.date(2025, 1, 1), 12, 11

# every rule code of shared/docs/rules.md
RULES_MD = ([f"PS0{i}" for i in range(1, 8)] + ["DP01", "DP02", "WA01"] + [f"IM0{i}" for i in range(1, 6)]
            + [f"IP0{i}" for i in range(1, 9)] + ["FV01"] + [f"LM0{i}" for i in range(1, 6)]
            + ["TS01", "DQ01"])


def key(f: dict) -> tuple:
    return (f["rule"], f["subject"], f["post"], tuple(f["periods"]), f["amount"])


def show(keys, notes: dict | None = None) -> str:
    notes = notes or {}
    return "\n".join(f"  {k!r}  {notes.get(k, '')}" for k in sorted(keys, key=lambda k: tuple(map(str, k))))


@pytest.fixture
def demo(app, tmp_path):
    folder = tmp_path / "county"
    generate_bundle(folder, persons=400, start=START, months=MONTHS, seed=SEED)
    manifest = plant_cases(folder, start=START, months=MONTHS, seed=SEED)
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    run_audit(db.engine, as_of=as_of_for(START, MONTHS), actor="test")
    return manifest, findings(app), folder


@pytest.mark.slow
def test_demo_county_finds_every_planted_case_and_nothing_else(demo):
    manifest, found, folder = demo

    # the manifest covers every rule of rules.md, and every rule the engine has
    planted = {m["rule"] for m in manifest}
    assert set(RULES_MD) <= planted, sorted(set(RULES_MD) - planted)
    unplanted = {r.code for r in all_rules() if r.category in VIOLATIONS} - planted
    assert not unplanted, f"violation rules with no planted case in audit/demo/plant.py: {sorted(unplanted)}"
    assert all(RULE_CATEGORY[m["rule"]] == m["category"] for m in manifest)
    assert json.loads((folder / "expected.json").read_text(encoding="utf-8"))["findings"] == manifest

    # (1) violations: exactly the planted ones
    expected = {key(m) for m in manifest if m["category"] in VIOLATIONS}
    assert len(expected) == sum(m["category"] in VIOLATIONS for m in manifest), "duplicate manifest entries"
    got = [f for f in found if f["category"] in VIOLATIONS]
    got_keys = {key(f) for f in got}
    assert len(got_keys) == len(got)
    missing, extra = expected - got_keys, got_keys - expected
    cases = {key(m): m["case"] for m in manifest}
    assert not missing and not extra, (f"\nplanted but not found ({len(missing)}):\n{show(missing, cases)}"
                                       f"\nfound but not planted ({len(extra)}):\n{show(extra)}")
    by_key = {key(f): f for f in got}
    for m in manifest:
        if m["category"] in VIOLATIONS:
            assert by_key[key(m)]["category"] == m["category"], m

    # (2) informational entries (TS01, DQ01, DQ02) are found, in their own category (others may exist)
    for m in manifest:
        if m["category"] not in VIOLATIONS:
            assert any(key(f) == key(m) and f["category"] == m["category"] for f in found), \
                (m, [key(f) for f in found if f["rule"] == m["rule"]])


@pytest.mark.slow
def test_every_evidence_field_of_every_rule_reads_in_chinese(demo):
    """The finding page labels each fact of the evidence; no rule's field may show as an English key."""
    from audit.findings.evidence import LABELS

    _, found, _ = demo
    missing: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            missing.update(k for k in value if k not in LABELS)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for f in found:
        walk(f["evidence"])
    assert {f["rule"] for f in found} >= set(RULES_MD)
    assert not missing, sorted(missing)
