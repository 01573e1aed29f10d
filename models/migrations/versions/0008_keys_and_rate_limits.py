"""personal data key: fingerprint, encrypted IDs in comparison lists, finding aliases; sign-in
failures per address

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COMPARISON = ('deaths', 'social_insurance', 'pensions', 'businesses', 'officials', 'migrant_work')


def upgrade():
    op.create_table('settings',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_settings'))
    )
    op.create_table('sign_in_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures'))
    )
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_failures_at'), ['at'], unique=False)
        batch_op.create_index('ix_sign_in_failures_ip_at', ['ip', 'at'], unique=False)
    op.create_table('finding_aliases',
    sa.Column('old_id', sa.String(length=32), nullable=False),
    sa.Column('new_id', sa.String(length=32), nullable=False),
    sa.Column('renamed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('old_id', name=op.f('pk_finding_aliases'))
    )
    with op.batch_alter_table('finding_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_aliases_new_id'), ['new_id'], unique=False)
    for table in COMPARISON:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('id_enc', sa.Text(), nullable=True))
        # rows about people in the ledger take the person's encrypted number; the others stay
        # empty until the list is imported again (a key rotation names them and refuses)
        op.execute(f"UPDATE {table} SET id_enc = "
                   f"(SELECT p.id_enc FROM persons p WHERE p.id_hash = {table}.id_hash)")


def downgrade():
    for table in COMPARISON:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('id_enc')
    with op.batch_alter_table('finding_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_aliases_new_id'))
    op.drop_table('finding_aliases')
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_failures_ip_at')
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_at'))
    op.drop_table('sign_in_failures')
    op.drop_table('settings')
