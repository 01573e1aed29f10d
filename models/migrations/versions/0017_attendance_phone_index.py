"""PostgreSQL: a partial index of the present check-ins made on personal phones (issue 15, IM02)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 18:40:00

IM02 (同一个人手机为多人代签到) reads the present check-ins whose device is an 11-digit mobile number:
about a tenth of the attendance. Without an index it scanned all of a city's 17 million attendance
rows twice (13-17 s); with this index it reads 2.4 million index entries and is about 1.5 s. The
predicate repeats, constant for constant, the rule's filter (audit/engine/rules/impersonation.py,
PHONE_REGEX), which is what lets PostgreSQL use a partial index. SQLite keeps its plan (the rule's
GLOB filter streams along the clustered attendance table at district scale).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

PHONE_PRESENT = "status = '出勤' AND device_id ~ '^1[0-9]{10}$'"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_attendance_phone", "attendance", ["device_id", "work_date", "person_id"],
                    postgresql_include=["post_id", "work_month"], postgresql_where=sa.text(PHONE_PRESENT))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_attendance_phone", table_name="attendance")
