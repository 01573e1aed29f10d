"""Rotating the personal data key: every hash and ciphertext is rewritten in one transaction, the
ledger re-imports as unchanged under the new key, findings keep their review state (their former
ids still lead to them), and the old key is refused from then on."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import select, text

from audit.engine.runner import run_audit
from audit.findings.services import review
from audit.ledger.importer import import_bundle
from audit.pii import PiiCodec
from models import ChangeLog, Death, Finding, Person, Wage, db

from helpers import TEST_PII_KEY, snapshot, write_bundle
from web_helpers import RequestClient, create_users, login, two_districts

HASH_COLUMNS = {"persons": ("id_hash", "bank_hash"), "wages": ("account_hash",), "deaths": ("id_hash",)}


@pytest.fixture
def county(app, people, tmp_path, quick_hashes):
    """Two districts with planted phantom salaries, a death list naming one person of the ledger
    and one who is not, and a confirmed finding with a history."""
    t = two_districts(people)
    c = t.county
    outsider = people.id("1950-02-02")
    c.t["deaths"] = [{"id_number": t.ids["赵二"], "death_date": "2025-02-15"},
                     {"id_number": outsider, "death_date": "2024-12-01"}]
    bundle = write_bundle(tmp_path / "bundle", {k: v for k, v in c.t.items() if v})
    assert import_bundle(bundle, engine=db.engine, pii=app.extensions["pii"]).ok
    run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    create_users(app)
    ps01 = db.session.scalar(select(Finding).where(Finding.rule == "PS01", Finding.district == "奉节县"))
    review(ps01, "confirm", "核实属实", by="auditor_fj")
    db.session.commit()
    return {"t": t, "bundle": bundle, "outsider": outsider, "confirmed": ps01.id}


def _hashes(conn) -> set[str]:
    out = set()
    for table, cols in HASH_COLUMNS.items():
        for col in cols:
            out |= {h for (h,) in conn.execute(text(f"SELECT {col} FROM {table} WHERE {col} IS NOT NULL"))}
    return out


def _plain(pii: PiiCodec) -> dict:
    people = {p.id: (pii.decrypt(p.id_enc), pii.decrypt(p.bank_enc) if p.bank_enc else None)
              for p in db.session.scalars(select(Person))}
    deaths = sorted(pii.decrypt(d.id_enc) for d in db.session.scalars(select(Death)))
    wages = sorted((w.id, pii.decrypt(w.account_enc)) for w in db.session.scalars(select(Wage))
                   if w.account_enc)
    return {"people": people, "deaths": deaths, "wages": wages}


def _findings() -> dict[tuple, tuple]:
    db.session.rollback()
    return {(f.rule, f.person_id, f.post_id, tuple(f.periods)): (f.id, f.status, f.amount_at_risk_fen)
            for f in db.session.scalars(select(Finding))}


def test_rotation_rewrites_every_hash_and_keeps_everything_else(app, runner, county, tmp_path):
    from audit.engine.money import total_fen
    from models import Finding

    old = app.extensions["pii"]
    before_plain, before_findings = _plain(old), _findings()
    money = total_fen(db.session, Finding.id.is_not(None))
    assert money > 0
    with db.engine.connect() as conn:
        old_hashes = _hashes(conn)
    key_file = tmp_path / "new.key"

    out = runner.invoke("keys", "rotate", "--new-key-file", str(key_file))
    assert out.exit_code == 0, out.output
    assert "个人信息密钥已轮换" in out.output and "请立即把环境变量 AUDIT_PII_KEY 换成其内容" in out.output
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    new = PiiCodec(key_file.read_text())
    assert app.extensions["pii"].check == new.check

    db.session.rollback()
    # the same people, accounts and the outsider of the death list, readable with the new key only
    assert _plain(new) == before_plain
    with pytest.raises(InvalidToken):
        _plain(old)
    with db.engine.connect() as conn:
        assert _hashes(conn).isdisjoint(old_hashes)
    # the death list's outsider is found by the new hash of the number
    assert db.session.scalar(select(Death).where(Death.id_hash == new.digest(county["outsider"]))) is not None

    # findings about persons renamed, with their review state; the rest untouched
    after = _findings()
    assert {k: v[1:] for k, v in after.items()} == {k: v[1:] for k, v in before_findings.items()}
    renamed = [k for k in after if after[k][0] != before_findings[k][0]]
    assert renamed and all(k[1] is not None for k in renamed)
    assert "条改用新编号" in out.output and f"{len(renamed)} 条" in out.output
    # their money follows them: the totals are what they were before the next run
    assert total_fen(db.session, Finding.id.is_not(None)) == money

    # a re-import of the same ledger under the new key changes nothing; the next run finds the same
    again = import_bundle(county["bundle"], engine=db.engine, pii=new)
    assert again.ok and all(c.added == 0 and c.changed == 0 for c in again.counts.values())
    run = run_audit(db.engine, as_of=dt.date(2025, 6, 30), actor="test")
    assert run.new == 0 and run.resolved == 0
    assert _findings() == after

    # the audit log says so and still verifies
    db.session.rollback()
    entry = db.session.scalar(select(ChangeLog).where(ChangeLog.action == "pii.rotate"))
    assert entry.new["findings_renamed"] == len(renamed) and entry.new["rows"]["deaths"] == 2
    assert runner.invoke("verify-log").exit_code == 0


def test_the_old_key_is_refused_after_rotation(app, runner, county, tmp_path):
    old = app.extensions["pii"]
    assert runner.invoke("keys", "rotate", "--new-key-file", str(tmp_path / "new.key")).exit_code == 0
    before = snapshot(db.engine)
    result = import_bundle(county["bundle"], engine=db.engine, pii=old)
    assert not result.ok
    assert "个人信息密钥与数据库中已有数据所用的密钥不一致" in str(result.errors[0])
    assert snapshot(db.engine) == before
    app.extensions["pii"] = old
    out = runner.invoke("keys", "check")
    assert out.exit_code == 1 and "不一致" in out.output


def test_a_former_finding_id_leads_to_the_renamed_finding(app, runner, county, tmp_path):
    old_id = county["confirmed"]
    assert runner.invoke("keys", "rotate", "--new-key-file", str(tmp_path / "new.key")).exit_code == 0
    db.session.rollback()
    assert db.session.get(Finding, old_id) is None
    client = RequestClient(app)
    assert login(client, "auditor_fj").status_code == 302
    moved = client.get(f"/findings/{old_id}")
    assert moved.status_code == 301
    page = client.get(moved.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # the history from before the rotation, logged under the former id
    assert "处理记录" in html and "待复核 → 已确认" in html and "核实属实" in html
    # outside the user's scope the old id is as unknown as any
    other = RequestClient(app)
    login(other, "auditor_ws")
    assert other.get(f"/findings/{old_id}").status_code == 404


def test_rotation_of_the_instance_key_file_survives_a_crash_before_the_file_is_replaced(
        app, runner, county, monkeypatch):
    key_file = Path(app.instance_path) / "pii.key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(TEST_PII_KEY)
    real_replace = os.replace

    def crash(*a):
        raise OSError("磁盘故障（测试）")

    monkeypatch.setattr("audit.keys.cli.os.replace", crash)
    out = runner.invoke("keys", "rotate")
    assert out.exit_code != 0
    pending = key_file.with_name("pii.key.new")
    assert pending.exists() and key_file.read_text() == TEST_PII_KEY  # the database has the new key already

    monkeypatch.setattr("audit.keys.cli.os.replace", real_replace)
    app.extensions["pii"] = PiiCodec(TEST_PII_KEY)
    out = runner.invoke("keys", "rotate")
    assert out.exit_code == 0, out.output
    assert "上一次轮换已写入数据库" in out.output
    assert not pending.exists()
    new = PiiCodec(key_file.read_text())
    assert new.check != PiiCodec(TEST_PII_KEY).check
    db.session.rollback()
    p = db.session.scalars(select(Person)).first()
    assert new.digest(new.decrypt(p.id_enc)) == p.id_hash
    assert runner.invoke("keys", "check").exit_code == 0


def test_rotation_waits_for_no_scheduler_and_refuses_rows_it_cannot_rekey(app, runner, county, tmp_path):
    from audit.scheduler.lock import SchedulerLock

    lock = SchedulerLock(db.engine, app.instance_path)
    assert lock.acquire(wait=False)
    try:
        out = runner.invoke("keys", "rotate", "--new-key-file", str(tmp_path / "a.key"))
        assert out.exit_code != 0 and "调度器" in out.output
        assert not (tmp_path / "a.key").exists()
    finally:
        lock.release()

    # a death row from before migration 0008 (no encrypted number, not a person of the ledger)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE deaths SET id_enc = NULL "
                          "WHERE id_hash NOT IN (SELECT id_hash FROM persons)"))
    before = snapshot(db.engine)
    out = runner.invoke("keys", "rotate", "--new-key-file", str(tmp_path / "b.key"))
    assert out.exit_code != 0 and "deaths 1 条" in out.output and "请重新导入" in out.output
    assert snapshot(db.engine) == before and not (tmp_path / "b.key").exists()
