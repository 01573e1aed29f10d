"""The change log is a hash chain: `audit verify-log` finds an edited entry, a missing one, and
two writers at once never fork it."""
from __future__ import annotations

import re
import threading

from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, insert, select, text, update

from audit.auditlog import record_now
from audit.database import migrations
from audit.ledger.importer import import_bundle
from audit.logchain import append
from models import MIGRATIONS_DIR, ChangeLog, db

from helpers import write_bundle
from web_helpers import login, post

log = ChangeLog.__table__


def seqs() -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.scalars(select(log.c.seq).order_by(log.c.seq)))


def entry(seq: int):
    with db.engine.connect() as conn:
        return conn.execute(select(log).where(log.c.seq == seq)).one()


def activity(web, app, client, tmp_path) -> None:
    """A re-import that changes a row, a failed and a good sign-in, a finding confirmed."""
    tables = {k: v for k, v in web.county.t.items() if v}
    tables["positions"][0]["monthly_wage"] = "950.00"
    result = import_bundle(write_bundle(tmp_path / "v2", tables), engine=db.engine, pii=app.extensions["pii"],
                           actor="tester")
    assert result.ok and result.counts["positions"].changed == 1
    login(client, "auditor_fj", "wrong-password")
    login(client, "auditor_fj")
    ps01 = web.finding("奉节县", "PS01")
    assert post(client, f"/findings/{ps01.id}/review", {"action": "confirm"}).status_code == 303


def test_the_chain_of_a_working_day_verifies(web, app, client, runner, tmp_path):
    activity(web, app, client, tmp_path)
    actions = {e.action for e in db.session.scalars(select(ChangeLog))}
    assert {"import.update", "auth.login_failed", "auth.login", "finding.confirm"} <= actions
    n = len(seqs())
    assert seqs() == list(range(1, n + 1))
    r = runner.invoke("verify-log")
    assert r.exit_code == 0, r.output
    assert f"日志链完整：共 {n} 条" in r.output
    last = entry(n)
    assert f"最后一条 第 {n} 条（记录 id {last.id}" in r.output and "finding.confirm" in r.output
    assert last.hash in r.output


def test_an_entry_edited_in_the_database_breaks_the_chain_there(web, app, client, runner, tmp_path):
    activity(web, app, client, tmp_path)
    changed = db.session.scalar(select(ChangeLog).where(ChangeLog.action == "import.update"))
    seq, eid = changed.seq, changed.id
    db.session.rollback()
    with db.engine.begin() as conn:  # someone with database access "corrects" the logged value
        conn.execute(update(log).where(log.c.id == eid).values(new={"monthly_wage": "800.00"}))
    r = runner.invoke("verify-log")
    assert r.exit_code == 1
    assert f"日志链在第 {seq} 条处断开" in r.output and f"记录 id {eid}" in r.output
    assert "内容被修改" in r.output and "日志链完整" not in r.output


def test_a_deleted_entry_breaks_the_chain(web, app, client, runner, tmp_path):
    activity(web, app, client, tmp_path)
    n = len(seqs())
    middle = n // 2
    with db.engine.begin() as conn:
        conn.execute(delete(log).where(log.c.seq == middle))
    r = runner.invoke("verify-log")
    assert r.exit_code == 1
    assert f"日志链在第 {middle} 条处断开" in r.output and "缺少条目" in r.output
    assert f"其后是第 {middle + 1} 条" in r.output


def test_entries_swapped_or_rechained_by_hand_are_found(app, runner):
    with db.engine.begin() as conn:
        append(conn, [{"actor": "a", "action": "x.one", "table_name": ""},
                      {"actor": "b", "action": "x.two", "table_name": ""},
                      {"actor": "c", "action": "x.three", "table_name": ""}])
    assert runner.invoke("verify-log").exit_code == 0
    two = entry(2)
    with db.engine.begin() as conn:  # entry 2 claims a different predecessor
        conn.execute(update(log).where(log.c.seq == 2).values(prev_hash="f" * 64))
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "日志链在第 2 条处断开" in r.output and "顺序错乱" in r.output
    assert f"记录 id {two.id}" in r.output


def test_an_empty_log_verifies(app, runner):
    r = runner.invoke("verify-log")
    assert r.exit_code == 0 and "日志链完整：共 0 条" in r.output


def test_two_writers_at_once_keep_one_unbroken_chain(app, runner):
    engine = db.engine
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            start.wait()
            for i in range(15):
                with app.app_context(), engine.begin() as conn:  # the chain's key is the app's
                    conn.execute(select(log.c.id).limit(1)).all()  # a transaction that read first
                    append(conn,
                           [{"actor": name, "action": "test.write", "table_name": "", "new": {"i": i, "k": k}}
                                  for k in range(1 + i % 3)])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    total = 2 * sum(1 + i % 3 for i in range(15))
    assert seqs() == list(range(1, total + 1))  # consecutive, no duplicates
    r = runner.invoke("verify-log")
    assert r.exit_code == 0 and f"日志链完整：共 {total} 条" in r.output


def test_a_reader_that_writes_after_another_writer_committed_continues_the_chain(app, runner):
    """Interleaved on one thread: A reads, B appends and commits, then A appends."""
    with db.engine.connect() as a:
        a.begin()
        a.execute(select(log.c.seq)).all()
        record_now("test.b", table="", who="b")
        append(a, [{"actor": "a", "action": "test.a", "table_name": ""}])
        a.commit()
    assert seqs() == [1, 2]
    assert entry(2).actor == "a" and entry(2).prev_hash == entry(1).hash
    assert runner.invoke("verify-log").exit_code == 0


def test_the_migration_chains_the_entries_already_there(app, runner):
    migrations(app)
    try:
        downgrade(directory=MIGRATIONS_DIR, revision="0005")
        with db.engine.begin() as conn:
            old = text("INSERT INTO change_log (at, actor, action, table_name, row_id, row_ref, old, new) "
                       "VALUES (:at, :actor, :action, '', NULL, :ref, NULL, :new)")
            for i in range(3):
                conn.execute(old, {"at": f"2025-0{i + 1}-01 08:00:00", "actor": "old", "action": "legacy",
                                   "ref": f"第{i}条", "new": f'{{"n": {i}, "名": "旧"}}'})
    finally:
        upgrade(directory=MIGRATIONS_DIR)
    db.session.remove()
    assert seqs() == [1, 2, 3]
    with db.engine.begin() as conn:  # and new entries continue the chain
        append(conn, [{"actor": "new", "action": "after", "table_name": ""}])
    r = runner.invoke("verify-log")
    assert r.exit_code == 0 and "日志链完整：共 4 条" in r.output
    assert re.search(r"最后一条 第 4 条.*new after", r.output)
    with db.engine.begin() as conn:
        conn.execute(insert(log).values(at=entry(1).at, actor="x", action="x", table_name="", seq=5,
                                        prev_hash=entry(4).hash, hash="0" * 64))
    r = runner.invoke("verify-log")
    assert r.exit_code == 1 and "日志链在第 5 条处断开" in r.output and "内容被修改" in r.output


def test_imports_and_audit_runs_are_logged_whoever_starts_them(app, runner, people, tmp_path):
    from helpers import base_tables

    bundle = write_bundle(tmp_path / "b", base_tables(people))
    assert runner.invoke("import", str(bundle)).exit_code == 0
    assert runner.invoke("run", "--as-of", "2025-06-30").exit_code == 0
    with db.engine.connect() as conn:
        rows = conn.execute(select(log.c.actor, log.c.action, log.c.row_ref, log.c.new)
                            .order_by(log.c.seq)).all()
    assert [r.action for r in rows] == ["import.commit", "audit.run"]
    assert all(r.actor.startswith("cli") for r in rows)
    assert rows[0].row_ref == "b" and rows[0].new["added"]["persons"] == len(base_tables(people)["persons"])
    assert rows[1].row_ref == "2025-06-30" and rows[1].new["status"] == "finished" and "total" in rows[1].new


def test_entries_cut_from_the_end_are_found_against_an_anchor_kept_elsewhere(app, runner):
    for i in range(5):
        record_now("test.entry", table="t", ref=str(i))
    out = runner.invoke("verify-log")
    head = re.search(r"第 (\d+) 条（记录 id \d+.*?哈希 ([0-9a-f]{64})", out.output)
    anchor = f"{head.group(1)}:{head.group(2)}"
    assert anchor.startswith("5:")
    assert runner.invoke("verify-log", "--expect", anchor).exit_code == 0

    with db.engine.begin() as conn:  # the last two entries deleted: the chain alone still verifies
        conn.execute(delete(log).where(log.c.seq >= 4))
    assert runner.invoke("verify-log").exit_code == 0
    out = runner.invoke("verify-log", "--expect", anchor)
    assert out.exit_code == 1 and "日志被截断：此前记下的第 5 条已不存在" in out.output
    bad = runner.invoke("verify-log", "--expect", "5:nothex")
    assert bad.exit_code == 2 and "序号:64位十六进制哈希" in bad.output
