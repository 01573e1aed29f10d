"""Several web workers on one SQLite file: a request that read before another worker committed must
still be able to write (on SQLite its stale snapshot would otherwise fail at once with "database is
locked"); on PostgreSQL the same holds by MVCC."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from audit.logchain import append
from models import ChangeLog, db


def _entry(action: str) -> dict:
    return {"at": dt.datetime.now(), "actor": "test", "action": action, "table_name": "users"}


def test_a_reader_writes_after_another_connection_committed(app):
    log = ChangeLog.__table__
    with db.engine.connect() as a, db.engine.connect() as b:
        ta = a.begin()
        assert a.execute(select(func.count()).select_from(log)).scalar_one() == 0  # A reads: a snapshot
        with b.begin():
            append(b, [_entry("worker-b")])  # B commits meanwhile
        append(a, [_entry("worker-a")])  # A's first write
        ta.commit()
    db.session.rollback()
    assert sorted(db.session.scalars(select(ChangeLog.action))) == ["worker-a", "worker-b"]


def test_concurrent_sign_ins_through_two_apps(web, app):
    """Two app instances (two workers) sign users in, interleaved, and every sign-in is logged."""
    from audit import create_app

    from web_helpers import login

    other = create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "AUDIT_PII_KEY")}
                       | {"INSTANCE_PATH": app.instance_path, "TESTING": True})
    clients = [app.test_client(), other.test_client()]
    for i, name in enumerate(["auditor_fj", "auditor_ws", "inspector_fj", "inspector_ws"]):
        r = login(clients[i % 2], name)
        assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/"), name
        clients[i % 2] = (app if i % 2 == 0 else other).test_client()
    db.session.rollback()
    assert (db.session.scalar(select(func.count()).select_from(ChangeLog)
                              .where(ChangeLog.action == "auth.login")) == 4)
