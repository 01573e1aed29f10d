"""Storing an upload and sweeping what no job needs any more.

An upload lives in ``<instance>/uploads/<random token>/``: the bundle (a ``.zip``, one workbook, or
a folder of ``<table>.csv``/``.xlsx`` files under names this module gives them), the errors of
each check or load (``errors-<job id>.csv``, like ``audit import --errors-csv``) and, once a
commit was asked for, ``commit.lock`` (created exclusively: a second commit is refused, whatever
process it reaches). The bundle holds ID and account numbers in clear, so it is removed as soon as
it is no longer needed (a refused check, a finished load) and every upload is removed after
``UPLOAD_KEEP_DAYS`` (7) days.

P6: what a crash leaves behind is swept (``sweep_uploads``) at the application's start-up and by
the scheduler's daily housekeeping, both through ``recovery.recover``, right after dead jobs are marked
failed. The newest job naming an upload decides: running — kept; a check that passed, waiting for
its 确认导入 — kept (up to ``UPLOAD_KEEP_DAYS``); a job that died with its process — kept for
重新检查 / 重新导入 for ``UPLOAD_KEEP_FAILED_HOURS`` (24) after it was found dead, then deleted;
anything else (refused, loaded, failed by an error) — the bundle is deleted (its masked errors file
stays for the job's page). A folder that no job names (its request died between storing the file
and starting the check) is deleted whole once it is ``ORPHAN_MINUTES`` old.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from audit.ledger.schema import table_for
from audit.pii import mask_identifiers
from models import Job, db

from . import jobs

log = logging.getLogger(__name__)

BUNDLE_SUFFIXES = (".zip", ".xlsx", ".xlsm")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
CHECK, COMMIT, AUDIT = "upload.check", "upload.commit", "audit.run"  # the kinds of an upload's jobs
TOKEN = re.compile(r"[0-9a-f]{32}")
ORPHAN_MINUTES = 5  # a folder no job names yet may be a request's, between storing and starting the check


class UploadError(ValueError):
    """An upload that cannot be taken; the message is for the user."""


@dataclass
class Stored:
    token: str
    folder: Path  # <instance>/uploads/<token>
    bundle: str  # the bundle's name inside the folder (a file, or a folder of table files)
    files: list[str]  # the names as the user gave them (display only)
    size: int  # bytes stored

    @property
    def path(self) -> Path:
        return self.folder / self.bundle


def uploads_root() -> Path:
    return Path(current_app.instance_path) / "uploads"


def client_name(raw: str | None) -> str:
    """The last part of the client's file name (never its path), normalised, with anything shaped
    like an ID or account number masked: the name is kept on disk, in the job and in the log."""
    name = unicodedata.normalize("NFKC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return mask_identifiers("".join(ch for ch in name if ch.isprintable())[:200])


def safe_stem(stem: str) -> str:
    """A file name stem that keeps Chinese (``secure_filename`` would drop it) and nothing unsafe."""
    stem = re.sub(r"[^\w\-.、（）()]+", "_", stem).strip("._-")[:80]
    return stem or "bundle"


def store_upload(files: Iterable, root: Path | None = None) -> Stored:
    """Save the uploaded files (``FileStorage``) as one bundle: a single ``.zip`` or workbook as it
    is; table files (``persons.csv``, ``人员信息.xlsx`` …) in a folder, named by their table."""
    given = [(f, client_name(f.filename)) for f in files if f and (f.filename or "").strip()]
    if not given:
        raise UploadError("请选择要上传的文件。")
    plan: list[tuple[object, str]] = []  # (file, stored name)
    for _, name in given:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in BUNDLE_SUFFIXES + TABLE_SUFFIXES:
            raise UploadError(f"不支持的文件类型：{name}（可上传 .zip、.xlsx 或 .csv 文件）")
    if len(given) == 1:
        f, name = given[0]
        stem, suffix = os.path.splitext(name)
        suffix = suffix.lower()
        spec = table_for(stem)
        if suffix == ".zip" or (suffix in (".xlsx", ".xlsm") and spec is None):
            bundle = f"{safe_stem(stem)}{suffix}"
            plan.append((f, bundle))
            return _save(plan, bundle, [name], folder=False, root=root)
    tables: dict[str, str] = {}
    for f, name in given:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() == ".zip":
            raise UploadError(f"{name} 是压缩包：压缩包本身就是一个台账包，请单独上传")
        spec = table_for(stem)
        if spec is None:
            raise UploadError(f"无法从文件名 {name} 看出是哪张表：文件名应为表名，如 persons.csv 或 "
                              "人员信息.xlsx（包含多张表的工作簿请单独上传）")
        if spec.name in tables:
            raise UploadError(f"表 {spec.label} 上传了两次（{tables[spec.name]} 和 {name}），请只保留一个")
        tables[spec.name] = name
        plan.append((f, f"{spec.name}{suffix.lower()}"))
    names = [n for _, n in given]
    bundle = ("、".join(names) if len(names) <= 3 else f"{names[0]}等{len(names)}个文件")
    bundle = safe_stem(bundle)  # a folder: open_bundle takes it as one whatever its name ends with
    return _save(plan, bundle, names, folder=True, root=root)


def _save(plan, bundle: str, names: list[str], *, folder: bool, root: Path | None) -> Stored:
    root = root or uploads_root()
    root.mkdir(parents=True, exist_ok=True)
    purge_old(root)
    token = secrets.token_hex(16)
    home = root / token
    home.mkdir()
    target = home / bundle
    if folder:
        target.mkdir()
    size = 0
    for f, name in plan:
        dest = (target / name) if folder else target
        f.save(str(dest))
        size += dest.stat().st_size
    return Stored(token, home, bundle, names, size)


def discard(stored: Stored) -> None:
    """Remove the uploaded bundle (it holds ID and account numbers in clear); the folder keeps the
    errors files and the commit lock."""
    p = stored.path
    try:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    except OSError:
        log.exception("cannot remove upload %s", stored.token)


def purge_old(root: Path | None = None, days: int | None = None) -> None:
    """Remove uploads older than ``UPLOAD_KEEP_DAYS`` (default 7): a check never committed keeps its
    bundle until then."""
    root = root or uploads_root()
    days = int(current_app.config.get("UPLOAD_KEEP_DAYS", 7) if days is None else days)
    if not root.is_dir():
        return
    limit = time.time() - days * 86400
    for home in root.iterdir():
        try:
            if home.is_dir() and re.fullmatch(r"[0-9a-f]{32}", home.name) and home.stat().st_mtime < limit:
                shutil.rmtree(home)
        except OSError:
            log.exception("cannot purge upload %s", home.name)


def _keep_hours() -> int:
    return int(current_app.config.get("UPLOAD_KEEP_FAILED_HOURS", 24))


def bundle_needed(job: Job, now: dt.datetime | None = None) -> bool:
    """Whether the upload that ``job`` (the newest job naming it) works on may still be needed: its
    job runs; or it is a check that passed and waits for its load; or it died with its process less
    than UPLOAD_KEEP_FAILED_HOURS ago (重新检查 / 重新导入 run it again)."""
    now = now or dt.datetime.now()
    view = jobs.view(job, now)
    if not view.finished:
        return True
    if view.status == "failed" and view.message == jobs.DEAD_REASON:
        return (job.finished_at or now) > now - dt.timedelta(hours=_keep_hours())
    return job.kind == CHECK and view.status == "done" and bool((job.result or {}).get("ok"))


def sweep_uploads(now: dt.datetime | None = None, root: Path | None = None) -> int:
    """P6: delete what no job needs any more (see the module's docstring); the number of bundles and
    folders deleted. Run after ``jobs.sweep``, so that a dead job is already marked failed."""
    now = now or dt.datetime.now()
    root = root or uploads_root()
    if not root.is_dir():
        return 0
    purge_old(root)
    folders = {home.name: home for home in root.iterdir() if home.is_dir() and TOKEN.fullmatch(home.name)}
    if not folders:
        return 0
    newest: dict[str, int] = {}
    for job_id, params in db.session.execute(select(Job.id, Job.params).where(Job.kind.in_((CHECK, COMMIT)))):
        token = (params or {}).get("token")
        if token in folders and job_id > newest.get(token, 0):
            newest[token] = job_id
    removed = 0
    orphan_before = (now - dt.timedelta(minutes=ORPHAN_MINUTES)).timestamp()
    for token, home in folders.items():
        try:
            if token not in newest:
                if home.stat().st_mtime < orphan_before:
                    shutil.rmtree(home)
                    removed += 1
                continue
            job = db.session.get(Job, newest[token])
            stored = stored_of(job)
            if stored.path.exists() and not bundle_needed(job, now):
                discard(stored)
                removed += 1
        except (OSError, UploadError):
            log.exception("cannot sweep upload %s", token)
    db.session.rollback()  # end the read
    if removed:
        log.warning("swept %d uploaded bundle(s) no job needs any more (P6)", removed)
    return removed


def gone(job: Job | None) -> bool:
    """A job that died with its process whose bundle has been deleted since: the page says why."""
    if job is None or job.kind not in (CHECK, COMMIT) or jobs.view(job).message != jobs.DEAD_REASON:
        return False
    try:
        return not stored_of(job).path.exists()
    except UploadError:
        return True


def gone_text() -> str:
    return (f"上传的文件已删除：处理中断的任务，其文件（含明文身份证号）只保留 {_keep_hours()} 小时"
            "以便重新检查或重新导入，现已超过，请重新上传。")


def stored_of(job: Job) -> Stored:
    """The stored upload of a check (or commit) job; paths come from the server's own record."""
    p = job.params or {}
    if not re.fullmatch(r"[0-9a-f]{32}", p.get("token", "")):
        raise UploadError("找不到此次上传的文件")
    home = uploads_root() / p["token"]
    return Stored(p["token"], home, p["bundle"], p.get("files", []), int(p.get("bytes", 0)))

