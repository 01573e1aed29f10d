"""Every command checks that the database is at the newest migration without loading Alembic, by
``models.SCHEMA_HEAD``: it must be the migrations' one head, or a database one migration behind would
pass for current (and one at the head be migrated again at every start)."""
from __future__ import annotations

from alembic.script import ScriptDirectory

from models import MIGRATIONS_DIR, SCHEMA_HEAD


def test_schema_head_is_the_newest_migration():
    assert ScriptDirectory(MIGRATIONS_DIR).get_heads() == [SCHEMA_HEAD]


def test_a_database_one_migration_behind_is_brought_up_by_the_next_command(app, runner):
    from flask_migrate import downgrade
    from sqlalchemy import inspect

    from audit.database import migrations, schema_is_current
    from models import db

    migrations(app)
    downgrade(directory=MIGRATIONS_DIR, revision="-1")
    db.engine.dispose()
    assert not schema_is_current()
    assert not inspect(db.engine).has_table("payday_warnings")  # what the newest migration adds
    result = runner.invoke("init-db")
    assert result.exit_code == 0 and "数据库已就绪" in result.output
    assert schema_is_current() and inspect(db.engine).has_table("payday_warnings")
