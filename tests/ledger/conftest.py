"""Fixtures of the ledger's tests."""
from __future__ import annotations

import pytest

from models import db

from fuzz_bundles import Snapshot, run
from helpers import base_tables, snapshot, write_bundle


@pytest.fixture
def loaded(app, people, tmp_path) -> dict:
    """The base bundle, loaded: the snapshot every refused bundle must leave as it is."""
    assert run(write_bundle(tmp_path / "base", base_tables(people)), dry_run=False).ok
    return Snapshot(snapshot(db.engine))
