"""units keyed by district, township and name (P1)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:05:00

An employing unit was its bare name, so two village committees of one name in two townships were
one unit (one row to notify, one operator scope for both). From here on it is its key
``district/township/name`` (``models.unit_key``); a workshop stays its code. This migration widens
the unit columns (a key is longer than a name; so is the addressee 乡镇 + 名称) and rewrites what is
stored:

- ``findings.unit``: the key of the finding's own post (its position's district, township, name);
- ``notices.unit`` (employers): the key its findings share; a notice without findings keeps its own
  district and township;
- ``report_files.unit``: its notice's unit;
- ``user_scopes`` of kind ``employer``: the key of the one unit of that name; where several units
  share the name, the operator keeps every one of them (one scope row each: nobody loses or gains
  access by the migration) and the migration prints the accounts to narrow by hand. A name no
  ledger holds is left as it is (it matches nothing, as before, and the admin's user page flags it).

Written with SQL over the tables as they are here, not the application's models.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SEP = "/"
WIDE, NARROW = 260, 128
COLUMNS = (("findings", "unit", True), ("notices", "unit", False), ("report_files", "unit", True),
           ("user_scopes", "unit", True),
           ("notices", "unit_name", False))  # the addressee reads 乡镇 + 名称 (``models.unit_display``)


def _key(district, township, employer):
    return sa.func.coalesce(district, "") + SEP + sa.func.coalesce(township, "") + SEP + employer


def _widen(length: int) -> None:
    for table, column, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column,
                                  existing_type=sa.String(length=WIDE if length == NARROW else NARROW),
                                  type_=sa.String(length=length), existing_nullable=nullable)


def upgrade():
    _widen(WIDE)
    conn = op.get_bind()
    positions = sa.table('positions', sa.column('id', sa.Integer), sa.column('employer', sa.String),
                         sa.column('district', sa.String), sa.column('township', sa.String))
    findings = sa.table('findings', sa.column('id', sa.String), sa.column('post_id', sa.Integer),
                        sa.column('unit', sa.String))
    notices = sa.table('notices', sa.column('id', sa.Integer), sa.column('unit', sa.String),
                       sa.column('unit_kind', sa.String), sa.column('district', sa.String),
                       sa.column('township', sa.String))
    items = sa.table('notice_findings', sa.column('notice_id', sa.Integer), sa.column('finding_id',
                                                                                      sa.String))
    reports = sa.table('report_files', sa.column('notice_id', sa.Integer), sa.column('unit', sa.String))
    scopes = sa.table('user_scopes', sa.column('id', sa.Integer), sa.column('user_id', sa.Integer),
                      sa.column('unit_kind', sa.String), sa.column('unit', sa.String))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String))

    own = (sa.select(_key(positions.c.district, positions.c.township, positions.c.employer))
           .where(positions.c.id == findings.c.post_id).scalar_subquery())
    conn.execute(sa.update(findings).where(findings.c.unit.is_not(None),
                                           findings.c.post_id.in_(sa.select(positions.c.id)))
                 .values(unit=own))

    shared = (sa.select(sa.func.min(findings.c.unit))
              .select_from(items.join(findings, findings.c.id == items.c.finding_id))
              .where(items.c.notice_id == notices.c.id).scalar_subquery())
    employer = notices.c.unit_kind == 'employer'
    conn.execute(sa.update(notices).where(employer, sa.exists().where(items.c.notice_id == notices.c.id))
                 .values(unit=shared))
    conn.execute(sa.update(notices).where(employer, ~sa.exists().where(items.c.notice_id == notices.c.id),
                                          ~notices.c.unit.contains(SEP))
                 .values(unit=_key(notices.c.district, notices.c.township, notices.c.unit)))
    conn.execute(sa.update(reports).where(reports.c.notice_id.is_not(None))
                 .values(unit=sa.select(notices.c.unit).where(notices.c.id == reports.c.notice_id)
                         .scalar_subquery()))

    places = {}
    for name, district, township in conn.execute(
            sa.select(positions.c.employer, positions.c.district, positions.c.township).distinct()):
        places.setdefault(name, set()).add(SEP.join((district or "", township or "", name)))
    ambiguous = []
    for sid, uid, unit, username in conn.execute(
            sa.select(scopes.c.id, scopes.c.user_id, scopes.c.unit, users.c.username)
            .join(users, users.c.id == scopes.c.user_id)
            .where(scopes.c.unit_kind == 'employer').order_by(scopes.c.id)).all():
        keys = sorted(places.get(unit, ()))
        if not keys:
            continue
        conn.execute(sa.update(scopes).where(scopes.c.id == sid).values(unit=keys[0]))
        for key in keys[1:]:
            conn.execute(sa.insert(scopes).values(user_id=uid, unit_kind='employer', unit=key))
        if len(keys) > 1:
            ambiguous.append(f"{username}: employer:{unit} -> " + "、".join(keys))
    if ambiguous:
        print("注意：以下经办人的用工单位范围同名于多个单位，已保留全部同名单位，请管理员逐一核对并收窄：")
        for line in ambiguous:
            print("  " + line)


def downgrade():
    conn = op.get_bind()
    for table in ('findings', 'notices', 'report_files', 'user_scopes'):
        t = sa.table(table, sa.column('unit', sa.String))
        # the name after the second separator (a workshop code has none and stays as it is)
        rows = conn.execute(sa.select(t.c.unit).where(t.c.unit.contains(SEP)).distinct()).scalars().all()
        for unit in rows:
            if unit.count(SEP) >= 2:
                conn.execute(sa.update(t).where(t.c.unit == unit).values(unit=unit.split(SEP, 2)[2]))
    _widen(NARROW)
