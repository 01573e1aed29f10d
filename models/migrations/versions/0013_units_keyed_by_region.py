"""units keyed by district, township and name (P1)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
