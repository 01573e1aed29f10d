"""Payroll pre-checks (发放前校验, issue 17): a draft payroll and its rows with the verdicts of the rules

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('prechecks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('districts', sa.JSON(), nullable=False),
    sa.Column('townships', sa.JSON(), nullable=False),
    sa.Column('periods', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'approved')", name=op.f('ck_prechecks_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prechecks'))
    )
    with op.batch_alter_table('prechecks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prechecks_created_by'), ['created_by'], unique=False)

    op.create_table('precheck_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('precheck_id', sa.Integer(), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('post_code', sa.String(length=64), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('account_hash', sa.String(length=64), nullable=True),
    sa.Column('account_masked', sa.String(length=40), nullable=True),
    sa.Column('account_name', sa.String(length=64), nullable=True),
    sa.Column('batch', sa.String(length=64), nullable=True),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('allowed_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("verdict IN ('pass', 'hold', 'reject')", name=op.f('ck_precheck_rows_verdict')),
    sa.ForeignKeyConstraint(['precheck_id'], ['prechecks.id'],
                            name=op.f('fk_precheck_rows_precheck_id_prechecks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_precheck_rows'))
    )
    with op.batch_alter_table('precheck_rows', schema=None) as batch_op:
        batch_op.create_index('ix_precheck_rows_precheck_id_row_no', ['precheck_id', 'row_no'], unique=False)
        batch_op.create_index('ix_precheck_rows_person_id_post_id_period', ['person_id', 'post_id', 'period'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('precheck_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_precheck_rows_person_id_post_id_period')
        batch_op.drop_index('ix_precheck_rows_precheck_id_row_no')
    op.drop_table('precheck_rows')
    with op.batch_alter_table('prechecks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prechecks_created_by'))
    op.drop_table('prechecks')
