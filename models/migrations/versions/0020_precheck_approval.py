"""Pre-check approval on the web (issue 17): which verdicts the approver let through, and the name
they signed with

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 22:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('prechecks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_verdicts', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('approved_name', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('prechecks', schema=None) as batch_op:
        batch_op.drop_column('approved_name')
        batch_op.drop_column('approved_verdicts')
