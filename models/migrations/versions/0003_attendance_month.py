"""attendance month in key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:34:46.412615

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


COLUMNS = ("person_id, post_id, work_month, work_date, status, check_in_time, method, device_id, verified")


def _attendance(name, with_month):
    cols = [
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('persons.id',
                                                           name='fk_attendance_person_id_persons'),
                  nullable=False),
        sa.Column('post_id', sa.Integer(), sa.ForeignKey('posts.id', name='fk_attendance_post_id_posts'),
                  nullable=False),
    ]
    if with_month:
        cols.append(sa.Column('work_month', sa.Date(), nullable=False))
    cols += [
        sa.Column('work_date', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('check_in_time', sa.Time(), nullable=True),
        sa.Column('method', sa.String(length=16), nullable=True),
        sa.Column('device_id', sa.String(length=64), nullable=True),
        sa.Column('verified', sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint('person_id', 'post_id', *(['work_month'] if with_month else []), 'work_date',
                                name='pk_attendance'),
    ]
    md = sa.MetaData()
    sa.Table('persons', md, sa.Column('id', sa.Integer(), primary_key=True))  # only for the foreign keys
    sa.Table('posts', md, sa.Column('id', sa.Integer(), primary_key=True))
    return sa.Table(name, md, *cols, sqlite_with_rowid=False)


def upgrade():
    """attendance: the day's month joins the primary key, in front of the day."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # rebuild the table (SQLite cannot change a primary key), keeping it WITHOUT ROWID
        _attendance("attendance_new", True).create(bind)
        op.execute(f"INSERT INTO attendance_new ({COLUMNS}) SELECT person_id, post_id, "
                   f"date(work_date, 'start of month'), work_date, status, check_in_time, method, device_id, "
                   f"verified FROM attendance")
        op.execute("DROP TABLE attendance")
        op.execute("ALTER TABLE attendance_new RENAME TO attendance")
    else:
        op.add_column('attendance', sa.Column('work_month', sa.Date(), nullable=True))
        op.execute("UPDATE attendance SET work_month = date_trunc('month', work_date)::date")
        op.alter_column('attendance', 'work_month', nullable=False)
        op.drop_constraint('pk_attendance', 'attendance', type_='primary')
        op.create_primary_key('pk_attendance', 'attendance', ['person_id', 'post_id', 'work_month',
                                                              'work_date'])


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _attendance("attendance_old", False).create(bind)
        cols = COLUMNS.replace("work_month, ", "")
        op.execute(f"INSERT INTO attendance_old ({cols}) SELECT {cols} FROM attendance")
        op.execute("DROP TABLE attendance")
        op.execute("ALTER TABLE attendance_old RENAME TO attendance")
    else:
        op.drop_constraint('pk_attendance', 'attendance', type_='primary')
        op.create_primary_key('pk_attendance', 'attendance', ['person_id', 'post_id', 'work_date'])
        op.drop_column('attendance', 'work_month')
