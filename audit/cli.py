"""The ``audit`` console command (Flask's CLI, so ``audit db upgrade``, ``audit run`` and
``audit shell`` come with it). Every feature's commands are wired in by ``audit.registry``, each
loaded when it is asked for."""
from __future__ import annotations

import gc
import os

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command, with_appcontext

from models import db

from .app import create_app
from .database import ensure_schema, migrations
from .registry import COMMANDS, WITHOUT_WEB, register_commands

_apps: list[Flask] = []  # the application a command made (``_make_app``), for ``main`` to close


def _make_app() -> Flask:
    """The command's application; without pages for a command that needs none (``WITHOUT_WEB``)."""
    ctx = click.get_current_context(silent=True)
    web = ctx is None or ctx.info_name not in WITHOUT_WEB
    app = create_app(None if web else {"AUDIT_WEB": False})
    _apps.append(app)
    return app


class _Commands(FlaskGroup):
    """Flask's group, each feature's commands (``audit.registry.COMMANDS``) and ``audit db``
    (Alembic via Flask-Migrate: upgrade, downgrade, migrate) loaded only when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS, "db"})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            register_commands(self, name)
        if name != "db":
            return super().get_command(ctx, name)
        from flask_migrate.cli import db as db_group

        migrations(ctx.ensure_object(ScriptInfo).load_app())
        return db_group


@click.group(cls=_Commands, create_app=_make_app, add_default_commands=False, add_version_option=False,
             load_dotenv=False, set_debug_flag=False,
             help="公益性岗位与就业帮扶车间审计系统。数据库由环境变量 DATABASE_URL 指定，"
                  "缺省为实例目录中的 SQLite 文件。")
def cli() -> None:
    pass


cli.add_command(shell_command)
cli.add_command(routes_command)


@cli.command("init-db")
@with_appcontext
def init_db() -> None:
    """创建或升级数据库结构（其他命令首次使用时也会自动执行）。"""
    ensure_schema()
    click.echo(f"数据库已就绪：{current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


def main() -> None:
    os.umask(0o077)  # every file the command writes is the user's own (0600), as in create_app
    try:
        cli.main(prog_name="audit")
    finally:
        # The process ends here. Its database connections are closed (SQLite then folds its
        # write-ahead log into the database file and removes it), and the exit does not run the
        # cyclic garbage collector over every object still alive (SQLAlchemy's, Flask's, a large
        # import's): a third of a second or more, for memory the exit gives back anyway.
        for app in _apps:
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()
        gc.freeze()
