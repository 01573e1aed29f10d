"""Summary tables of the findings, written by the audit run, for the screens (issue 15)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('summary_runs',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('built_at', sa.DateTime(), nullable=False),
    sa.Column('exact', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['audit_runs.id'], name=op.f('fk_summary_runs_run_id_audit_runs')),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_summary_runs'))
    )
    op.create_table('summary_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('village', sa.String(length=64), nullable=True),
    sa.Column('unit', sa.String(length=260), nullable=True),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('last_run_id', sa.Integer(), nullable=True),
    sa.Column('new', sa.Boolean(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_counts'))
    )
    with op.batch_alter_table('summary_counts', schema=None) as batch_op:
        batch_op.create_index('ix_summary_counts_district_unit', ['district', 'unit'], unique=False)

    op.create_table('summary_money',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('basis', sa.String(length=24), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('village', sa.String(length=64), nullable=True),
    sa.Column('unit', sa.String(length=260), nullable=True),
    sa.Column('rule', sa.String(length=8), nullable=True),
    sa.Column('category', sa.String(length=24), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('owed', sa.Integer(), nullable=False),
    sa.Column('fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_money'))
    )
    with op.batch_alter_table('summary_money', schema=None) as batch_op:
        batch_op.create_index('ix_summary_money_basis_district', ['basis', 'district'], unique=False)


def downgrade():
    with op.batch_alter_table('summary_money', schema=None) as batch_op:
        batch_op.drop_index('ix_summary_money_basis_district')
    op.drop_table('summary_money')
    with op.batch_alter_table('summary_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_summary_counts_district_unit')
    op.drop_table('summary_counts')
    op.drop_table('summary_runs')
