"""Fixtures of the tests of 发放前校验."""
from __future__ import annotations

import pytest

from models import db

from helpers import County, write_bundle


@pytest.fixture
def april(app, web, tmp_path):
    """April 2025 on top of the two districts: 李小花 (GW-A2) and 陈工 (CJ-A1) work the month, 王大山
    (GW-A1) 10 days of 20, 张三 (GW-A3) died on 2025-03-31. The draft pays each of them their
    April wage: 2 pass, 1 hold (PS02), 1 reject (PS04)."""
    from audit.ledger.importer import import_bundle

    c = County(web.county.people)
    c.required.update(web.county.required)
    for name, post, present in (("李小花", "GW-A2", None), ("陈工", "CJ-A1", None), ("王大山", "GW-A1", 10)):
        c.work(web.ids[name], post, "2025-04", present)
    folder = write_bundle(tmp_path / "april", {
        "attendance": c.t["attendance"],
        "deaths": [{"id_number": web.ids["张三"], "death_date": "2025-03-31"}]})
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    return web
