"""The personal data key of the database (audit/pii.py derives the HMAC and Fernet keys from it).

``ensure_key`` records which key the stored hashes were made with (``settings.pii_key_check``) and
refuses another one: an import under a wrong key would not match a single person and would load
the whole ledger a second time.

``rotate`` re-keys everything in one transaction: every keyed hash (``*_hash``) and every encrypted
number (``*_enc``) of persons, wages and the comparison lists, and the findings about persons, whose
ids are made from the person's hash (the old ids stay as aliases, see models/system.py). The work
in Python is one decryption per distinct ID or account number; the rows themselves are rewritten by
set-based UPDATEs from a mapping table. The users' TOTP secrets (``users.totp_secret_enc``, B4)
are encrypted with the same key and re-encrypted in the same transaction. Nothing else stores a
hash or a ciphertext: findings, notices and the audit log hold masked numbers only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from sqlalchemy import (
    Column,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from models import (
    Business,
    Death,
    Finding,
    FindingAlias,
    FindingMoney,
    MigrantWork,
    NoticeFinding,
    Official,
    Pension,
    Person,
    Post,
    Setting,
    SocialInsurance,
    User,
    Wage,
)

from .. import logchain
from ..engine.runner import finding_id
from ..pii import PiiCodec

KEY_CHECK = "pii_key_check"
COMPARISON = (Death, SocialInsurance, Pension, Business, Official, MigrantWork)
_BATCH = 5000


class KeyProblem(Exception):
    """The key cannot be used with this database, or a rotation cannot be done; the message is for
    the operator, in Chinese."""


def recorded_check(conn: Connection) -> str | None:
    s = Setting.__table__
    return conn.execute(select(s.c.value).where(s.c.name == KEY_CHECK)).scalar_one_or_none()


def key_matches(conn: Connection, codec: PiiCodec) -> bool | None:
    """True / False when the database says which key it holds (or holds data to try the key on);
    None for an empty database that has not met a key yet."""
    check = recorded_check(conn)
    if check is not None:
        return check == codec.check
    p = Person.__table__
    sample = conn.execute(select(p.c.id_enc).limit(1)).scalar_one_or_none()
    if sample is None:
        return None
    try:
        codec.decrypt(sample)
        return True
    except InvalidToken:
        return False


def ensure_key(conn: Connection, codec: PiiCodec) -> None:
    """Raise unless ``codec`` is the database's key; record it when the database has none yet."""
    ok = key_matches(conn, codec)
    if ok is False:
        raise KeyProblem("个人信息密钥与数据库中已有数据所用的密钥不一致"
                         "（AUDIT_PII_KEY 或实例目录中的 pii.key 不对）："
                         "用这个密钥导入会把所有人员当作新人员重复导入，已拒绝。请换回原密钥后再试。")
    if recorded_check(conn) is None:
        _set_check(conn, codec.check)


def _set_check(conn: Connection, value: str) -> None:
    s = Setting.__table__
    now = dt.datetime.now()
    if conn.execute(update(s).where(s.c.name == KEY_CHECK).values(value=value, updated_at=now)).rowcount == 0:
        conn.execute(insert(s).values(name=KEY_CHECK, value=value, updated_at=now))


@dataclass
class Rotation:
    ids: int = 0  # distinct ID numbers hashed and encrypted anew
    accounts: int = 0  # distinct account numbers
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows rewritten
    findings_renamed: int = 0


def rotate(engine: Engine, old: PiiCodec, new: PiiCodec, *, actor: str) -> Rotation:
    """Re-key the whole database from ``old`` to ``new`` in one transaction: all or nothing."""
    if old.check == new.check:
        raise KeyProblem("新密钥与当前密钥相同。")
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if key_matches(conn, old) is False:
                raise KeyProblem("当前配置的密钥不是数据库所用的密钥，无法轮换。")
            _refuse_unrecoverable(conn)
            result = Rotation()
            ids = _map_table(conn, "rekey_ids")
            accounts = _map_table(conn, "rekey_accounts")
            result.ids = _fill(conn, ids, old, new, [
                select(Person.__table__.c.id_hash, Person.__table__.c.id_enc),
                *[select(m.__table__.c.id_hash, func.min(m.__table__.c.id_enc))
                  .group_by(m.__table__.c.id_hash) for m in COMPARISON]])
            p, w = Person.__table__, Wage.__table__
            result.accounts = _fill(conn, accounts, old, new, [
                select(p.c.bank_hash, func.min(p.c.bank_enc)).where(p.c.bank_hash.is_not(None))
                .group_by(p.c.bank_hash),
                select(w.c.account_hash, func.min(w.c.account_enc)).where(w.c.account_hash.is_not(None))
                .group_by(w.c.account_hash)])
            result.rows["persons"] = _rewrite(conn, p, "id", ids)
            _rewrite(conn, p, "bank", accounts)
            result.rows["wages"] = _rewrite(conn, w, "account", accounts)
            for m in COMPARISON:
                result.rows[m.__tablename__] = _rewrite(conn, m.__table__, "id", ids)
            result.findings_renamed = _rename_findings(conn)
            result.rows["users"] = _reencrypt_totp(conn, old, new)
            _set_check(conn, new.check)
            logchain.append(conn, [{
                "at": dt.datetime.now(), "actor": actor, "action": "pii.rotate", "table_name": "settings",
                "row_id": None, "row_ref": KEY_CHECK, "old": None,
                "new": {"ids": result.ids, "accounts": result.accounts, "rows": result.rows,
                        "findings_renamed": result.findings_renamed}}])
            for t in (ids, accounts):
                t.drop(conn)
    return result


def _refuse_unrecoverable(conn: Connection) -> None:
    """Comparison rows imported before migration 0008 hold a hash without the encrypted number (unless
    they are about a person of the ledger): they cannot be hashed anew, so they must be imported
    again first."""
    missing = {}
    for m in COMPARISON:
        t = m.__table__
        n = conn.execute(select(func.count()).where(t.c.id_enc.is_(None))).scalar_one()
        if n:
            missing[m.__tablename__] = n
    if missing:
        names = "、".join(f"{t} {n} 条" for t, n in missing.items())
        raise KeyProblem(f"比对数据中有记录缺少加密的身份证号（升级前导入的）：{names}。"
                        "请重新导入这些比对表后再轮换密钥。")


def _map_table(conn: Connection, name: str) -> Table:
    t = Table(name, MetaData(), Column("old_hash", String(64), primary_key=True),
              Column("new_hash", String(64)), Column("new_enc", Text), prefixes=["TEMPORARY"])
    t.drop(conn, checkfirst=True)
    t.create(conn)
    return t


def _fill(conn: Connection, into: Table, old: PiiCodec, new: PiiCodec, sources) -> int:
    """Decrypt one ciphertext per distinct old hash; write (old hash, new hash, new ciphertext)."""
    seen: set[str] = set()
    batch: list[dict] = []
    for q in sources:
        for old_hash, enc in conn.execute(q):
            if old_hash in seen or enc is None:
                continue
            seen.add(old_hash)
            try:
                plain = old.decrypt(enc)
            except InvalidToken:
                raise KeyProblem("有加密的号码无法用当前密钥解密：数据库与密钥不一致，"
                                 "已停止，未作任何更改。") from None
            if old.digest(plain) != old_hash:
                raise KeyProblem("有号码的散列值与其加密内容不符：数据库已损坏或被改动，"
                                 "已停止，未作任何更改。")
            batch.append({"old_hash": old_hash, "new_hash": new.digest(plain), "new_enc": new.encrypt(plain)})
            if len(batch) >= _BATCH:
                conn.execute(insert(into), batch)
                batch.clear()
    if batch:
        conn.execute(insert(into), batch)
    return len(seen)


def _rewrite(conn: Connection, table: Table, prefix: str, mapping: Table) -> int:
    h, e = table.c[f"{prefix}_hash"], table.c[f"{prefix}_enc"]
    new_hash = select(mapping.c.new_hash).where(mapping.c.old_hash == h).scalar_subquery()
    new_enc = select(mapping.c.new_enc).where(mapping.c.old_hash == h).scalar_subquery()
    return conn.execute(update(table).where(h.is_not(None)).values({h: new_hash, e: new_enc})
                        .execution_options(preserve_rowcount=True)).rowcount


def _reencrypt_totp(conn: Connection, old: PiiCodec, new: PiiCodec) -> int:
    """The TOTP secrets under the new key (a few rows: one per user who enrolled)."""
    u = User.__table__
    rows = conn.execute(select(u.c.id, u.c.totp_secret_enc).where(u.c.totp_secret_enc.is_not(None))).all()
    for uid, enc in rows:
        try:
            plain = old.decrypt(enc)
        except InvalidToken:
            raise KeyProblem("有用户的两步验证密钥无法用当前密钥解密：数据库与密钥不一致，"
                             "已停止，未作任何更改。") from None
        conn.execute(update(u).where(u.c.id == uid).values(totp_secret_enc=new.encrypt(plain)))
    return len(rows)


def _rename_findings(conn: Connection) -> int:
    """Findings about a person are named from the person's hash: name them anew, move the notices'
    references, and keep every former id as an alias of the new one."""
    f, p, posts = Finding.__table__, Person.__table__, Post.__table__
    rows = conn.execute(select(f.c.id, f.c.rule, f.c.subject_type, f.c.periods, p.c.id_hash, posts.c.code)
                        .join(p, p.c.id == f.c.person_id).outerjoin(posts, posts.c.id == f.c.post_id)
                        .where(f.c.subject_type == "person")).all()
    renames = {r.id: finding_id(r.rule, r.subject_type, r.id_hash, r.code or "", list(r.periods or []))
               for r in rows}
    renames = {o: n for o, n in renames.items() if o != n}
    if not renames:
        return 0
    m = Table("rekey_findings", MetaData(), Column("old_id", String(32), primary_key=True),
              Column("new_id", String(32)), prefixes=["TEMPORARY"])
    m.drop(conn, checkfirst=True)
    m.create(conn)
    pairs = [{"old_id": o, "new_id": n} for o, n in renames.items()]
    for i in range(0, len(pairs), _BATCH):
        conn.execute(insert(m), pairs[i:i + _BATCH])
    cols = [c for c in f.c if c.name != "id"]
    # a copy under the new id, the notices pointed at it, then the old row removed (the key is referenced)
    conn.execute(insert(f).from_select(["id", *[c.name for c in cols]],
                                       select(m.c.new_id, *cols).join(m, m.c.old_id == f.c.id)))
    nf = NoticeFinding.__table__
    conn.execute(update(nf).where(nf.c.finding_id.in_(select(m.c.old_id)))
                 .values(finding_id=select(m.c.new_id).where(m.c.old_id == nf.c.finding_id)
                         .scalar_subquery()))
    # the payments their money comes from follow them (``finding:<id>`` names its finding)
    fm = FindingMoney.__table__
    conn.execute(update(fm).where(fm.c.finding_id.in_(select(m.c.old_id)))
                 .values(finding_id=select(m.c.new_id).where(m.c.old_id == fm.c.finding_id)
                         .scalar_subquery()))
    conn.execute(update(fm).where(fm.c.payment.like("finding:%"),
                                  fm.c.payment != literal("finding:") + fm.c.finding_id)
                 .values(payment=literal("finding:") + fm.c.finding_id))
    conn.execute(delete(f).where(f.c.id.in_(select(m.c.old_id))))
    a = FindingAlias.__table__
    conn.execute(update(a).where(a.c.new_id.in_(select(m.c.old_id)))
                 .values(new_id=select(m.c.new_id).where(m.c.old_id == a.c.new_id).scalar_subquery()))
    now = dt.datetime.now()
    conn.execute(insert(a).from_select(["old_id", "new_id", "renamed_at"],
                                       select(m.c.old_id, m.c.new_id, bindparam("now", now))))
    m.drop(conn)
    return len(renames)

