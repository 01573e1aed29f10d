"""``audit verify-log``: the chain and the anchors checked (exit code 0 when whole), an anchor
written (``--anchor``), an old-format chain upgraded (``--upgrade``)."""
from __future__ import annotations

import datetime as dt
import re

import click

from .key import chain_key
from .verify import (
    Anchor,
    UpgradeRefused,
    anchor_dir,
    check,
    legacy_anchors,
    read_anchors,
    upgrade,
    write_anchor,
)

# ---- the command --------------------------------------------------------------------------------

def register(cli: click.Group) -> None:
    from flask.cli import with_appcontext

    @cli.command("verify-log")
    @click.option("--expect", "expected", multiple=True, metavar="序号:哈希",
                  help="此前记下的某一条（如上次校验输出的最后一条）：它必须仍在链中且哈希不变。可重复。"
                       "锚点目录中的锚点总会核对，这里是另外记下的。")
    @click.option("--anchor", "write", is_flag=True,
                  help="日志链与全部锚点都核对无误时，在锚点目录写下今天的锚点 anchor-YYYY-MM-DD.json。")
    @click.option("--upgrade", "upgrade_old", is_flag=True,
                  help="把旧格式（不带密钥的 SHA-256）的日志链一次性升级为 HMAC 链：先逐条核对旧链和锚点，"
                       "完整才升级，否则拒绝并指出断在哪里。")
    @with_appcontext
    def verify_log_command(expected: tuple[str, ...], write: bool, upgrade_old: bool) -> None:
        """校验变更日志的哈希链（HMAC-SHA256，密钥不在数据库中）与锚点目录中的每个锚点：
        报告核对了多少条、哪几个锚点，链完整时说「日志链完整」，否则指出断在第几条、何时、什么问题
        （内容被修改、缺少条目、顺序错乱、与锚点不符）；完整时退出码 0，否则 1。"""
        from audit.actor import actor_name
        from audit.database import ensure_schema
        from models import db

        extra = []
        for a in expected:
            seq, _, digest = a.partition(":")
            if not seq.strip().isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest.strip()):
                raise click.BadParameter(f"「{a}」应为 序号:64位十六进制哈希", param_hint="--expect")
            extra.append(Anchor(int(seq), digest.strip(), "命令行 --expect 所给"))
        ensure_schema()
        key = chain_key()
        if upgrade_old:
            folder_anchors, unreadable = read_anchors(anchor_dir())
            if unreadable:
                click.echo("拒绝升级：" + "；".join(b.message() for b in unreadable), err=True)
                raise click.exceptions.Exit(1)
            try:
                done = upgrade(db.engine, actor=actor_name(), key=key,
                               anchors=folder_anchors + legacy_anchors() + extra)
            except UpgradeRefused as exc:
                click.echo(str(exc), err=True)
                raise click.exceptions.Exit(1) from None
            click.echo(done)
        with db.engine.connect() as conn:
            report = check(conn, extra, key)
        for line, bad in report.lines():
            click.echo(line, err=bad)
        if not report.ok:
            if write:
                click.echo("未写锚点：日志链或锚点有问题，不能为它作证", err=True)
            raise click.exceptions.Exit(1)
        if write:
            head = report.verdict.last
            if not head:
                click.echo("日志为空，未写锚点")
                return
            try:
                path = write_anchor(head["seq"], head["hash"], dt.date.today(), key, report.folder)
            except ValueError as exc:
                click.echo(str(exc), err=True)
                raise click.exceptions.Exit(1) from None
            except OSError as exc:
                click.echo(f"未写锚点：{exc}", err=True)
                raise click.exceptions.Exit(1) from None
            click.echo(f"已写下锚点 {path}（第 {head['seq']} 条，哈希 {head['hash']}）")

