"""The scope check of an upload: every row of the bundle must lie in the uploader's regions (the
comparison lists excepted), and a placement or workshop roster row must name a person of those
regions. Run by the upload's check and commit jobs (``services.py``) before the importer."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy import select

from audit.access import Scope
from audit.ledger import values as v
from audit.ledger.bundle import BundleError, open_bundle
from audit.ledger.importer import RowError
from audit.ledger.schema import BY_NAME, IGNORED, header_key
from audit.ledger.sheet import read_table
from models import Person, Position, Post, Workshop, db

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
PERSON_ELSEWHERE = ("该人员不在您的管辖范围内，不能由您上传其安置或用工记录；"
                    "新登记的人员请一并填入人员信息表；如此人登记在其他地区，请由人员所在地的审计人员上传，或由管理员处理。")
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
            return key, (f"{OUT_OF_SCOPE}（{where} 未填写{_COLUMN[key]}，"
                         f"无法确认属于您的管辖范围：{self.text}）")
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
            report(lo + (hi - lo) * min(done + rows, total) // total,
                   f"正在核对管辖范围：已读 {done + rows:,} 行")

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
            if any(p is None and not _blank(c) for p, c in zip(place, cells, strict=True)):
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
                                       f"{OUT_OF_SCOPE}（编号 {key} 已是其他地区登记的岗位或车间，"
                                       "不能由您的台账修改）"))
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
    errors = [RowError("persons", row_no, header, raw,
                       f"{OUT_OF_SCOPE}（此人已登记在其他地区，不能由您的台账修改）")
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


