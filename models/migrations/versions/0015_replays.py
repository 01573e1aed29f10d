"""Replays: an audit as of an earlier date, kept apart from the current findings (issue 14)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('replay_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replay_runs'))
    )
    with op.batch_alter_table('replay_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replay_runs_actor'), ['actor'], unique=False)

    op.create_table('replay_findings',
    sa.Column('replay_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_label', sa.String(length=128), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('person_ids', sa.JSON(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('periods', sa.JSON(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('amount_at_risk_fen', sa.BigInteger(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=260), nullable=True),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('village', sa.String(length=64), nullable=True),
    sa.Column('facts_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['replay_id'], ['replay_runs.id'],
                            name=op.f('fk_replay_findings_replay_id_replay_runs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('replay_id', 'id', name=op.f('pk_replay_findings'))
    )
    with op.batch_alter_table('replay_findings', schema=None) as batch_op:
        batch_op.create_index('ix_replay_findings_replay_id_category', ['replay_id', 'category'],
                              unique=False)

    op.create_table('replay_money',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('replay_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.String(length=32), nullable=False),
    sa.Column('payment', sa.String(length=80), nullable=False),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['replay_id'], ['replay_runs.id'],
                            name=op.f('fk_replay_money_replay_id_replay_runs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replay_money'))
    )
    with op.batch_alter_table('replay_money', schema=None) as batch_op:
        batch_op.create_index('ix_replay_money_replay_id_payment', ['replay_id', 'payment'], unique=False)
        batch_op.create_index('ix_replay_money_replay_id_finding_id', ['replay_id', 'finding_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('replay_money', schema=None) as batch_op:
        batch_op.drop_index('ix_replay_money_replay_id_finding_id')
        batch_op.drop_index('ix_replay_money_replay_id_payment')
    op.drop_table('replay_money')
    with op.batch_alter_table('replay_findings', schema=None) as batch_op:
        batch_op.drop_index('ix_replay_findings_replay_id_category')
    op.drop_table('replay_findings')
    with op.batch_alter_table('replay_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replay_runs_actor'))
    op.drop_table('replay_runs')
