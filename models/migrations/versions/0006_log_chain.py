"""change log: a SHA-256 hash chain (seq, prev_hash, hash)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

Existing entries are chained in id order, here, once (in Python, in chunks). This is the only
UPDATE of change_log anywhere: the application itself only ever appends (audit.logchain.append).
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CHUNK = 5000


def _chain_existing_rows() -> None:
    from audit.logchain import GENESIS, entry_hash

    conn = op.get_bind()
    log = sa.table(
        'change_log', sa.column('id', sa.Integer), sa.column('at', sa.DateTime), sa.column('actor', sa.String),
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
            h = entry_hash(prev, {**r._mapping, 'seq': seq})
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
