"""Payday warnings (发放前预警, issue 17): per unit, the persons whose pay this month would be held or
rejected on the data so far

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 22:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payday_warnings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('unit', sa.String(length=260), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('village', sa.String(length=64), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('post_code', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('allowed_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("verdict IN ('hold', 'reject')", name=op.f('ck_payday_warnings_verdict')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payday_warnings'))
    )
    with op.batch_alter_table('payday_warnings', schema=None) as batch_op:
        batch_op.create_index('ix_payday_warnings_period_unit', ['period', 'unit'], unique=False)


def downgrade():
    with op.batch_alter_table('payday_warnings', schema=None) as batch_op:
        batch_op.drop_index('ix_payday_warnings_period_unit')
    op.drop_table('payday_warnings')
