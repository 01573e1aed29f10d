"""A replay: every rule as of an earlier date, with the data dated up to it and the parameters in
force on it, stored apart (``replay_runs``, ``replay_findings``, ``replay_money``) and exported.

It writes nothing the current findings are made of: no ``findings`` row, state, money claim or
history entry, no ``audit_runs`` row (so no page that reads the latest run sees it), no notice. What
the rules see is what the database holds now of the days up to the date (attendance worked and
wages paid by then: ``RunContext``), with the parameter overrides in force on that date.

Each replay is logged (``audit.replay``), each export of one too (``replay.export``). Replays older
than ``JOB_RETENTION_DAYS`` (30) are removed when a new one is made.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from audit import logchain
from audit.engine.export import HEADERS, csv_rows, finding_records, text_row, xlsx_rows
from audit.engine.runner import compute, write_claims
from audit.money import yuan
from audit.pii import PiiCodec
from audit.transaction import unit_of_work
from models import Finding, ReplayFinding, ReplayMoney, ReplayRun, db

from . import queries

ACTION, EXPORT_ACTION = "audit.replay", "replay.export"
JOB_KIND = "audit.replay"
KEEP_DAYS = 30
NOT_CURRENT = "当前无此发现"  # a replayed finding the current findings do not hold (under its id)
NOTE = ("按基准日当天的数据（截至该日的考勤与发放）和当日有效的规则参数重新计算；"
        "不改动当前的审计发现及其状态。"
        "「当前状态」是同一问题在当前审计发现中的状态。")


class ReplayError(ValueError):
    """A replay refused; the message is for the user."""


@dataclass
class ReplayResult:
    """What ``replay`` found (the fields ``runner.category_summary`` reads, as a run's)."""

    replay_id: int
    as_of: dt.date
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_category: Counter = field(default_factory=Counter)
    amount_by_category: Counter = field(default_factory=Counter)
    total: int = 0
    seconds: float = 0.0


def replay(engine: Engine, *, as_of: dt.date, actor: str, only: set[str] | None = None,
           log: dict[str, Any] | None = None, keep_days: int | None = KEEP_DAYS) -> ReplayResult:
    """Run the rules (``only`` these) as of ``as_of`` and store what they found as a replay, in one
    transaction once they are done. Logged (``audit.replay``, with ``log``'s extra fields), a failed
    replay too."""
    started, t0 = dt.datetime.now(), time.perf_counter()
    result = ReplayResult(0, as_of)
    status = "failed"
    try:
        with engine.connect() as conn, conn.begin():
            found = compute(conn, as_of, only, rules=result.rules)
            runs = ReplayRun.__table__
            values = {"started_at": started, "as_of": as_of, "actor": actor, "rules": result.rules,
                      "summary": {}}
            rid = conn.execute(insert(runs).values(values).returning(runs.c.id)).scalar_one()
            rows = [{**row, "replay_id": rid} for row in found.rows.values()]
            for i in range(0, len(rows), 5000):
                conn.execute(insert(ReplayFinding.__table__), rows[i:i + 5000])
            write_claims(conn, found.ctx, ReplayMoney.__table__, found.money, found.spans, replay_id=rid)
            found.ctx.drop_temporaries()
            result.replay_id, result.total = rid, len(rows)
            result.by_category.update(found.by_category)
            result.amount_by_category.update(queries.money_by(conn, rid, group="category"))
            result.seconds = time.perf_counter() - t0
            conn.execute(update(runs).where(runs.c.id == rid).values(finished_at=dt.datetime.now(), summary={
                "total": result.total, "by_category": dict(result.by_category),
                "amount_by_category_fen": dict(result.amount_by_category),
                "seconds": round(result.seconds, 3)}))
            if keep_days:
                prune(conn, started - dt.timedelta(days=keep_days))
        status = "finished"
    finally:
        result.seconds = time.perf_counter() - t0
        with engine.begin() as conn:
            logchain.append(conn, [{
                "actor": actor, "action": ACTION, "table_name": "replay_runs",
                "row_id": result.replay_id or None,
                "row_ref": as_of.isoformat(),
                "new": {**(log or {}), "status": status, "rules": sorted(only) if only else "all",
                        "total": result.total}}])
    return result


def prune(conn: Connection, before: dt.datetime) -> int:
    """Remove the replays made before ``before``; how many."""
    runs = ReplayRun.__table__
    old = [r for (r,) in conn.execute(select(runs.c.id).where(runs.c.started_at < before))]
    for i in range(0, len(old), 1000):
        chunk = old[i:i + 1000]
        conn.execute(delete(ReplayMoney.__table__).where(ReplayMoney.__table__.c.replay_id.in_(chunk)))
        conn.execute(delete(ReplayFinding.__table__).where(ReplayFinding.__table__.c.replay_id.in_(chunk)))
        conn.execute(delete(runs).where(runs.c.id.in_(chunk)))
    return len(old)


def keep_days(config) -> int:
    """How long replays are kept: ``JOB_RETENTION_DAYS`` (as the web's finished jobs), default 30."""
    value = config.get("JOB_RETENTION_DAYS") or os.environ.get("JOB_RETENTION_DAYS")
    try:
        return int(value) if value not in (None, "") else KEEP_DAYS
    except ValueError:
        return KEEP_DAYS


# ---- exports ----------------------------------------------------------------------------------------

def source(replay_id: int):
    """The replay's findings with the columns of ``findings``: ``status`` is the same finding's
    current state (None when the current findings do not hold it)."""
    rf, f = ReplayFinding.__table__, Finding.__table__
    return (select(*[c for c in rf.c if c.key != "replay_id"], f.c.status.label("status"))
            .select_from(rf.outerjoin(f, f.c.id == rf.c.id)).where(rf.c.replay_id == replay_id)
            .subquery("replayed"))


@unit_of_work
def export_in_session(replay_id: int, fmt: str, **options: Any) -> int:
    """``export`` on the application session's connection (the web's download), one unit of work:
    its log entry is committed with it."""
    return export(db.session.connection(), replay_id, fmt, **options)


def export(conn: Connection, replay_id: int, fmt: str, *, pii: PiiCodec, actor: str,
           output: str | None = None, stream: IO[str] | None = None, where: Callable | None = None,
           reader=None, log: dict[str, Any] | None = None) -> int:
    """Write the replay's findings: JSON Lines (full ID numbers, for authorised machine use) or CSV /
    XLSX for people (masked), in the columns of ``audit findings``'s export, 状态 being the current
    state; logged (``replay.export``). ``where(table)``: clauses narrowing the findings of a table with
    their columns (a user's scope, ``queries.in_scope``); ``reader`` as for ``audit.engine.export``."""
    run = conn.execute(select(ReplayRun.__table__).where(ReplayRun.__table__.c.id == replay_id)).one()
    src = source(replay_id)
    clauses = where(src) if where else []
    records = finding_records(conn, pii if fmt == "jsonl" else None, None, clauses, reader, table=src)
    headers = [("当前状态" if key == "status" else zh) for key, zh in HEADERS]
    rows = (text_row({**rec, "status": rec["status"] or NOT_CURRENT}) for rec in records)
    if fmt == "xlsx":
        if not output:
            raise ValueError("xlsx 格式需要用 --output 指定文件")
        rf = ReplayFinding.__table__
        notes = _notes(conn, run, where(rf) if where else [])
        n = xlsx_rows(output, rows, headers, sheet="回放发现", notes=notes)
    elif fmt in ("jsonl", "csv"):
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        target = open(output, "w", encoding=encoding, newline="") if output else stream  # noqa: SIM115 - closed below
        try:
            n = _jsonl(target, records, run) if fmt == "jsonl" else csv_rows(target, rows, headers)
        finally:
            if output:
                target.close()
    else:
        raise ValueError(f"unknown format {fmt}")
    logchain.append(conn, [{
        "at": dt.datetime.now(), "actor": actor, "action": EXPORT_ACTION, "table_name": "replay_runs",
        "row_id": replay_id, "row_ref": run.as_of.isoformat(),
        "new": {**(log or {}), "format": fmt, "findings": n, "full_identifiers": fmt == "jsonl",
                "output": output.rsplit("/", 1)[-1] if output else "stdout"}}])
    return n


def _jsonl(out: IO[str], records, run) -> int:
    """One finding a line, as ``audit findings`` writes them, with the replay's date and number."""
    n = 0
    for rec in records:
        rec.pop("_amount_fen")
        rec["as_of"], rec["replay"] = run.as_of.isoformat(), run.id
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n


def _notes(conn: Connection, run, where: list) -> list[list[str]]:
    """The 说明 sheet: the date, when and by whom, what a replay is, and the totals per category
    (of the findings exported: the same narrowing), each payment counted once."""
    lines = [["审计回放"], ["审计基准日", run.as_of.isoformat()],
             ["回放时间", run.started_at.strftime("%Y-%m-%d %H:%M")], ["回放人", run.actor],
             ["说明", NOTE], [],
             ["类别", "条数", "涉及金额(元)"]]
    cats = queries.by_category(conn, run.id, *where)
    for c in cats:
        lines.append([c["name"] + ("" if c["violation"] else "（提示，不计入违规）"), str(c["count"]),
                      yuan(c["amount_fen"]) if c["amount_fen"] else "—"])
    lines.append(["违规合计", str(sum(c["count"] for c in cats if c["violation"])),
                  yuan(sum(c["amount_fen"] for c in cats if c["violation"]))])
    lines.append(["（金额按每笔发放只计一次：同一笔发放被多条规则发现的，计入金额最大的那一类。）"])
    return lines
