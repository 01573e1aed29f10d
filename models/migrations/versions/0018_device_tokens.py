"""Attendance devices: bearer tokens bound to a unit, the record ids they stored, their calls
(issue 17, 考勤接口)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('device_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('unit_kind', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=260), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_prefix', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("unit_kind IN ('workshop', 'employer')", name=op.f('ck_device_tokens_unit_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_device_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_device_tokens_token_hash'))
    )
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_tokens_unit'), ['unit'], unique=False)
    op.create_table('device_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('work_date', sa.Date(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_device_records_person_id_persons')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_device_records_post_id_posts')),
    sa.ForeignKeyConstraint(['token_id'], ['device_tokens.id'],
                            name=op.f('fk_device_records_token_id_device_tokens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_records')),
    sa.UniqueConstraint('token_id', 'record_id', name=op.f('uq_device_records_token_id_record_id'))
    )
    with op.batch_alter_table('device_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_records_person_id'), ['person_id'], unique=False)
    op.create_table('device_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['device_tokens.id'],
                            name=op.f('fk_device_calls_token_id_device_tokens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_calls'))
    )
    with op.batch_alter_table('device_calls', schema=None) as batch_op:
        batch_op.create_index('ix_device_calls_token_at', ['token_id', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('device_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_device_calls_token_at')
    op.drop_table('device_calls')
    with op.batch_alter_table('device_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_records_person_id'))
    op.drop_table('device_records')
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_tokens_unit'))
    op.drop_table('device_tokens')
