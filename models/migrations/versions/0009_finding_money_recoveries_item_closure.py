"""money per payment (counted once), money actually recovered, closure (销号) per notice item

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('finding_money',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.String(length=32), nullable=False),
    sa.Column('payment', sa.String(length=80), nullable=False),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'],
                            name=op.f('fk_finding_money_finding_id_findings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_money'))
    )
    with op.batch_alter_table('finding_money', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_money_finding_id'), ['finding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_money_payment'), ['payment'], unique=False)

    op.create_table('recoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('recovered_on', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('voucher_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['notice_findings.id'],
                            name=op.f('fk_recoveries_item_id_notice_findings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_recoveries_notice_id_notices'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voucher_id'], ['evidence_files.id'],
                            name=op.f('fk_recoveries_voucher_id_evidence_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recoveries'))
    )
    with op.batch_alter_table('recoveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recoveries_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recoveries_notice_id'), ['notice_id'], unique=False)

    with op.batch_alter_table('notice_findings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('close_basis', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('close_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
    # findings stored before this revision claim their own amount until the next audit run names
    # the payments they cover
    op.execute("INSERT INTO finding_money (finding_id, payment, amount_fen) "
               "SELECT id, 'finding:' || id, amount_at_risk_fen FROM findings "
               "WHERE amount_at_risk_fen IS NOT NULL")



def downgrade():
    with op.batch_alter_table('notice_findings', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('close_reason')
        batch_op.drop_column('close_basis')

    with op.batch_alter_table('recoveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recoveries_notice_id'))
        batch_op.drop_index(batch_op.f('ix_recoveries_item_id'))

    op.drop_table('recoveries')
    with op.batch_alter_table('finding_money', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_money_payment'))
        batch_op.drop_index(batch_op.f('ix_finding_money_finding_id'))

    op.drop_table('finding_money')
