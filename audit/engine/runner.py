"""``audit run``: every rule over all data as of a date; findings stored with stable ids.

- The same facts give the same id: a re-run duplicates nothing.
- A finding whose facts are gone is marked resolved by data (``resolved``); it reopens if they
  come back.
- A dismissed finding stays dismissed unless its facts change (its ``facts_hash``).
- A rule whose data is missing is recorded as not run ("未运行：缺少 X 表"), never as "no findings";
  its earlier findings are left as they were.
- A run as of a date earlier than the latest finished run's is refused (``EarlierAsOfError``): it
  would rewrite today's states with an older view. What the rules found on an earlier date is a
  replay (audit/replay/services.py), which stores nothing here.

``compute`` finds (the rules, their findings' rows and the payments they claim) and stores
nothing; ``run_audit`` stores what it found as the current findings, a replay stores it apart.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from audit import logchain
from audit.database import HOST, process_alive
from models import AuditRun, Finding, FindingMoney, Person, Position, Post, Workshop, unit_key
from models.enums import ACTIVE_FINDING, FindingStatus

from . import coverage
from .context import RunContext, _table
from .rule import CATEGORIES, Draft, Rule, all_rules, ym

TABLE_NAMES = {
    "persons": "人员信息", "positions": "公益性岗位", "placements": "安置台账", "workshops": "就业帮扶车间",
    "workshop_staff": "车间用工花名册", "attendance": "考勤记录", "wages": "工资发放", "reports": "上报数据",
    "deaths": "死亡人员", "social_insurance": "社保缴费", "pensions": "养老金领取", "businesses": "工商登记",
    "officials": "干部名单", "migrant_work": "外出务工", "prechecks": "发放前校验",
}
# Tables whose absence means a rule does not apply rather than that data is missing: a county that
# does not pre-check its payrolls has nothing for the pre-payment control rules (PC01, PC02) to
# judge, and no dashboard should warn that they could not run.
NOT_APPLICABLE = {"prechecks": "不适用：尚无发放前校验"}


@dataclass
class RunResult:
    run_id: int
    as_of: dt.date
    by_category: Counter = field(default_factory=Counter)
    amount_by_category: Counter = field(default_factory=Counter)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    new: int = 0
    reopened: int = 0
    resolved: int = 0
    total: int = 0
    seconds: float = 0.0
    aggregates: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)  # audit/engine/coverage.py


class EarlierAsOfError(ValueError):
    """A run as of a date earlier than the latest finished run's; the message is for the user."""


def latest_run(conn: Connection):
    """The latest finished audit run (``id``, ``as_of``), or None."""
    runs = AuditRun.__table__
    return conn.execute(select(runs.c.id, runs.c.as_of).where(runs.c.status == "finished")
                        .order_by(runs.c.id.desc()).limit(1)).first()


def refuse_earlier(conn: Connection, as_of: dt.date) -> None:
    """Raise ``EarlierAsOfError`` when ``as_of`` is before the latest finished run's as-of date: the
    run would turn today's findings into what an older date shows (a month paid since would be
    found unpaid again, a finding of a later month resolved). A replay shows that date instead."""
    latest = latest_run(conn)
    if latest is not None and as_of < latest.as_of:
        raise EarlierAsOfError(
            f"基准日 {as_of} 早于最近一次审计运行（第 {latest.id} 次）的基准日 {latest.as_of}："
            f"按较早的日期运行会改写当前审计发现的状态，本次未运行。要查看当时的审计结果，请用回放（不改动当前的审计发现）："
            f"audit run --as-of {as_of} --replay，或网页「审计回放」。")


def run_audit(engine: Engine, *, as_of: dt.date, actor: str, only: set[str] | None = None,
              log: dict[str, Any] | None = None) -> RunResult:
    """Run the rules and store their findings. The run is logged (``audit.run``, with ``log``'s
    extra fields, such as the address of the web request that started it), failed runs too. A
    date earlier than the latest finished run's is refused (``EarlierAsOfError``), nothing written."""
    started = dt.datetime.now()
    t0 = time.perf_counter()
    runs = AuditRun.__table__
    with engine.begin() as conn:
        refuse_earlier(conn, as_of)
        run_id = conn.execute(insert(runs).values(started_at=started, as_of=as_of, actor=actor,
                                                  status="running", rules={}, summary={}, host=HOST,
                                                  pid=os.getpid())
                              .returning(runs.c.id)).scalar_one()
    result = RunResult(run_id, as_of)
    try:
        with engine.connect() as conn, conn.begin():
            found = compute(conn, as_of, only, rules=result.rules)
            result.coverage = coverage.compute(conn, as_of,
                                               attendance_month=found.ctx.built("attendance_month"))
            result.aggregates = dict(found.aggregates)
            _store(conn, run_id, found, result)
            found.ctx.drop_temporaries()
        status = "finished"
    except Exception:
        status = "failed"
        raise
    finally:
        result.seconds = time.perf_counter() - t0
        with engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                finished_at=dt.datetime.now(), status=status, rules=result.rules,
                summary={"new": result.new, "reopened": result.reopened, "resolved": result.resolved,
                         "total": result.total, "by_category": dict(result.by_category),
                         "amount_by_category_fen": dict(result.amount_by_category),
                         "shared_aggregates_seconds": {k: round(v, 3) for k, v in result.aggregates.items()},
                         "seconds": round(result.seconds, 3), "coverage": result.coverage}))
            logchain.append(conn, [{
                "actor": actor, "action": "audit.run", "table_name": "audit_runs", "row_id": run_id,
                "row_ref": as_of.isoformat(),
                "new": {**(log or {}), "status": status, "rules": sorted(only) if only else "all",
                        "total": result.total, "new": result.new, "resolved": result.resolved}}])
    return result


DEAD_RUN_REASON = ("审计运行中断：运行它的进程已停止（服务器重启或进程被终止），本次运行的结果未保存。"
                   "请重新运行审计。")
DEAD_RUN_AFTER = dt.timedelta(hours=6)  # a run of another host (or of no recorded pid) older than this


def mark_dead_runs(engine: Engine, *, now: dt.datetime | None = None,
                   stale_after: dt.timedelta = DEAD_RUN_AFTER) -> list[int]:
    """Runs left "running" by a process that is gone (this host: its pid is not alive; else: started
    longer ago than ``stale_after``) marked failed, with the reason in their summary and the audit
    log; the ids marked. Its findings were never stored: the run's transaction died with it."""
    now = now or dt.datetime.now()
    runs = AuditRun.__table__
    with engine.connect() as conn:
        running = conn.execute(select(runs.c.id, runs.c.as_of, runs.c.host, runs.c.pid, runs.c.started_at,
                                      runs.c.summary).where(runs.c.status == "running")).all()
    marked = []
    for run in running:
        alive = process_alive(run.host, run.pid)
        if alive or (alive is None and run.started_at > now - stale_after):
            continue
        with engine.begin() as conn:
            done = conn.execute(update(runs).where(runs.c.id == run.id, runs.c.status == "running").values(
                status="failed", finished_at=now,
                summary={**(run.summary or {}), "error": DEAD_RUN_REASON})).rowcount
            if done:
                logchain.append(conn, [{
                    "actor": "system", "action": "audit.run", "table_name": "audit_runs", "row_id": run.id,
                    "row_ref": run.as_of.isoformat() if run.as_of else None,
                    "new": {"status": "failed", "error": DEAD_RUN_REASON, "total": 0, "new": 0,
                            "resolved": 0}}])
                marked.append(run.id)
    return marked


# ---- finding: the rules as of a date, nothing stored ---------------------------------------------------

@dataclass
class Computed:
    """What the rules find as of a date: each rule's status, the findings' rows (by id, as
    ``findings`` stores them but for their state), the payments they claim. ``ctx`` keeps the run's
    temporary aggregates (the span claims are read from its wages per month) until
    ``ctx.drop_temporaries()``."""

    as_of: dt.date
    ctx: RunContext
    rules: dict[str, dict[str, Any]]
    rows: dict[str, dict]
    money: list[dict]
    spans: list[dict]
    by_category: Counter
    aggregates: dict[str, float]

    @property
    def ran(self) -> set[str]:
        return {code for code, s in self.rules.items() if s["status"] == "ran" or s.get("ran")}


def compute(conn: Connection, as_of: dt.date, only: set[str] | None = None, *,
            rules: dict[str, dict[str, Any]] | None = None) -> Computed:
    """Run the rules (``only`` these codes, if given) as of ``as_of`` on ``conn`` and turn their
    drafts into finding rows and payment claims; nothing is written but the temporary aggregates.
    ``rules`` (filled as each rule is done) receives the rules' statuses."""
    rules = {} if rules is None else rules
    ctx = RunContext(conn, as_of)
    drafts: list[tuple[Rule, Draft]] = []
    for rule in all_rules():
        if only and rule.code not in only:
            continue
        missing = [t for t in rule.requires if not ctx.has(t)]
        if missing and set(missing) <= set(NOT_APPLICABLE):
            rules[rule.code] = {"status": "not_applicable", "reason": NOT_APPLICABLE[missing[0]]}
            continue
        if missing:
            names = "、".join(f"{TABLE_NAMES.get(t, t)}({t})" for t in missing)
            rules[rule.code] = {"status": "not_run", "reason": f"未运行：缺少 {names} 表"}
            continue
        lacking = coverage.lacking_columns(ctx, rule)  # optional columns with no value anywhere
        if lacking and not lacking["ran"]:
            rules[rule.code] = lacking  # 未完整运行, not run: its earlier findings stay as they are
            continue
        ctx.rule = rule
        started_rule = time.perf_counter()
        shared_before = sum(ctx.aggregate_seconds.values())
        rows = conn.execute(rule.query(ctx)).mappings().all()
        made = list(rule.combine(rows, ctx)) if rule.combine else [rule.describe(row, ctx) for row in rows]
        drafts.extend((rule, draft) for draft in made)
        rules[rule.code] = {
            "status": "ran", "findings": len(made),
            # the rule's own time: building a shared aggregate it happened to need first is not its cost
            "seconds": round(time.perf_counter() - started_rule
                             - (sum(ctx.aggregate_seconds.values()) - shared_before), 3),
            "rows_scanned": sum(_rows(conn, t, ctx) for t in rule.requires),
            "params": jsonable(ctx.used_params.get(rule.code, {})),
        }
        rules[rule.code].update(lacking or {})
    people = _people(conn, {person_id for _, draft in drafts
                            for person_id in ([draft.person_id] + (draft.person_ids or [])) if person_id})
    posts = posts_by_id(conn)
    found: dict[str, dict] = {}
    money: list[dict] = []
    spans: list[dict] = []
    by_category: Counter = Counter()
    for rule, draft in drafts:
        if (rule.public_posts_only and draft.post_id is not None
                and posts[draft.post_id]["kind"] != "position"):
            # a rule of public posts judges positions only (workshops are market employment): its
            # query already joins positions or placements; the engine holds every such rule to it
            continue
        row = _finding_row(rule, draft, people, posts)
        if row["id"] in found:  # two rows of one rule with the same facts: keep one finding
            continue
        found[row["id"]] = row
        by_category[rule.category] += 1
        _claims(rule, draft, row["id"], money, spans)
    return Computed(as_of, ctx, rules, found, money, spans, by_category, dict(ctx.aggregate_seconds))


def _rows(conn: Connection, table: str, ctx: RunContext) -> int:
    cache = ctx.__dict__.setdefault("_row_counts", {})
    if table not in cache:
        cache[table] = conn.execute(select(func.count()).select_from(_table(table))).scalar_one()
    return cache[table]


# ---- storing findings --------------------------------------------------------------------------

def _store(conn: Connection, run_id: int, found: Computed, result: RunResult) -> None:
    """``found`` as the current findings: new ones open, known ones kept in their state (see the
    module's docstring), the ones no longer found resolved; their payment claims replaced."""
    now = dt.datetime.now()
    rows, ran = found.rows, found.ran
    result.by_category.update(found.by_category)
    result.total = len(rows)

    f = Finding.__table__
    existing = {r.id: r for r in conn.execute(select(f.c.id, f.c.status, f.c.facts_hash, f.c.rule)
                                              .where(f.c.rule.in_(ran)))} if ran else {}
    new, seen = [], []
    for fid, row in rows.items():
        old = existing.get(fid)
        if old is None:
            new.append({**row, "status": FindingStatus.OPEN, "first_run_id": run_id, "last_run_id": run_id,
                        "first_seen_at": now, "last_seen_at": now})
            continue
        status = old.status
        if status == FindingStatus.RESOLVED:
            status, result.reopened = FindingStatus.OPEN, result.reopened + 1
        elif status == FindingStatus.DISMISSED and old.facts_hash != row["facts_hash"]:
            status, result.reopened = FindingStatus.OPEN, result.reopened + 1  # its facts changed: look again
        seen.append({**{f"v_{k}": v for k, v in row.items() if k != "id"}, "b_id": fid, "v_status": status,
                     "v_last_run_id": run_id, "v_last_seen_at": now, "v_resolved_at": None})
    if new:
        conn.execute(insert(f), new)
    if seen:
        cols = [k[2:] for k in seen[0] if k.startswith("v_")]
        conn.execute(update(f).where(f.c.id == bindparam("b_id"))
                     .values({c: bindparam(f"v_{c}") for c in cols}), seen)
    gone = [fid for fid, r in existing.items() if fid not in rows and r.status in ACTIVE_FINDING]
    if gone:
        conn.execute(update(f).where(f.c.id == bindparam("b_id"))
                     .values(status=FindingStatus.RESOLVED, resolved_at=now, last_run_id=run_id),
                     [{"b_id": fid} for fid in gone])
    # a closed (销号) finding stays closed; that its facts are gone is noted for the notice's data check
    closed_gone = [fid for fid, r in existing.items() if fid not in rows and r.status == FindingStatus.CLOSED]
    if closed_gone:
        conn.execute(update(f).where(f.c.id == bindparam("b_id"), f.c.resolved_at.is_(None))
                     .values(resolved_at=now), [{"b_id": fid} for fid in closed_gone])
    result.new, result.resolved = len(new), len(gone)
    _store_money(conn, found.ctx, list(rows), found.money, found.spans)
    # a run's money by category counts every payment once (the largest claim on it, in its category)
    from audit.engine.money import money_by

    f = Finding.__table__
    result.amount_by_category.update(dict(money_by(conn, f.c.last_run_id == run_id,
                                                   f.c.status != FindingStatus.DISMISSED,
                                                   group=f.c.category)))
    # what the screens show, summed once here (audit/engine/summary.py)
    from audit.engine import summary

    summary.build(conn, run_id)


# ---- the payments a finding's money comes from -------------------------------------------------------

_ENDLESS = (dt.date(1900, 1, 1), dt.date(9999, 12, 31))


def _claims(rule: Rule, draft: Draft, fid: str, money: list[dict], spans: list[dict]) -> None:
    """What a finding claims of which payment (see ``Draft.spans`` and audit/engine/money.py)."""
    if not draft.amount_fen:
        return
    if draft.spans is not None and draft.person_id and draft.post_id:
        for first, last in draft.spans:
            spans.append({"finding_id": fid, "person_id": draft.person_id, "post_id": draft.post_id,
                          "first": first or _ENDLESS[0], "last": last or _ENDLESS[1]})
        return
    months = sorted({_month(day) for day in draft.periods})
    month = months[0] if len(months) == 1 and draft.post_id else None
    if month is None:
        key = f"finding:{fid}"
    elif draft.person_id:
        kind = "owed" if rule.category == "wage_arrears" else "wage"
        key = f"{kind}:{draft.person_id}:{draft.post_id}:{month.isoformat()}"
    else:
        key = f"subsidy:{draft.post_id}:{month.isoformat()}"
    money.append({"finding_id": fid, "payment": key, "month": month, "amount_fen": int(draft.amount_fen)})


def _month(day: dt.date | str) -> dt.date:
    day = dt.date.fromisoformat(day[:10]) if isinstance(day, str) else day
    return day.replace(day=1)


def _store_money(conn: Connection, ctx: RunContext, found: list[str], money: list[dict],
                 spans: list[dict]) -> None:
    """Replace the payment claims of the findings this run found (claims of findings no longer found
    stay: a notice that holds them still owes what they claimed)."""
    fm = FindingMoney.__table__
    for i in range(0, len(found), 5000):
        conn.execute(delete(fm).where(fm.c.finding_id.in_(found[i:i + 5000])))
    write_claims(conn, ctx, fm, money, spans)


def write_claims(conn: Connection, ctx: RunContext, target: Table, money: list[dict], spans: list[dict],
                 **extra: Any) -> None:
    """Insert the claims ``compute`` made into ``target`` (``finding_money`` or a table of its columns
    and ``extra``'s, each row with ``extra``'s values). Span claims become one claim per month paid,
    in one INSERT … SELECT over the run's wages per month."""
    if money:
        conn.execute(insert(target), [{**claim, **extra} for claim in money])
    if spans:
        span = Table("run_money_spans", MetaData(), Column("finding_id", String(32)),
                     Column("person_id", Integer), Column("post_id", Integer), Column("first", Date),
                     Column("last", Date), prefixes=["TEMPORARY"])
        conn.exec_driver_sql("DROP TABLE IF EXISTS run_money_spans")
        span.create(conn)
        conn.execute(insert(span), spans)
        paid_month = ctx.wage_month
        key = (literal("wage:") + cast(paid_month.c.person_id, String) + literal(":")
               + cast(paid_month.c.post_id, String) + literal(":") + cast(paid_month.c.period, String))
        monthly = (select(*[literal(value).label(name) for name, value in extra.items()], span.c.finding_id,
                          key.label("payment"), paid_month.c.period, func.max(paid_month.c.paid_fen))
                   .select_from(span)
                   .join(paid_month, and_(paid_month.c.person_id == span.c.person_id,
                                          paid_month.c.post_id == span.c.post_id,
                                          paid_month.c.period >= span.c.first,
                                          paid_month.c.period <= span.c.last))
                   .where(paid_month.c.paid_fen > 0)
                   .group_by(span.c.finding_id, paid_month.c.person_id, paid_month.c.post_id,
                             paid_month.c.period))
        conn.execute(insert(target).from_select([*extra, "finding_id", "payment", "month", "amount_fen"],
                                                monthly))
        conn.exec_driver_sql("DROP TABLE run_money_spans")


def _finding_row(rule: Rule, draft: Draft, people: dict, posts: dict) -> dict:
    if draft.amount_fen is not None:
        draft.amount_fen = int(draft.amount_fen)
    person = people.get(draft.person_id) if draft.person_id else None
    post = posts.get(draft.post_id) if draft.post_id else None
    periods = sorted({ym(day) for day in draft.periods})
    if rule.subject_type == "person":
        if person is None:
            raise ValueError(f"{rule.code}: a finding on a person names no person")
        identity, label = person["id_hash"], person["id_masked"]
    else:
        identity, label = draft.subject_key, draft.subject_label or draft.subject_key
    fid = finding_id(rule.code, rule.subject_type, identity, post["code"] if post else "", periods)
    evidence = jsonable(draft.evidence)
    where = post or person or {}
    person_ids = (draft.person_ids if draft.person_ids is not None
                  else ([draft.person_id] if draft.person_id else []))
    return {
        "id": fid, "rule": rule.code, "category": rule.category, "severity": rule.severity,
        "subject_type": rule.subject_type, "subject_label": label, "person_id": draft.person_id,
        "person_ids": sorted(set(person_ids)), "post_id": draft.post_id, "periods": periods,
        "period_start": min(draft.periods) if draft.periods else None, "amount_at_risk_fen": draft.amount_fen,
        "title": rule.title, "explanation": draft.explanation, "evidence": evidence, "basis": rule.basis,
        "unit": post["unit"] if post else None, "district": where.get("district"),
        "township": where.get("township"), "village": where.get("village"),
        "facts_hash": _digest(json.dumps([evidence, draft.amount_fen, sorted(set(person_ids))],
                                         sort_keys=True, ensure_ascii=False)),
    }


def _people(conn: Connection, ids: set[int]) -> dict[int, dict]:
    persons = Person.__table__
    out: dict[int, dict] = {}
    ids_list = sorted(ids)
    for i in range(0, len(ids_list), 5000):
        chunk = (select(persons.c.id, persons.c.id_hash, persons.c.id_masked, persons.c.name,
                        persons.c.district, persons.c.township, persons.c.village)
                 .where(persons.c.id.in_(ids_list[i:i + 5000])))
        out.update({row.id: row._asdict() for row in conn.execute(chunk)})
    return out


def posts_by_id(conn: Connection) -> dict[int, dict]:
    """Every post with its unit (a position's employing unit by ``models.unit_key``, a workshop's code) and
    region (the run's subjects; the precheck's, too, so that its findings name the same units)."""
    posts, pos, ws = Post.__table__, Position.__table__, Workshop.__table__
    out = {}
    for r in conn.execute(select(posts.c.id, posts.c.code, posts.c.kind, pos.c.employer, pos.c.district,
                                 pos.c.township, pos.c.village).join(pos, pos.c.id == posts.c.id)):
        out[r.id] = {"code": r.code, "kind": r.kind, "unit": unit_key(r.district, r.township, r.employer),
                     "district": r.district,
                     "township": r.township, "village": r.village}
    for r in conn.execute(select(posts.c.id, posts.c.code, posts.c.kind, ws.c.district, ws.c.township,
                                 ws.c.village).join(ws, ws.c.id == posts.c.id)):
        out[r.id] = {"code": r.code, "kind": r.kind, "unit": r.code, "district": r.district,
                     "township": r.township, "village": r.village}
    return out


def finding_id(rule: str, subject_type: str, identity: str, post_code: str, periods: list[str]) -> str:
    """The stable id of a finding: the same facts give the same id on every run. ``identity`` is a
    person's keyed ID hash, or the subject's code; rotating the key renames person findings
    (audit/keys/services.py keeps their former ids)."""
    return _digest(f"{rule}|{subject_type}|{identity}|{post_code}|{','.join(periods)}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def jsonable(value):
    """``value`` as a JSON column stores it (dates ISO, decimals as text, keys as text): the run's and
    the precheck's evidence and parameters."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def category_summary(result: RunResult) -> list[tuple[str, str, int, int]]:
    """(category, Chinese name, findings, amount in fen) for every category, violations first."""
    return [(category, zh, result.by_category.get(category, 0), result.amount_by_category.get(category, 0))
            for category, zh in CATEGORIES.items()]
