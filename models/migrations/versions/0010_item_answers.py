"""per-item answers of a notice (drafts and submitted), items sent back, vouchers the auditor files

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:12:25

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('item_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['evidence_files.id'],
                            name=op.f('fk_item_answers_file_id_evidence_files'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['notice_findings.id'],
                            name=op.f('fk_item_answers_item_id_notice_findings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_item_answers_notice_id_notices'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['notice_responses.id'],
                            name=op.f('fk_item_answers_response_id_notice_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_answers'))
    )
    with op.batch_alter_table('item_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_answers_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_answers_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_answers_response_id'), ['response_id'], unique=False)

    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_id', sa.Integer(), nullable=True))
        batch_op.alter_column('response_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_evidence_files_notice_id'), ['notice_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_files_notice_id_notices'), 'notices',
                                    ['notice_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('notice_findings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('returned_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('returned_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('returned_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('notice_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='submitted',
                                      nullable=False))
    # every evidence file names its notice (an answer's files: the answer's notice)
    op.execute("UPDATE evidence_files SET notice_id = "
               "(SELECT notice_id FROM notice_responses "
               "WHERE notice_responses.id = evidence_files.response_id)")



def downgrade():
    with op.batch_alter_table('notice_responses', schema=None) as batch_op:
        batch_op.drop_column('state')

    with op.batch_alter_table('notice_findings', schema=None) as batch_op:
        batch_op.drop_column('returned_at')
        batch_op.drop_column('returned_by')
        batch_op.drop_column('returned_reason')

    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_files_notice_id_notices'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_files_notice_id'))
        batch_op.alter_column('response_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('notice_id')

    with op.batch_alter_table('item_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_answers_response_id'))
        batch_op.drop_index(batch_op.f('ix_item_answers_notice_id'))
        batch_op.drop_index(batch_op.f('ix_item_answers_item_id'))

    op.drop_table('item_answers')
