"""发放前校验: the draft payroll judged by the audit's own rules, as if paid on the check date.

How (one definition of each rule, never a copy): in one transaction that is always rolled back,
the draft's rows are written into ``wages`` as paid on the check date, and ``runner.compute`` — the
audit run's own finding step — runs the rules of ``verdicts.VERDICTS`` over the database as it then
is. A finding about a draft row's person, post and month (or, for a finding over a holding, a
month inside its span) is that row's; ``verdicts`` says what it means for the payment. Then the
transaction is rolled back: the check changes nothing (the pre-check is stored afterwards, apart,
by ``save``).

Three things make a payment not yet made look as the rules expect:

- The draft rows are told apart from the paid ones by ``seq`` (``DRAFT_SEQ`` + the row's number;
  ``seq`` only numbers identical rows, which two draft rows may be).
- A draft row that repeats a payment already made (same person, post, month, amount and account,
  not reversed) is written with that payment's date: PS07's definition (identical in every column)
  then sees the pair, as it would once both are paid. Two identical rows of the draft are a pair as
  they stand; the first of them is the payment, the copies are rejected.
- A month not over on the check date is judged on the days so far and the remaining working days
  (Monday to Friday after the check date, not after a recorded death): they are written as present
  days on the posts that keep attendance, and the rules judge as of the end of the latest month
  drafted (the payments still dated the check date). Only PS01, PS02 and PS05 read whether a month
  is over; with no month running this changes nothing.

A row whose person is not in 人员信息 or whose post is no registered code is a row error, as on
import: the draft is not judged.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from audit import logchain
from audit.engine.rule import rule_order, ym
from audit.engine.runner import compute, jsonable, posts_by_id
from audit.ledger.importer import RowError
from audit.ledger.values import name_key
from audit.pii import PiiCodec, mask_account, mask_id
from models import Attendance, Death, Person, Post, Precheck, PrecheckRow, Wage

from . import verdicts as V
from .reader import Draft, DraftRow

DRAFT_SEQ = 1_000_000_000  # wages.seq of a draft row: this plus its row number
ACTION = "precheck.create"


@dataclass
class RowVerdict:
    draft: DraftRow
    person_id: int
    post_id: int
    id_masked: str
    account_hash: str | None = None
    paid_on: dt.date | None = None  # as written into wages for the check
    verdict: str = V.PASS
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    allowed_fen: int = 0

    def judge(self, rule: str, reason: str, allowed: int) -> None:
        if rule in self.rules:
            return
        self.rules.append(rule)
        self.reasons.append(reason)
        verdict = V.VERDICTS[rule][0]
        if V.SEVERITY[verdict] > V.SEVERITY[self.verdict]:
            self.verdict = verdict
        self.allowed_fen = min(self.allowed_fen, allowed)


@dataclass
class CheckResult:
    name: str
    as_of: dt.date
    judged_as_of: dt.date | None = None  # the rules' date: the check date, or the end of a running month
    rows: list[RowVerdict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    townships: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": len(self.rows), "seconds": round(self.seconds, 3)}
        for verdict in (V.PASS, V.HOLD, V.REJECT):
            mine = [r for r in self.rows if r.verdict == verdict]
            out[verdict] = {"rows": len(mine), "amount_fen": sum(r.draft.amount_fen for r in mine),
                            "allowed_fen": sum(r.allowed_fen for r in mine)}
        return out

    @property
    def all_pass(self) -> bool:
        return all(r.verdict == V.PASS for r in self.rows)


def check(engine: Engine, draft: Draft, *, as_of: dt.date, pii: PiiCodec) -> CheckResult:
    """Judge ``draft``'s rows as paid on ``as_of``. Writes nothing (see the module's docstring);
    ``errors`` holds the rows that name no known person or post (then nothing is judged)."""
    started = time.perf_counter()
    result = CheckResult(draft.name, as_of, warnings=list(draft.warnings), errors=list(draft.errors))
    if result.errors:
        return result
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            rows = _resolve(conn, draft, pii, result)
            if result.errors:
                return result
            result.rows = rows
            _judge(conn, rows, as_of, result)
        finally:
            trans.rollback()
    result.seconds = time.perf_counter() - started
    return result


def _resolve(conn: Connection, draft: Draft, pii: PiiCodec, result: CheckResult) -> list[RowVerdict]:
    p, posts = Person.__table__, Post.__table__
    hashes = {r.id_number: pii.digest(r.id_number) for r in draft.rows}
    people: dict[str, int] = {}
    wanted = sorted(set(hashes.values()))
    for i in range(0, len(wanted), 5000):
        chunk = wanted[i:i + 5000]
        people.update(conn.execute(select(p.c.id_hash, p.c.id).where(p.c.id_hash.in_(chunk))).all())
    codes = dict(conn.execute(select(posts.c.code, posts.c.id)).all())
    out = []
    for r in draft.rows:
        person, post = people.get(hashes[r.id_number]), codes.get(r.post_code)
        if person is None:
            result.errors.append(RowError("wages", r.row, "身份证号", r.id_number,
                                          "此人不在人员信息表（persons）中", draft.origin or draft.name))
        if post is None:
            result.errors.append(RowError("wages", r.row, "岗位或车间编号", r.post_code,
                                          "既不是公益性岗位编号，也不是就业帮扶车间编号",
                                          draft.origin or draft.name))
        if person is not None and post is not None:
            out.append(RowVerdict(r, person, post, mask_id(r.id_number),
                                  pii.digest(r.account_number) if r.account_number else None,
                                  allowed_fen=r.amount_fen))
    return out


def _judge(conn: Connection, rows: list[RowVerdict], as_of: dt.date, result: CheckResult) -> None:
    """In the caller's transaction (rolled back by it): write the draft, run the rules, judge."""
    paid_before = _already_paid(conn, rows)
    w = Wage.__table__
    values = []
    for r in rows:
        d = r.draft
        r.paid_on = paid_before.get((r.person_id, r.post_id, d.period, d.amount_fen, r.account_hash), as_of)
        values.append({
            "person_id": r.person_id, "post_id": r.post_id, "period": d.period, "amount_fen": d.amount_fen,
            "paid_on": r.paid_on, "seq": DRAFT_SEQ + d.row, "account_hash": r.account_hash,
            "account_masked": mask_account(d.account_number) if d.account_number else None,
            "account_name": d.account_name,
            "account_name_key": name_key(d.account_name) if d.account_name else None,
            "batch": d.batch})
    for i in range(0, len(values), 5000):
        conn.execute(insert(w), values[i:i + 5000])
    judged_as_of = _project_running_months(conn, rows, as_of)
    result.judged_as_of = judged_as_of
    found = compute(conn, judged_as_of, set(V.RULES), rules=result.rules)
    try:
        _apply(found, rows, as_of)
    finally:
        found.ctx.drop_temporaries()
    for code, status in sorted(result.rules.items()):
        if status.get("status") != "ran" and not status.get("ran"):
            result.warnings.append(f"规则 {code} {status.get('reason', '未运行')}：本次校验未按此规则判断")
    posts = posts_by_id(conn)
    mine = [posts[i] for i in sorted({r.post_id for r in rows}) if i in posts]
    result.units = sorted({x["unit"] for x in mine if x["unit"]})
    result.districts = sorted({x["district"] for x in mine if x["district"]})
    result.townships = sorted({x["township"] for x in mine if x["township"]})


def _already_paid(conn: Connection, rows: list[RowVerdict]) -> dict[tuple, dt.date]:
    """(person, post, month, amount, account hash) -> the date of a payment already made with those
    (the earliest one not taken back by a reversal of the same size)."""
    w = Wage.__table__
    periods = sorted({r.draft.period for r in rows})
    people = {r.person_id for r in rows}
    seen: dict[tuple, list[dt.date]] = defaultdict(list)
    reversed_: dict[tuple, int] = defaultdict(int)
    q = (select(w.c.person_id, w.c.post_id, w.c.period, w.c.amount_fen, w.c.account_hash, w.c.paid_on)
         .where(w.c.period.in_(periods)).order_by(w.c.paid_on, w.c.id))
    for x in conn.execute(q):
        if x.person_id not in people:
            continue
        if x.amount_fen > 0:
            seen[(x.person_id, x.post_id, x.period, x.amount_fen, x.account_hash)].append(x.paid_on)
        else:
            reversed_[(x.person_id, x.post_id, x.period, -x.amount_fen)] += 1
    out = {}
    for key, dates in seen.items():
        left = dates[reversed_.get(key[:4], 0):]
        if left:
            out[key] = left[0]
    return out


def _project_running_months(conn: Connection, rows: list[RowVerdict], as_of: dt.date) -> dt.date:
    """The date the rules judge as of: ``as_of``, or the end of the latest month drafted if that
    month is not over on ``as_of``; then the working days after ``as_of`` of every drafted month
    not over are written as present days of its person on its post (posts that keep attendance
    only; none after a recorded death)."""
    running = {(r.person_id, r.post_id, r.draft.period) for r in rows if _month_end(r.draft.period) > as_of}
    if not running:
        return as_of
    a, p, d = Attendance.__table__, Person.__table__, Death.__table__
    post_ids = sorted({k[1] for k in running})
    keeps = {x for (x,) in conn.execute(select(a.c.post_id).where(a.c.post_id.in_(post_ids)).distinct())}
    person_ids = sorted({k[0] for k in running})
    died = dict(conn.execute(select(p.c.id, func.min(d.c.death_date)).join(d, d.c.id_hash == p.c.id_hash)
                             .where(p.c.id.in_(person_ids)).group_by(p.c.id)).all())
    first_after = as_of + dt.timedelta(days=1)
    recorded = set(conn.execute(select(a.c.person_id, a.c.post_id, a.c.work_date).where(
        a.c.person_id.in_(person_ids), a.c.work_date >= first_after)).all())
    values = []
    for person, post, month in sorted(running):
        if post not in keeps:
            continue
        day, end = max(first_after, month), _month_end(month)
        if person in died:
            end = min(end, died[person])
        while day <= end:
            if day.weekday() < 5 and (person, post, day) not in recorded:
                values.append({"person_id": person, "post_id": post, "work_month": month, "work_date": day,
                               "status": "出勤"})
            day += dt.timedelta(days=1)
    for i in range(0, len(values), 5000):
        conn.execute(insert(a), values[i:i + 5000])
    return max(as_of, max(_month_end(k[2]) for k in running))


def _month_end(month: dt.date) -> dt.date:
    nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


_ENDLESS = (dt.date(1900, 1, 1), dt.date(9999, 12, 31))


def _apply(found, rows: list[RowVerdict], as_of: dt.date) -> None:
    """Each finding of the rules to the draft rows it is about. Repeats (PS07) first: a month paid
    more than its wage due (PS02) only because a row repeats a payment is that row's fault, not
    the others' — their excess and allowed amounts are figured without the repeats."""
    by_key: dict[tuple[int, int], list[RowVerdict]] = defaultdict(list)
    for r in rows:
        by_key[(r.person_id, r.post_id)].append(r)
    spans: dict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for s in found.spans:
        spans[s["finding_id"]].append((_as_date(s["first"]), _as_date(s["last"])))
    findings = sorted(((fid, f) for fid, f in found.rows.items() if f["rule"] in V.VERDICTS),
                      key=lambda kv: (kv[1]["rule"] != "PS07", kv[1]["rule"], kv[0]))
    repeated: dict[tuple, int] = defaultdict(int)  # fen of repeated rows per person, post and month
    for fid, f in findings:
        mine = by_key.get((f["person_id"], f["post_id"]), [])
        if not mine:
            continue
        reason = f"{f['title']}：{f['explanation']}"
        if f["rule"] == "PS07":
            for r in _duplicates(f, mine, reason, as_of):
                repeated[(r.person_id, r.post_id, r.draft.period)] += r.draft.amount_fen
            continue
        if fid in spans:
            hit = [r for r in mine if any(a <= r.draft.period <= b for a, b in spans[fid])]
        elif f["periods"]:
            hit = [r for r in mine if ym(r.draft.period) in f["periods"]]
        else:
            hit = mine
        for r in hit:
            paid = _fen_of(f, "paid")
            other = 0 if paid is None else paid - r.draft.amount_fen
            if f["rule"] == "PS02" and (extra := repeated[(r.person_id, r.post_id, r.draft.period)]):
                if (_fen_of(f, "excess") or 0) - extra <= (_fen_of(f, "tolerance") or 0):
                    continue  # over the wage due only by the repeats
                if "PS07" not in r.rules:
                    other -= extra
            r.judge(f["rule"], reason, V.allowed(f["rule"], r.draft.amount_fen, f["evidence"], other))
    for r in rows:
        if r.verdict == V.PASS:
            r.allowed_fen = r.draft.amount_fen
        if len(r.rules) > 1:  # in the catalogue's order (rules.md)
            told = sorted(zip(r.rules, r.reasons, strict=False), key=lambda x: rule_order(x[0]))
            r.rules, r.reasons = [c for c, _ in told], [t for _, t in told]


def _fen_of(f: dict, key: str) -> int | None:
    value = f["evidence"].get(key) if isinstance(f["evidence"], dict) else None
    return V._fen(value) if value is not None else None


def _duplicates(f: dict, mine: list[RowVerdict], reason: str, as_of: dt.date) -> list[RowVerdict]:
    """PS07 over the draft rows of its person, post and month: a row dated to an earlier payment
    repeats that payment; of identical draft rows dated the check date, all but the first repeat it.
    Only payments the finding names (amount and date) count. The rows judged repeats."""
    named = {(V._fen(p["amount"]), str(p["paid_on"])) for p in f["evidence"].get("payments", [])}
    groups: dict[tuple, list[RowVerdict]] = defaultdict(list)
    for r in mine:
        if ym(r.draft.period) in f["periods"] and (r.draft.amount_fen, r.paid_on.isoformat()) in named:
            groups[(r.draft.period, r.draft.amount_fen, r.paid_on, r.account_hash)].append(r)
    out = []
    for (_, _, paid_on, _), group in groups.items():
        group.sort(key=lambda r: r.draft.row)
        if paid_on != as_of:
            for r in group:
                r.judge("PS07", f"{reason}（本行与 {paid_on} 已发放的一笔相同）", 0)
                out.append(r)
        else:
            for r in group[1:]:
                r.judge("PS07", f"{reason}（本行与本表第 {group[0].draft.row} 行相同）", 0)
                out.append(r)
    return out


def _as_date(x) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, str):
        return dt.date.fromisoformat(x[:10])
    return x


# ---- storing ------------------------------------------------------------------------------------

def save(engine: Engine, result: CheckResult, *, actor: str, log: dict[str, Any] | None = None) -> int:
    """Store the pre-check (status ``draft``) with its rows; logged (``precheck.create``). Its id."""
    pc, pr = Precheck.__table__, PrecheckRow.__table__
    summary = result.summary
    with engine.begin() as conn:
        pid = conn.execute(insert(pc).values(
            file_name=result.name[:255], as_of=result.as_of, units=result.units, districts=result.districts,
            townships=result.townships, periods=sorted({ym(r.draft.period) for r in result.rows}),
            created_by=actor, created_at=dt.datetime.now(), status="draft", rules=jsonable(result.rules),
            summary={**summary,
                     "judged_as_of": result.judged_as_of.isoformat() if result.judged_as_of else None})
            .returning(pc.c.id)).scalar_one()
        values = [{
            "precheck_id": pid, "row_no": r.draft.row, "person_id": r.person_id, "id_masked": r.id_masked,
            "post_id": r.post_id, "post_code": r.draft.post_code, "period": r.draft.period,
            "amount_fen": r.draft.amount_fen, "account_hash": r.account_hash,
            "account_masked": mask_account(r.draft.account_number) if r.draft.account_number else None,
            "account_name": r.draft.account_name, "batch": r.draft.batch, "verdict": r.verdict,
            "rules": r.rules, "reasons": r.reasons, "allowed_fen": r.allowed_fen} for r in result.rows]
        for i in range(0, len(values), 5000):
            conn.execute(insert(pr), values[i:i + 5000])
        logchain.append(conn, [{
            "actor": actor, "action": ACTION, "table_name": "prechecks", "row_id": pid,
            "row_ref": f"{result.name[:80]} {result.as_of.isoformat()}",
            "new": {**(log or {}), "file": result.name, "as_of": result.as_of.isoformat(),
                    "units": result.units,
                    "rows": summary["rows"], **{v: summary[v]["rows"] for v in (V.PASS, V.HOLD, V.REJECT)}}}])
    return pid


def stored_rows(conn: Connection, precheck_id: int) -> list[dict]:
    """The stored rows of a pre-check, in the file's order."""
    pr = PrecheckRow.__table__
    return [dict(x._mapping) for x in conn.execute(select(pr).where(pr.c.precheck_id == precheck_id)
                                                   .order_by(pr.c.row_no))]
