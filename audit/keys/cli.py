"""``audit keys check`` and ``audit keys rotate``.

Rotation writes the new key before it touches the database and puts it in place after the database
has committed, so a crash between the two is recovered by running the command again: the database
says which key it holds (settings.pii_key_check)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from models import db

from ..pii import PiiCodec
from .services import KeyProblem, key_matches, recorded_check, rotate


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())


def _key_file() -> Path | None:
    """The instance key file when the running key came from it (not from AUDIT_PII_KEY)."""
    if os.environ.get("AUDIT_PII_KEY"):
        return None
    path = Path(current_app.instance_path) / "pii.key"
    if path.exists() and path.read_text().strip() == current_app.config["AUDIT_PII_KEY"]:
        return path
    return None


def register(cli: click.Group) -> None:
    @cli.group("keys")
    def keys() -> None:
        """个人信息密钥：检查与轮换。"""

    @keys.command("check")
    @with_appcontext
    def check_command() -> None:
        """检查当前配置的个人信息密钥是否就是数据库所用的密钥。"""
        from audit.database import ensure_schema

        ensure_schema()
        with db.engine.connect() as conn:
            ok = key_matches(conn, current_app.extensions["pii"])
        if ok is False:
            raise click.ClickException("当前个人信息密钥与数据库所用的密钥不一致。")
        click.echo("个人信息密钥与数据库一致。" if ok
                   else "数据库尚无个人信息，任何密钥均可使用（首次导入时记录）。")

    @keys.command("rotate")
    @click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="密钥由环境变量 AUDIT_PII_KEY 提供时必填："
                       "新密钥写入此文件（权限 600），由您换入环境变量。")
    @with_appcontext
    def rotate_command(new_key_file: Path | None) -> None:
        """轮换个人信息密钥：所有身份证号、银行账号的散列与密文用新密钥重写（一个事务，要么全成要么不变）。
        请先停止网页服务和调度器。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema
        from audit.scheduler.lock import SchedulerLock

        ensure_schema()
        key_file = _key_file()
        if key_file is not None and new_key_file is not None:
            raise click.ClickException("密钥保存在实例目录的 pii.key 中，由本命令替换，"
                                       "不要给 --new-key-file。")
        if key_file is None and new_key_file is None:
            raise click.ClickException("密钥不是来自实例目录的 pii.key（例如来自环境变量 AUDIT_PII_KEY）："
                                       "请用 --new-key-file 指定新密钥写到哪里。")
        if new_key_file is not None and new_key_file.exists():
            raise click.ClickException(f"{new_key_file} 已存在，不会覆盖。")
        pending = key_file.with_name("pii.key.new") if key_file else new_key_file
        if key_file is not None and pending.exists() and _finish_interrupted(key_file, pending):
            return
        lock = SchedulerLock(db.engine, current_app.instance_path)
        if not lock.acquire(wait=False):
            raise click.ClickException("调度器（audit scheduler）正在运行："
                                       "请先停止它和网页服务，再轮换密钥。")
        try:
            value = secrets.token_urlsafe(48)
            _write_secret(pending, value)
            try:
                result = rotate(db.engine, current_app.extensions["pii"], PiiCodec(value), actor=actor_name())
            except KeyProblem as exc:
                pending.unlink(missing_ok=True)
                raise click.ClickException(str(exc)) from None
            except BaseException:
                pending.unlink(missing_ok=True)
                raise
        finally:
            lock.release()
        if key_file is not None:
            os.replace(pending, key_file)
        current_app.extensions["pii"] = PiiCodec(value)
        rows = "，".join(f"{t} {n} 行" for t, n in result.rows.items() if n)
        click.echo(f"个人信息密钥已轮换：身份证号 {result.ids} 个、银行账号 {result.accounts} 个用新密钥重写"
                   f"（{rows or '无数据'}）；关于人员的审计发现 {result.findings_renamed} 条改用新编号，"
                   "旧编号仍可打开。")
        if key_file is not None:
            click.echo(f"新密钥已写入 {key_file}，旧密钥已废弃。请重新启动网页服务和调度器。")
        else:
            click.echo(f"新密钥已写入 {new_key_file}：请立即把环境变量 AUDIT_PII_KEY 换成其内容并删除该文件，"
                       "然后重新启动网页服务和调度器。数据库现在只认新密钥。")


def _finish_interrupted(key_file: Path, pending: Path) -> bool:
    """A rotation stopped after its commit, before the new key was put in place: do it now."""
    value = pending.read_text().strip()
    with db.engine.connect() as conn:
        done = recorded_check(conn) == PiiCodec(value).check
    if done:
        os.replace(pending, key_file)
        current_app.extensions["pii"] = PiiCodec(value)
        click.echo("上一次轮换已写入数据库、但新密钥尚未换上：现已换上新密钥。请重新启动网页服务和调度器。")
        return True
    pending.unlink()  # a rotation that did not commit: its key was never used
    return False
