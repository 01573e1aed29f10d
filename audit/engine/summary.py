"""The findings' summary (models/summary.py): what the screens show, summed once by the audit run.

The audit run writes the summary in its own transaction (``build``, from ``runner._store``): counts
per region, unit, rule, category, status, first month and last run; money counted once
(audit/engine/money.py) per *basis*, the set of findings among which each payment's largest claim
is taken (``_bases``), found in one pass over the claims, payment by payment. A screen sums the rows
of its basis within the user's scope; it never ranks claims on a request.

Why a sum over a scope is exact: every claim on a payment comes from a finding on the same post
(``wage:<person>:<post>:…``, ``owed:…``, ``subsidy:<post>:…``) or from one finding (``finding:<id>``),
and a finding's unit and region are its post's. So the findings claiming one payment share one
(district, township, village, unit) — a *partition* — and leaving out other regions or units never
changes a payment's winner. ``build`` checks this (``summary_runs.exact``); where it does not hold
(a post moved to another region between runs, and old findings on it remain), the screens count live.

Status changes after the run (确认, 排除, 重新复核, 销号) keep the summary current: any flush that
changes a finding's status (or its region, rule …) rebuilds the summary rows of that finding's
partition in the same transaction (``_follow``), whatever service made the change. A partition is a
unit's findings: a few hundred rows at most, so a review stays quick.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from itertools import groupby

from sqlalchemy import Connection, and_, delete, event, func, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from audit.engine.rule import RULE_PREFIXES, VIOLATIONS
from models import ACTIVE_FINDING, Finding, FindingMoney, SummaryCount, SummaryMoney, SummaryRun

REGION = ("district", "township", "village", "unit")
# the finding columns whose change moves it in the summary
WATCHED = ("status", "rule", "category", "severity", "period_start", "last_run_id", "first_run_id", *REGION)


# the columns a claim is read with (``_money``), by position
_COLS = ("payment", "amount_fen", "id", "rule", "category", "status", "period_start", "last_run_id", *REGION)
_AT = {k: i for i, k in enumerate(_COLS)}


def _bases() -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """basis -> (the set of findings it ranks claims among — ``_sets`` —, the columns whose values
    rank apart — each value a set of its own, as a filter on that column would count it —, the columns
    it keeps besides the region and unit)."""
    return {
        # the dashboard: money by category and rule (待处理), the violations' money (headline, by
        # district, by unit), the violations by their first month
        "active": ("active", (), ("rule", "category")),
        "violations": ("violation", (), ()),
        "dated": ("dated", (), ("period_start",)),
        # a run's page: what the run saw, by category
        "run": ("run", (), ("category",)),
        # the findings list: its total for a status choice (待处理, every status, each status), for the
        # first two with a category or a rule too (one status and a category: few findings, counted live)
        "all": ("every", (), ()),
        "status": ("every", ("status",), ("status",)),
        "active:category": ("active", ("category",), ("category",)),
        "all:category": ("every", ("category",), ("category",)),
        "active:rule": ("active", ("rule",), ("rule", "category")),
        "all:rule": ("every", ("rule",), ("rule", "category")),
    }


def _sets(r: tuple, run_id: int) -> dict[str, bool]:
    """The sets of findings a claim's finding is in."""
    active = r[_AT["status"]] in ACTIVE_FINDING
    violation = active and r[_AT["category"]] in VIOLATIONS
    return {"every": True, "active": active, "violation": violation,
            "dated": violation and r[_AT["period_start"]] is not None, "run": r[_AT["last_run_id"]] == run_id}


def _in(cols, parts: Iterable[tuple] | None) -> list:
    """A row of one of ``parts`` ((district, township, village, unit)); [] for every row."""
    if parts is None:
        return []

    def eq(col, v):
        return col.is_(None) if v is None else col == v
    return [or_(*[and_(*[eq(cols[k], v) for k, v in zip(REGION, p, strict=False)]) for p in parts])]


def _rank(r: tuple) -> tuple:
    """The order of claims on one payment, largest first, as ``money._claims`` ranks them (ties: the
    rule first in the catalogue, then the rule, then the finding id)."""
    rule = r[_AT["rule"]]
    prefix = next((i for i, p in enumerate(RULE_PREFIXES) if rule.upper().startswith(p)), 99)
    return (-r[_AT["amount_fen"]], prefix, rule, r[_AT["id"]])


def _money(conn: Connection, run_id: int, parts: list[tuple] | None) -> tuple[list[dict], bool]:
    """The summary's money rows: the claims read once, payment by payment (streamed, in payment
    order), each basis taking the largest claim of its findings on each payment; and whether every
    payment's claims come from one partition (the sums by scope are exact)."""
    f, fm = Finding.__table__, FindingMoney.__table__
    q = (select(*[(fm.c if k in ("payment", "amount_fen") else f.c)[k] for k in _COLS])
         .join(f, f.c.id == fm.c.finding_id).where(*_in(f.c, parts)).order_by(fm.c.payment))
    bases = [(b, s, tuple(_AT[k] for k in apart), tuple(_AT[k] for k in keep))
             for b, (s, apart, keep) in _bases().items()]
    region = slice(_AT[REGION[0]], _AT[REGION[-1]] + 1)
    sums: dict[tuple, int] = defaultdict(int)
    exact = True
    rows = conn.execute(q.execution_options(yield_per=10_000))  # streamed (the option is the statement's)
    for _, group in groupby(rows, key=lambda r: r[0]):
        claims = [tuple(r) for r in group]
        if len(claims) > 1:
            claims.sort(key=_rank)
            if exact and len({r[region] for r in claims}) > 1:
                exact = False
        sets = [_sets(r, run_id) for r in claims]
        for basis, in_set, apart, keep in bases:
            taken = set()
            for r, s in zip(claims, sets, strict=False):
                if not s[in_set]:
                    continue
                if len(claims) > 1:
                    key = tuple(r[i] for i in apart)
                    if key in taken:
                        continue
                    taken.add(key)
                sums[(basis, r[region] + tuple(r[i] for i in keep))] += int(r[_AT["amount_fen"]])
    out = []
    names = {b: (*REGION, *keep) for b, (_, _, keep) in _bases().items()}
    for (basis, values), fen in sums.items():
        out.append({"basis": basis, "rule": None, "category": None, "status": None, "period_start": None,
                    **dict(zip(names[basis], values, strict=False)), "month": None, "owed": 0, "fen": fen})
    return out, exact


def _write(conn: Connection, run_id: int, parts: list[tuple] | None) -> bool:
    """The summary rows of ``parts`` (None: all) written anew; whether its sums are exact."""
    f, sc, sm = Finding.__table__, SummaryCount.__table__, SummaryMoney.__table__
    money, exact = _money(conn, run_id, parts)
    conn.execute(delete(sc).where(*_in(sc.c, parts)))
    conn.execute(delete(sm).where(*_in(sm.c, parts)))
    new = (f.c.first_run_id == f.c.last_run_id).label("new")
    keys = [*[f.c[k] for k in REGION], f.c.rule, f.c.category, f.c.severity, f.c.status, f.c.period_start,
            f.c.last_run_id]
    conn.execute(insert(sc).from_select(
        [*REGION, "rule", "category", "severity", "status", "period_start", "last_run_id", "new", "n"],
        select(*keys, new, func.count()).where(*_in(f.c, parts)).group_by(*keys, new)))
    for i in range(0, len(money), 5000):
        conn.execute(insert(sm), money[i:i + 5000])
    return exact


def build(conn: Connection, run_id: int) -> None:
    """The summary of every finding as ``run_id`` leaves them (in the run's transaction)."""
    sr = SummaryRun.__table__
    conn.execute(delete(sr))
    exact = _write(conn, run_id, None)
    conn.execute(insert(sr).values(run_id=run_id, built_at=dt.datetime.now(), exact=exact))


def refresh(conn: Connection, parts: set[tuple]) -> None:
    """The summary rows of these partitions ((district, township, village, unit)) rebuilt from the
    findings as they are now in this transaction."""
    run_id = conn.execute(select(SummaryRun.__table__.c.run_id)).scalar()
    if run_id is None or not parts:
        return
    ordered = sorted(parts, key=lambda part: tuple(x or "" for x in part))
    for i in range(0, len(ordered), 100):
        if not _write(conn, run_id, ordered[i:i + 100]):  # a finding moved to another region
            conn.execute(update(SummaryRun.__table__).values(exact=False))
    # ``built_at`` is the summary's stamp: figures kept from it (the dashboard's) are stale from now
    conn.execute(update(SummaryRun.__table__).values(built_at=dt.datetime.now()))


@event.listens_for(Session, "after_flush")
def _follow(session: Session, _ctx) -> None:
    """A flush that changed findings (their status, region …) rebuilds the summary of their partitions."""
    parts: set[tuple] = set()
    dirty = [o for o in session.dirty if isinstance(o, Finding)]
    changed = [o for o in [*session.new, *session.deleted] if isinstance(o, Finding)]
    for obj, is_dirty in [*[(o, False) for o in changed], *[(o, True) for o in dirty]]:
        state = inspect(obj)
        hist = {k: state.attrs[k].history for k in WATCHED}
        if is_dirty and not any(h.has_changes() for h in hist.values()):
            continue
        parts.add(tuple(getattr(obj, k) for k in REGION))
        # where it was before this flush (the first value deleted from the attribute), else where it is
        parts.add(tuple((list(hist[k].deleted) or [getattr(obj, k)])[0] for k in REGION))
    if parts:
        refresh(session.connection(), parts)


# ---- reading --------------------------------------------------------------------------------------

def current(conn) -> int | None:
    """The run of the summary when its sums are exact for any scope; None: count live."""
    found = stamp(conn)
    return found[0] if found is not None else None


def stamp(conn) -> tuple[int, dt.datetime] | None:
    """(run, when last written) of the summary when its sums are exact; None: count live. Every
    write of the summary (a run, a status change) gives a new stamp."""
    sr = SummaryRun.__table__
    row = conn.execute(select(sr.c.run_id, sr.c.built_at, sr.c.exact)).first()
    return (row.run_id, row.built_at) if row is not None and row.exact else None
