"""change log: a SHA-256 hash chain (seq, prev_hash, hash)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

Existing entries are chained in id order, here, once (in Python, in chunks). This is the only
UPDATE of change_log anywhere besides ``audit verify-log --upgrade``: the application itself only
ever appends (audit.logchain.append). The hashing is a frozen copy of the application's (below).
"""
import datetime as dt
import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CHUNK = 5000


# ---- frozen: audit/logchain.py's hashing as this migration uses it (HMAC-SHA256 under the log
# key; audit.logchain.chain today). A migration imports nothing of the application: the
# application's code may change, what this revision wrote may not. ---------------------------------

GENESIS = '0' * 64


def _json_value(v):
    """The value as it reads back from a JSON column (tuples become lists, keys strings, …)."""
    return None if v is None else json.loads(json.dumps(v, ensure_ascii=False))


def _at_text(at):
    if isinstance(at, dt.datetime):
        return at.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')
    return str(at)


def _canonical(entry):
    """The canonical JSON of an entry's chained fields (sorted keys, no spaces, UTF-8 text)."""
    doc = {
        'at': _at_text(entry['at']), 'actor': entry.get('actor'), 'action': entry.get('action'),
        'table_name': entry.get('table_name'), 'row_id': entry.get('row_id'), 'row_ref': entry.get('row_ref'),
        'old': _json_value(entry.get('old')), 'new': _json_value(entry.get('new')),
        'batch_id': entry.get('batch_id'), 'seq': entry['seq'],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(',', ':'))


def _log_key() -> bytes:
    """The log key the application read at start-up (``create_app`` reads it before any migration
    runs: ``AUDIT_LOG_KEY`` or the instance folder's ``log_chain.key``)."""
    if not has_app_context() or 'log_key' not in current_app.extensions:
        raise RuntimeError('写入或校验审计日志需要应用上下文（日志链的密钥来自应用配置）')
    return current_app.extensions['log_key']


def _entry_hash(prev_hash, entry, key):
    msg = (prev_hash + _canonical(entry)).encode('utf-8')
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


# ---- end of the frozen copy -------------------------------------------------------------------------


def _chain_existing_rows() -> None:
    key = _log_key()
    conn = op.get_bind()
    log = sa.table(
        'change_log', sa.column('id', sa.Integer), sa.column('at', sa.DateTime), sa.column('actor',
                                                                                           sa.String),
        sa.column('action', sa.String), sa.column('table_name', sa.String), sa.column('row_id', sa.Integer),
        sa.column('row_ref', sa.Text), sa.column('old', sa.JSON), sa.column('new', sa.JSON),
        sa.column('batch_id', sa.Integer), sa.column('seq', sa.BigInteger), sa.column('prev_hash', sa.String),
        sa.column('hash', sa.String))
    update = (sa.update(log).where(log.c.id == sa.bindparam('_id'))
              .values(seq=sa.bindparam('_seq'), prev_hash=sa.bindparam('_prev'), hash=sa.bindparam('_hash')))
    cols = [c for c in log.c if c.name not in ('seq', 'prev_hash', 'hash')]
    seq, prev, after = 0, GENESIS, None
    while True:
        q = sa.select(*cols).order_by(log.c.id).limit(CHUNK)
        if after is not None:
            q = q.where(log.c.id > after)
        rows = conn.execute(q).all()
        if not rows:
            return
        params = []
        for r in rows:
            seq += 1
            h = _entry_hash(prev, {**r._mapping, 'seq': seq}, key)
            params.append({'_id': r.id, '_seq': seq, '_prev': prev, '_hash': h})
            prev = h
        conn.execute(update, params)
        after = rows[-1].id


def upgrade():
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    _chain_existing_rows()
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_change_log_seq'), ['seq'])


def downgrade():
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_change_log_seq'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
