"""Ledger upload: storing an upload, the scope check, the dry run, the commit and the audit run
after it, each as a job (``jobs.py``) that writes the audit log.

An upload lives in ``<instance>/uploads/<random token>/``: the bundle (a ``.zip``, one workbook, or
a folder of ``<table>.csv``/``.xlsx`` files under names this module gives them), the errors of
each check or load (``errors-<job id>.csv``, like ``audit import --errors-csv``) and, once a
commit was asked for, ``commit.lock`` (created exclusively: a second commit is refused, whatever
process it reaches). The bundle holds ID and account numbers in clear, so it is removed as soon as
it is no longer needed (a refused check, a finished load) and every upload is removed after
``UPLOAD_KEEP_DAYS`` (7) days.

P6: what a crash leaves behind is swept (``sweep_uploads``) at the application's start-up and by
the scheduler's daily housekeeping, both through ``jobs.recover``, right after dead jobs are marked
failed. The newest job naming an upload decides: running — kept; a check that passed, waiting for
its 确认导入 — kept (up to ``UPLOAD_KEEP_DAYS``); a job that died with its process — kept for
重新检查 / 重新导入 for ``UPLOAD_KEEP_FAILED_HOURS`` (24) after it was found dead, then deleted;
anything else (refused, loaded, failed by an error) — the bundle is deleted (its masked errors file
stays for the job's page). A folder that no job names (its request died between storing the file
and starting the check) is deleted whole once it is ``ORPHAN_MINUTES`` old.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from audit.access import Scope
from audit.auditlog import record
from audit.ledger import values as v
from audit.ledger.bundle import BundleError, open_bundle
from audit.ledger.cli import limits_from_config, write_errors_csv
from audit.ledger.importer import ImportResult, RowError, import_bundle
from audit.ledger.schema import BY_NAME, IGNORED, TABLES, header_key, table_for
from audit.ledger.sheet import read_table
from audit.pii import mask_deep, mask_identifiers
from models import Job, Person, Position, Post, Workshop, db

from . import jobs

log = logging.getLogger(__name__)

ERRORS_PER_PAGE = 200
WARNINGS_KEPT = 200
BUNDLE_SUFFIXES = (".zip", ".xlsx", ".xlsm")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
CHECK, COMMIT, AUDIT = "upload.check", "upload.commit", "audit.run"
TOKEN = re.compile(r"[0-9a-f]{32}")
ORPHAN_MINUTES = 5  # a folder no job names yet may be a request's, between storing and starting the check


class UploadError(ValueError):
    """An upload that cannot be taken; the message is for the user."""


# ---- storing an upload ------------------------------------------------------------------------

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


def _client_name(raw: str | None) -> str:
    """The last part of the client's file name (never its path), normalised, with anything shaped
    like an ID or account number masked: the name is kept on disk, in the job and in the log."""
    name = unicodedata.normalize("NFKC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return mask_identifiers("".join(ch for ch in name if ch.isprintable())[:200])


def _safe_stem(stem: str) -> str:
    """A file name stem that keeps Chinese (``secure_filename`` would drop it) and nothing unsafe."""
    stem = re.sub(r"[^\w\-.、（）()]+", "_", stem).strip("._-")[:80]
    return stem or "bundle"


def store_upload(files: Iterable, root: Path | None = None) -> Stored:
    """Save the uploaded files (``FileStorage``) as one bundle: a single ``.zip`` or workbook as it
    is; table files (``persons.csv``, ``人员信息.xlsx`` …) in a folder, named by their table."""
    given = [(f, _client_name(f.filename)) for f in files if f and (f.filename or "").strip()]
    if not given:
        raise UploadError("请选择要上传的文件。")
    plan: list[tuple[object, str]] = []  # (file, stored name)
    for f, name in given:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in BUNDLE_SUFFIXES + TABLE_SUFFIXES:
            raise UploadError(f"不支持的文件类型：{name}（可上传 .zip、.xlsx 或 .csv 文件）")
    if len(given) == 1:
        f, name = given[0]
        stem, suffix = os.path.splitext(name)
        suffix = suffix.lower()
        spec = table_for(stem)
        if suffix == ".zip" or (suffix in (".xlsx", ".xlsm") and spec is None):
            bundle = f"{_safe_stem(stem)}{suffix}"
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
    bundle = _safe_stem(bundle)  # a folder: open_bundle takes it as one whatever its name ends with
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
    return (f"上传的文件已删除：处理中断的任务，其文件（含明文身份证号）只保留 {_keep_hours()} 小时以便重新检查或重新导入，"
            "现已超过，请重新上传。")


def stored_of(job: Job) -> Stored:
    """The stored upload of a check (or commit) job; paths come from the server's own record."""
    p = job.params or {}
    if not re.fullmatch(r"[0-9a-f]{32}", p.get("token", "")):
        raise UploadError("找不到此次上传的文件")
    home = uploads_root() / p["token"]
    return Stored(p["token"], home, p["bundle"], p.get("files", []), int(p.get("bytes", 0)))


# ---- the scope check --------------------------------------------------------------------------

# Tables whose rows carry their own region, and tables whose rows belong to a post by its code.
REGION_TABLES = ("persons", "positions", "workshops")
POST_REFS = {"placements": "position_code", "workshop_staff": "workshop_code", "attendance": "post_code",
             "attendance_grid": "post_code", "wages": "post_code", "reports": "subject_code"}
# The comparison lists (deaths, social_insurance, pensions, businesses, officials, migrant_work)
# are lists of whole departments (民政, 人社, 市场监管, 组织部门 …), handed over for a whole city or
# county and only ever matched against the ledgers: any auditor may load them, whatever the scope.
OUT_OF_SCOPE = "不在您的管辖范围内"
# Tables whose rows link a person (by ID number) to a post: such a row brings the person into the
# scope of whoever sees the post (``Scope.persons()``), so it needs the person in the uploader's scope.
PERSON_LINKS = ("placements", "workshop_staff")
PERSON_ELSEWHERE = ("该人员不在您的管辖范围内，不能由您上传其安置或用工记录；新登记的人员请一并填入人员信息表；"
                    "如此人登记在其他地区，请由人员所在地的审计人员上传，或由管理员处理。")
_COLUMN = {"district": "区县", "township": "乡镇街道", "village": "村社区"}
_LOOKUP_CHUNK = 500


def _place(d, t, v_) -> str:
    return "".join(x for x in (d, t, v_) if x)


class _Regions:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.everything = scope.everything
        self.regions = scope.regions
        self.text = scope.describe()

    def covers(self, d, t, v_) -> bool:
        if self.everything:
            return True
        return any(d == rd and (not rt or t == rt) and (not rv or v_ == rv) for rd, rt, rv in self.regions)

    def miss(self, d, t, v_) -> tuple[str, str]:
        """(column key, reason) of a region outside the scope: the first column that leaves it."""
        if not d:
            return "district", f"{OUT_OF_SCOPE}（未填写区县，无法确认属于您的管辖范围：{self.text}）"
        if not any(d == rd for rd, _, _ in self.regions):
            key = "district"
        elif not any(d == rd and (not rt or t == rt) for rd, rt, _ in self.regions):
            key = "township"
        else:
            key = "village"
        where = _place(d, t, v_)
        if key != "district" and not (t if key == "township" else v_):
            return key, (f"{OUT_OF_SCOPE}（{where} 未填写{_COLUMN[key]}，无法确认属于您的管辖范围：{self.text}）")
        return key, f"{OUT_OF_SCOPE}（{where}；您的管辖范围：{self.text}）"


def _cell(row, i: int):
    return row[i] if 0 <= i < len(row) else None


def _blank(x) -> bool:
    return x is None or (isinstance(x, str) and not x.strip())


def _parse(parse: Callable, x):
    """A cell's value as the importer reads it, or None (empty or bad: the importer reports it)."""
    if _blank(x):
        return None
    try:
        return parse(x)
    except (v.CellError, ValueError, TypeError, ArithmeticError):
        return None


def _shown(x) -> str:
    s = "" if x is None else (x.isoformat() if isinstance(x, (dt.date, dt.time)) else str(x))
    return s if len(s) <= 60 else s[:57] + "…"


def _table(spec, source) -> tuple[dict[str, tuple[int, str]], Iterator[tuple[int, tuple]]]:
    """The columns of a bundle's table (key -> (index, Chinese name), as the importer names them)
    and its data rows (row number, row), found as the importer finds them (``sheet.read_table``:
    the header below title rows, total rows read past)."""
    table = read_table(spec, source.rows())
    found: dict[str, tuple[int, str]] = {}
    for i, cell in enumerate(table.header or ()):
        if cell is None or str(cell).strip() == "":
            continue
        key = header_key(spec, cell)
        if key is not None and key != IGNORED and key not in found:
            found[key] = (i, spec.col(key).zh)
    return found, table.rows


def scope_errors(path: Path, scope: Scope, *, pii, limits, report: Callable[[int, str], None] | None = None,
                 span: tuple[int, int] = (0, 100)) -> tuple[list[RowError], dict[str, int]]:
    """Rows of the bundle that the user's scope may not load, as row errors; and the approximate
    row count of each table (for progress). A bundle that cannot be opened gives no errors here
    (the importer reports it).

    - persons, positions, workshops: the row's district (and its township and village, where the
      scope narrows to them) must be one of the user's regions; a person or a post already in the
      database must be in them too (else the upload would move it out of another's region);
    - placements, workshop_staff, attendance (and its 考勤表), wages, reports: the post (by its code)
      must be in scope, be it described in this bundle or already in the database;
    - placements, workshop_staff: the person too (``_links_elsewhere``), else the row would bring
      another region's person into the uploader's scope, and their full numbers within reach;
    - the comparison lists are accepted from any auditor (see above).

    One pass over each of these tables; each distinct post code is judged once.
    """
    regions = _Regions(scope)
    if regions.everything:
        return [], {}
    try:
        bundle = open_bundle(path, limits)
    except BundleError:
        return [], {}
    try:
        with bundle:
            return _scope_errors(bundle, regions, pii, report, span, _Capped(limits.max_errors))
    except BundleError:
        return [], {}  # the importer reports an unreadable table
    except _Capped.Full as full:  # a file of junk rows (a zip bomb of a small ratio): stop, and say so
        return [*full.errors, RowError("bundle", 0, "", "", f"错误过多：已发现 {len(full.errors)} 处错误，"
                                       "检查到此停止，后面的行未检查。请先改正以上错误（或确认是否选错了文件），"
                                       "再重新上传。")], {}
    finally:
        db.session.rollback()  # end the read: the import that follows writes from another connection


class _Capped(list):
    """The row errors of the scope check, at most ``limit`` (``Limits.max_errors``): one more stops
    the check (``Full``), so that millions of junk rows cannot fill the memory."""

    class Full(Exception):
        def __init__(self, errors: list[RowError]):
            self.errors = errors

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.origins: dict[str, str] = {}  # table -> its file or sheet, named in each row's error

    def append(self, error: RowError) -> None:
        if error.row and not error.origin and error.table in self.origins:
            error = dataclasses.replace(error, origin=self.origins[error.table])
        super().append(error)
        if 0 < self.limit <= len(self):
            raise _Capped.Full(list(self))

    def extend(self, errors) -> None:
        for error in errors:
            self.append(error)


def _scope_errors(bundle, regions: _Regions, pii, report, span,
                  errors: list[RowError]) -> tuple[list[RowError], dict[str, int]]:
    sizes = {name: s.approx_rows or 0 for name, s in bundle.sources.items()}
    if isinstance(errors, _Capped):
        errors.origins = {name: s.origin for name, s in bundle.sources.items()}
    checked = [n for n in (*REGION_TABLES, *POST_REFS) if n in bundle.sources]
    total = sum(sizes[n] for n in checked) or 1
    done = 0
    last = [0.0]

    def tick(rows: int) -> None:
        if report and time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            lo, hi = span
            report(lo + (hi - lo) * min(done + rows, total) // total, f"正在核对管辖范围：已读 {done + rows:,} 行")

    # every post of the database (a few thousand at most): code -> (in scope, kind)
    known: dict[str, tuple[bool, str]] = {}
    for model, kind in ((Position, "positions"), (Workshop, "workshops")):
        q = select(Post.code, model.district, model.township, model.village).join(model, model.id == Post.id)
        for code, d, t, v_ in db.session.execute(q):
            known[code] = (regions.covers(d, t, v_), kind)
    # the bundle's posts: code -> (in scope, where it is, kind)
    declared: dict[str, tuple[bool, str, str]] = {}
    people: list[tuple[int, str, str, str]] = []  # (row, header, raw value, ID number) of in-scope persons
    for name in REGION_TABLES:
        source = bundle.sources.get(name)
        if source is None:
            continue
        spec = BY_NAME[name]
        cols, rows = _table(spec, source)
        at = {k: cols.get(k, (-1, _COLUMN[k]))[0] for k in _COLUMN}
        first = spec.columns[0]
        key_i, key_h = cols.get(first.key, (-1, first.zh))
        for n, (row_no, row) in enumerate(rows):
            if n % 20_000 == 0:
                tick(n)
            cells = [_cell(row, at[k]) for k in _COLUMN]
            place = [_parse(v.text, c) for c in cells]
            if any(p is None and not _blank(c) for p, c in zip(place, cells)):
                continue  # a region the importer cannot read (a date, 200 characters): it refuses the row
            d, t, v_ = place
            raw = _cell(row, key_i)
            key = _parse(first.parse, raw)
            if not regions.covers(d, t, v_):
                col, reason = regions.miss(d, t, v_)
                header = cols.get(col, (-1, _COLUMN[col]))[1]
                errors.append(RowError(name, row_no, header, _shown(_cell(row, at[col])), reason))
                if key is not None and name != "persons":
                    declared[key] = (False, _place(d, t, v_), name)
            elif key is None:
                continue
            elif name == "persons":
                people.append((row_no, key_h, _shown(raw), key))
            elif key in known and not known[key][0]:
                errors.append(RowError(name, row_no, key_h, _shown(raw),
                                       f"{OUT_OF_SCOPE}（编号 {key} 已是其他地区登记的岗位或车间，不能由您的台账修改）"))
                declared[key] = (False, "", name)
            else:
                declared.setdefault(key, (True, _place(d, t, v_), name))
        done += sizes[name]
    refused, accepted = _people_elsewhere(people, regions, pii)
    errors.extend(refused)
    for name, key in POST_REFS.items():
        source = bundle.sources.get(name)
        if source is None:
            continue
        cols, rows = _table(BY_NAME[name], source)
        if key not in cols:
            continue  # the importer reports the missing column
        i, header = cols[key]
        # raw cell -> None (fine) or the reason it is not. The hot loop of the check (millions of
        # attendance rows): one dict look-up a row; a blank row has no code and so no error.
        verdicts: dict[object, str | None] = {None: None, "": None}
        for row_no, row in rows:
            if not row_no & 0x7FFF:
                tick(row_no)
            try:
                raw = row[i]
            except IndexError:
                continue
            try:
                reason = verdicts[raw]
            except KeyError:
                reason = verdicts[raw] = _post_reason(_parse(v.code, raw), declared, known, regions)
            except TypeError:  # an unhashable cell (never from CSV or openpyxl): judged alone
                reason = _post_reason(_parse(v.code, raw), declared, known, regions)
            if reason is not None:
                errors.append(RowError(name, row_no, header, _shown(raw), reason))
        done += sizes[name]
    errors.extend(_links_elsewhere(bundle, accepted, regions, pii))
    errors.extend(_replaces_elsewhere(bundle, declared, known, regions))
    return errors, sizes


def _replaces_elsewhere(bundle, declared, known, regions: _Regions) -> list[RowError]:
    """``replaces`` rows reaching outside the uploader's regions (ledger-format.md: "An auditor may
    only replace inside their own regions"): a row names one post in scope, or a district (and
    township) the uploader's scope covers whole; a scope of villages replaces post by post."""
    source = bundle.sources.get("replaces")
    if source is None:
        return []
    cols, rows = _table(BY_NAME["replaces"], source)
    out = []
    for row_no, row in rows:
        d, t, code = (_parse(parse, _cell(row, cols.get(k, (-1, ""))[0]))
                      for k, parse in (("district", v.text), ("township", v.text), ("post_code", v.code)))
        if code is not None:
            reason = _post_reason(code, declared, known, regions)
            if reason is not None:
                out.append(RowError("replaces", row_no, "岗位或车间编号", code, reason))
            continue
        if regions.covers(d, t, None):
            continue
        key, reason = regions.miss(d, t, None)
        if key == "village":
            key, reason = "township", (f"{OUT_OF_SCOPE}（您的管辖范围是村或社区：{regions.text}；"
                                      "请按岗位编号逐个替换，填写「岗位或车间编号」列）")
        out.append(RowError("replaces", row_no, _COLUMN[key], _shown(d if key == "district" else t), reason))
    return out


def _post_reason(code: str | None, declared, known, regions: _Regions) -> str | None:
    """Why a row of this post may not be loaded, or None. Unknown codes are the importer's to report."""
    if code is None:
        return None
    mine = declared.get(code)
    there = known.get(code)
    if (mine is None or mine[0]) and (there is None or there[0]):
        return None
    kind = (mine[2] if mine else None) or (there[1] if there else "")
    what = {"positions": "公益性岗位", "workshops": "就业帮扶车间"}.get(kind, "编号")
    where = mine[1] if mine is not None and not mine[0] and mine[1] else "其他地区"
    return f"{OUT_OF_SCOPE}（{what} {code} 属于{where}；您的管辖范围：{regions.text}）"


def _chunks(items: list, n: int = _LOOKUP_CHUNK) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _in_scope(hashes: Iterable[str], regions: _Regions) -> set[str]:
    """The ID hashes, of those given, of persons the uploader sees (``Scope.persons()``: living in
    their regions, or holding or having held a post or a workshop job there) — the very rule that
    lets them reveal a person's full ID and account numbers."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(hashes))):
        found.update(db.session.scalars(select(Person.id_hash).where(Person.id_hash.in_(chunk),
                                                                     regions.scope.persons())))
    return found


def _people_elsewhere(people, regions: _Regions, pii) -> tuple[list[RowError], set[str]]:
    """persons rows (in scope themselves) of people the database has outside the uploader's
    regions, as row errors; and the ID hashes of the bundle's persons this upload may place (its
    rows in scope that are not refused).

    Decisions: a person on file in another region is refused even if they hold a post in the
    uploader's scope (the row would move them out of the region they are registered in, out of
    that region's sight). A person on file with no region is nobody's region: the uploader may
    fill it in only if they already see the person (a post or a job in their scope); else the row
    would pull a stranger into their scope. The refusal necessarily tells that the ID number is on
    file (a new one would be created): it says no more — neither where nor who."""
    hashes = {idn: pii.digest(idn) for _, _, _, idn in people}
    elsewhere: set[str] = set()
    unplaced: set[str] = set()
    for chunk in _chunks(sorted(set(hashes.values()))):
        for h, d, t, v_ in db.session.execute(select(Person.id_hash, Person.district, Person.township,
                                                     Person.village).where(Person.id_hash.in_(chunk))):
            if not regions.covers(d, t, v_):
                (elsewhere if d else unplaced).add(h)
    elsewhere |= unplaced - _in_scope(unplaced, regions)
    errors = [RowError("persons", row_no, header, raw, f"{OUT_OF_SCOPE}（此人已登记在其他地区，不能由您的台账修改）")
              for row_no, header, raw, idn in people if hashes[idn] in elsewhere]
    return errors, set(hashes.values()) - elsewhere


def _links_elsewhere(bundle, accepted: set[str], regions: _Regions, pii) -> list[RowError]:
    """placements and workshop_staff rows naming a person the upload may not place: neither one of
    the bundle's own persons rows it accepts (``accepted``: new people, or people of the
    uploader's regions) nor a person the uploader already sees (``_in_scope``). Such a row would
    bring the person into the uploader's scope, and with it the full ID and account numbers.

    Decision on the message: one text (``PERSON_ELSEWHERE``) for a person on file in another
    region and for an ID number on file nowhere, and the importer's own error on that cell
    ("not in persons") is dropped for it (``_finish_result``): the placements table does not tell
    the uploader whether, or where, an ID number is on file, nor who it is. (Whether it is on file at
    all can be learnt anyway: a persons row of it is refused when it is — see
    ``_people_elsewhere`` — and the preview counts a row whose person was found.) The error names
    the file's table, row and column and shows the number masked, as every stored error."""
    found: list[tuple[str, int, str, str, str]] = []  # (table, row, header, raw shown, hash)
    for name in PERSON_LINKS:
        source = bundle.sources.get(name)
        if source is None:
            continue
        cols, rows = _table(BY_NAME[name], source)
        if "id_number" not in cols:
            continue  # the importer reports the missing column
        i, header = cols["id_number"]
        digests: dict[object, str | None] = {}
        for row_no, row in rows:
            raw = _cell(row, i)
            try:
                h = digests[raw]
            except KeyError:
                idn = _parse(v.id_number, raw)  # a bad number is the importer's to report
                h = digests[raw] = pii.digest(idn) if idn is not None else None
            if h is not None and h not in accepted:
                found.append((name, row_no, header, _shown(raw), h))
    if not found:
        return []
    seen = _in_scope((h for *_, h in found), regions)
    return [RowError(name, row_no, header, raw, PERSON_ELSEWHERE)
            for name, row_no, header, raw, h in found if h not in seen]


# ---- progress of an import ----------------------------------------------------------------------

class _ImportProgress:
    """Turns the importer's (table label, rows read) into per cent of the whole bundle. The importer
    calls it inside its write transaction: on SQLite, which then lets no other connection write, the
    progress is kept in this process only (the job's page reads it from there)."""

    def __init__(self, report: Callable[..., None], sizes: dict[str, int], span: tuple[int, int]):
        self.report = report
        self.store = db.engine.dialect.name != "sqlite"
        self.span = span
        self.order = [t.name for t in TABLES if t.name in sizes]
        self.before = {}
        acc = 0
        for name in self.order:
            self.before[name] = acc
            acc += sizes[name]
        self.total = acc or 1
        self.by_label = {t.label: t.name for t in TABLES}
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, label: str, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        name = self.by_label.get(label, label)
        lo, hi = self.span
        done = min(self.before.get(name, 0) + rows, self.total)
        what = BY_NAME[name].zh if name in BY_NAME else label
        rate = done / max(now - self.started, 1e-3)  # rows of the bundle read per second, so far
        self.report(lo + (hi - lo) * done // self.total, f"正在处理{what}：已读 {rows:,} 行（每秒 {rate:,.0f} 行）",
                    store=self.store)


# ---- the jobs ----------------------------------------------------------------------------------

def _counts(result: ImportResult) -> dict[str, dict[str, int]]:
    return {name: vars(c) for name, c in result.counts.items()}


def _finish_result(job_id: int, stored: Stored, result: ImportResult,
                   extra: list[RowError]) -> dict[str, Any]:
    # ID and account numbers of the refused rows are masked: the errors file stays on the server.
    # A person the upload may not place is named by the scope check alone, in one text whether or
    # not the ID number is on file (see ``_links_elsewhere``): the importer's error on that cell goes.
    placed = {(e.table, e.row, e.column) for e in extra if e.reason == PERSON_ELSEWHERE}
    kept = [e for e in result.errors if (e.table, e.row, e.column) not in placed]
    errors = [dataclasses.replace(e, value=mask_identifiers(e.value), reason=mask_identifiers(e.reason))
              for e in sorted([*kept, *extra], key=_error_order)]
    result.errors = errors
    if errors:
        write_errors_csv(result, stored.folder / f"errors-{job_id}.csv")
    counts = _counts(result)
    if extra:  # a replaces row may reach outside the scope: what it would delete there is not even counted
        for c in counts.values():
            c["deleted"] = 0
    return {"ok": not errors, "source": result.source, "counts": counts, "errors": len(errors),
            "scope_errors": len(extra), "warnings": result.warnings[:WARNINGS_KEPT],
            "warnings_total": len(result.warnings), "batch_id": result.batch_id,
            "changes": _changes(result) if not errors else {},
            "deleted": {table: mask_deep(d) for table, d in result.deleted.items()} if not errors else {}}


def _changes(result: ImportResult) -> dict[str, dict]:
    """The changed rows of each table, field by field (the importer's first ``CHANGES_SHOWN`` of
    each, already readable and masked); anything shaped like an ID or account number is masked once
    more, as in every stored job result."""
    return {table: mask_deep(c) for table, c in result.changes.items() if c["rows"]}


_ORDER = {t.name: i for i, t in enumerate(TABLES)}


def _error_order(e: RowError):
    return (_ORDER.get(e.table, -1), e.row)


def _who(params: dict) -> dict[str, Any]:
    return {"ip": params.get("ip")} if params.get("ip") else {}


@dataclass(frozen=True)
class Actor:
    """Who asked, as plain values: a job must not touch ``current_user`` (in a thread there is none,
    and in a fresh application context it would be loaded again, holding a read open)."""

    id: int
    name: str
    ip: str | None = None

    @classmethod
    def of(cls, user, ip: str | None = None) -> Actor:
        return cls(int(user.id), str(user.username), ip)


def start_check(user: Actor, scope: Scope, stored: Stored) -> int:
    """Start the dry run of an upload (in the request if small, else in the background)."""
    params = {"token": stored.token, "bundle": stored.bundle, "files": stored.files, "bytes": stored.size,
              "actor": user.name, "regions": [list(r) for r in scope.regions], "ip": user.ip}
    background = stored.size >= int(current_app.config["UPLOAD_BACKGROUND_BYTES"])

    def check(job_id: int, report) -> dict[str, Any]:
        try:
            report(1, "正在核对管辖范围…")
            pii, limits = current_app.extensions["pii"], limits_from_config()
            extra, sizes = scope_errors(stored.path, scope, pii=pii, limits=limits, report=report,
                                        span=(1, 30))
            report(30, "正在逐行检查台账…")
            result = import_bundle(stored.path, engine=db.engine, pii=pii, actor=user.name, dry_run=True,
                                   limits=limits, on_progress=_ImportProgress(report, sizes, (30, 99)))
            out = _finish_result(job_id, stored, result, extra)
        except BaseException:
            discard(stored)
            raise
        if not out["ok"]:
            discard(stored)  # refused: it will never be loaded, so its personal data goes now
        record(CHECK, table="jobs", row_id=job_id, ref=stored.bundle[:200], who=user.name,
               new={**_who(params), "files": stored.files[:50], "bytes": stored.size, "errors": out["errors"],
                    "scope_errors": out["scope_errors"], "ok": out["ok"]})
        db.session.commit()
        return out

    return jobs.start(CHECK, user.id, params, check, background)


def commit_state(job: Job) -> str:
    """'' (not asked), 'asked' (being started) — from the lock file the commit creates."""
    try:
        return "asked" if (stored_of(job).folder / "commit.lock").exists() else ""
    except UploadError:
        return ""


def start_commit(user: Actor, scope: Scope, check: Job) -> int:
    """Load a checked upload for real. Refused unless the check passed, and refused the second time
    (the lock file is created exclusively)."""
    result = check.result or {}
    if check.status != "done" or not result.get("ok"):
        raise UploadError("此次上传未通过检查，不能导入。")
    stored = stored_of(check)
    twice = UploadError("此次上传已经确认导入过（或正在导入），不能重复导入。")
    if result.get("commit_job") or (stored.folder / "commit.lock").exists():
        if not _release_dead_commit(check, stored):  # its load died with its process: it may be retried
            raise twice
    if not stored.path.exists():
        raise UploadError("此次上传的文件已不存在（上传的文件只保留 7 天），请重新上传。")
    try:
        fd = os.open(stored.folder / "commit.lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise twice from None
    os.close(fd)
    params = {**(check.params or {}), "check_job": check.id, "actor": user.name, "ip": user.ip}
    background = stored.size >= int(current_app.config["UPLOAD_BACKGROUND_BYTES"])
    check_id, check_result = check.id, dict(result)

    def commit(job_id: int, report) -> dict[str, Any]:
        (stored.folder / "commit.lock").write_text(str(job_id))
        jobs.set_result(check_id, {**check_result, "commit_job": job_id})
        try:
            report(1, "正在核对管辖范围…")
            pii, limits = current_app.extensions["pii"], limits_from_config()
            extra, sizes = scope_errors(stored.path, scope, pii=pii, limits=limits, report=report,
                                        span=(1, 20))
            report(20, "正在导入…")
            if extra:  # the database changed since the check: refuse before writing anything
                res = ImportResult(source=stored.path.name, dry_run=False)
            else:
                res = import_bundle(stored.path, engine=db.engine, pii=pii, actor=user.name, dry_run=False,
                                    limits=limits, on_progress=_ImportProgress(report, sizes, (20, 99)))
            out = _finish_result(job_id, stored, res, extra)
        finally:
            discard(stored)  # loaded (or refused): the upload is not needed any more
        out["check_job"] = check_id
        record(COMMIT, table="import_batches", row_id=out["batch_id"], ref=stored.bundle[:200], who=user.name,
               new={**_who(params), "check_job": check_id, "ok": out["ok"], "errors": out["errors"],
                    "added": sum(c["added"] for c in out["counts"].values()),
                    "changed": sum(c["changed"] for c in out["counts"].values())})
        db.session.commit()
        return out

    return jobs.start(COMMIT, user.id, params, commit, background)


def can_retry(job: Job) -> bool:
    """A job whose process died (failed, its uploaded file still there): may be run again."""
    v = jobs.view(job)
    if job.kind not in (CHECK, COMMIT) or v.status != "failed" or v.message != jobs.DEAD_REASON:
        return False
    try:
        return stored_of(job).path.exists()
    except UploadError:
        return False


def _release_dead_commit(check: Job, stored: Stored) -> bool:
    """The commit of this check died with its process (nothing was written: its transaction died
    too): its lock is taken away, once (a rename), so that the load may be asked for again."""
    lock = stored.folder / "commit.lock"
    commit = commit_job_of(check)
    if commit is None:  # it died before it said so in the check: the lock names it
        try:
            commit = db.session.get(Job, int(lock.read_text().strip() or 0))
        except (OSError, ValueError):
            commit = None
    if commit is None or commit.kind != COMMIT or not can_retry(commit):
        return False
    jobs.sweep()  # marked failed now, if only seen so
    try:
        os.rename(lock, stored.folder / f"commit.lock.dead-{commit.id}")
    except OSError:
        return False  # another request took it first (or there was none)
    return True


def retry_check(user: Actor, scope: Scope, check: Job) -> int:
    """Check again an upload whose check died with its process (the file was kept)."""
    if check.kind == CHECK and gone(check):
        raise UploadError(gone_text())
    if check.kind != CHECK or not can_retry(check):
        raise UploadError("此次上传不能重新检查，请重新上传。")
    jobs.sweep()  # marked failed now, if only seen so
    return start_check(user, scope, stored_of(check))


def running_audit() -> Job | None:
    """An audit run that is still going (started from the web), if any."""
    for job in db.session.scalars(select(Job).where(Job.kind == AUDIT, Job.status.in_(("queued", "running")))
                                  .order_by(Job.id.desc())):
        if not jobs.view(job).finished:
            return job
    return None


def start_audit(user: Actor, *, after: int | None = None) -> int:
    """Run every rule as of ``as_of_date()`` (today unless AUDIT_AS_OF is set), in the background."""
    if running_audit() is not None:
        raise UploadError("已有一次审计正在运行，请等它完成后再试。")
    params = {"actor": user.name, "after_job": after, "ip": user.ip}

    def audit(job_id: int, report) -> dict[str, Any]:
        from audit.engine.asof import as_of_date
        from audit.engine.runner import run_audit

        report(5, "正在运行全部审计规则…")
        r = run_audit(db.engine, as_of=as_of_date(), actor=user.name, log={**_who(params), "after_job": after})
        not_run = sorted(code for code, x in r.rules.items() if x.get("status") == "not_run")
        out = {"run_id": r.run_id, "as_of": r.as_of.isoformat(), "total": r.total, "new": r.new,
               "reopened": r.reopened, "resolved": r.resolved, "by_category": dict(r.by_category),
               "not_run": not_run, "seconds": round(r.seconds, 1)}
        return out  # the run logged itself (audit.run), with the address of the request

    return jobs.start(AUDIT, user.id, params, audit, background=True)


# ---- reading -------------------------------------------------------------------------------------

def errors_file(job: Job) -> Path | None:
    try:
        path = stored_of(job).folder / f"errors-{job.id}.csv"
    except UploadError:
        return None
    return path if path.exists() else None


@dataclass(frozen=True)
class ShownError:
    table: str  # Chinese
    row: int
    column: str
    value: str
    reason: str
    origin: str = ""  # the file, or the workbook and its sheet


def table_zh(name: str) -> str:
    if name == "bundle":
        return "台账包"
    return BY_NAME[name].zh if name in BY_NAME else name


def errors_page(job: Job, page: int, per_page: int = ERRORS_PER_PAGE) -> list[ShownError]:
    """One page of a job's errors (from its errors file, whose cells are written formula-safe)."""
    from audit.engine.export import cell_text

    path = errors_file(job)
    if path is None:
        return []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        start = (max(page, 1) - 1) * per_page
        out = []
        for r in islice(rows, start, start + per_page):
            table, origin, row, column, value, reason = (cell_text(c) for c in (r + [""] * 6)[:6])
            out.append(ShownError(table_zh(table), int(row) if row.isdigit() else 0, column, value, reason, origin))
    return out


def commit_job_of(check: Job) -> Job | None:
    cid = (check.result or {}).get("commit_job")
    return db.session.get(Job, cid) if cid else None


def commit_jobs(checks: list[Job]) -> dict[int, Job]:
    """check job id -> its commit job, in one query."""
    ids = {j.id: (j.result or {}).get("commit_job") for j in checks}
    wanted = [i for i in ids.values() if i]
    found = {j.id: j for j in db.session.scalars(select(Job).where(Job.id.in_(wanted)))} if wanted else {}
    return {cid: found[i] for cid, i in ids.items() if i in found}


# ---- templates -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def template_files() -> dict[str, bytes]:
    """Every blank template (``write_templates``), by file name; made once per process."""
    from audit.ledger.templates import write_templates

    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in sorted(write_templates(Path(tmp)))}


@lru_cache(maxsize=1)
def templates_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in template_files().items():
            zf.writestr(f"台账模板/{name}", data)
    return buf.getvalue()
