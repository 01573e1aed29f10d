"""发放前预警 (payday warnings, issue 17): from the N-th day of a month (``PAYDAY_WARNING_DAY``,
default 20), which persons' pay this month would be held or rejected on the data so far, per unit.

How: the month's **expected payroll** is judged exactly as a draft payroll is (services.py: written
into ``wages`` as paid on the day in a transaction always rolled back, the pre-check's own rules
run over it, a month not over judged on the days so far and the remaining working days). The
expected payroll of a month, per person and post not yet paid for it:

- every placement on a public post that shares a day with the month, at the post's monthly wage;
- every workshop roster row that shares a day with the month and states a monthly wage, at it;
- every person and post paid for the month before (a unit's payroll is last month's list), at
  the post's or roster's wage, else at what was paid then: a person whose placement ended, or who
  died, is still on the list the unit would copy, and is what the warning is for.

No account is expected (the account rules, IM03 and IM04, cannot judge a payment not drafted).
The rows held or rejected are stored in ``payday_warnings`` (the month's earlier rows replaced);
each unit whose warned persons changed gets an entry in the audit log (``precheck.warning``),
the notification list the admin's log page and the unit's auditors read; the dashboards show the
latest month's warnings of the user's units or regions.
"""
from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select

from audit import logchain
from audit.engine.runner import posts_by_id
from audit.findings.queries import post_label, unit_names
from models import PaydayWarning, Person, Placement, Position, Post, Wage, Workshop, WorkshopStaff

from . import verdicts as V
from .reader import DraftRow
from .services import CheckResult, RowVerdict, _judge, _month_end

ACTION = "precheck.warning"
DEFAULT_DAY = 20


def warning_day(config: Any = None) -> int:
    """The day of the month from which the warnings are made (``PAYDAY_WARNING_DAY``, 1–28)."""
    value = (config or {}).get("PAYDAY_WARNING_DAY") or os.environ.get("PAYDAY_WARNING_DAY")
    try:
        day = int(value) if value not in (None, "") else DEFAULT_DAY
    except ValueError:
        day = DEFAULT_DAY
    return min(max(day, 1), 28)


def _previous(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


def expected_payroll(conn: Connection, month: dt.date, as_of: dt.date) -> list[tuple[int, int, int]]:
    """(person id, post id, amount in fen) of the month's expected payroll (see the module's
    docstring), in person and post order."""
    pl, pos, st, w = Placement.__table__, Position.__table__, WorkshopStaff.__table__, Wage.__table__
    end = _month_end(month)
    holds = lambda t: and_(t.c.start_date <= end, or_(t.c.end_date.is_(None), t.c.end_date >= month))  # noqa: E731
    amount: dict[tuple[int, int], int] = {}
    for person, post, fen in conn.execute(select(pl.c.person_id, pl.c.position_id, pos.c.monthly_wage_fen)
                                          .join(pos, pos.c.id == pl.c.position_id).where(holds(pl))):
        amount[(person, post)] = fen
    for person, post, fen in conn.execute(select(st.c.person_id, st.c.workshop_id, st.c.monthly_wage_fen)
                                          .where(holds(st), st.c.monthly_wage_fen.is_not(None))):
        amount.setdefault((person, post), fen)
    wage = dict(conn.execute(select(pos.c.id, pos.c.monthly_wage_fen)).all())
    roster = {(p, s): fen for p, s, fen in conn.execute(
        select(st.c.person_id, st.c.workshop_id, func.max(st.c.monthly_wage_fen))
        .group_by(st.c.person_id, st.c.workshop_id)) if fen}
    last = (select(w.c.person_id, w.c.post_id, func.sum(w.c.amount_fen))
            .where(w.c.period == _previous(month), w.c.paid_on <= as_of)
            .group_by(w.c.person_id, w.c.post_id).having(func.sum(w.c.amount_fen) > 0))
    for person, post, fen in conn.execute(last):
        amount.setdefault((person, post), wage.get(post) or roster.get((person, post)) or fen)
    paid = set(conn.execute(select(w.c.person_id, w.c.post_id)
                            .where(w.c.period == month, w.c.paid_on <= as_of)
                            .group_by(w.c.person_id, w.c.post_id).having(func.sum(w.c.amount_fen) > 0)).all())
    return [(person, post, fen) for (person, post), fen in sorted(amount.items())
            if (person, post) not in paid and fen and fen > 0]


def judge(engine: Engine, as_of: dt.date) -> tuple[dt.date, CheckResult]:
    """The month of ``as_of`` and its expected payroll judged as paid on ``as_of``; writes nothing."""
    month = as_of.replace(day=1)
    result = CheckResult(f"{month:%Y-%m} 预计发放", as_of)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            codes = dict(conn.execute(select(Post.id, Post.code)).all())
            result.rows = [RowVerdict(DraftRow(i + 2, "", codes[post], month, fen, None, None, None),
                                      person, post, "", allowed_fen=fen)
                           for i, (person, post, fen) in enumerate(expected_payroll(conn, month, as_of))]
            if result.rows:
                _judge(conn, result.rows, as_of, result)
        finally:
            trans.rollback()
    return month, result


def run(engine: Engine, as_of: dt.date, *, actor: str, day: int = DEFAULT_DAY) -> dict[str, Any]:
    """Make (or remake) the warnings of ``as_of``'s month, if ``as_of`` is on or after the month's
    ``day``-th; store them, log each unit whose warned persons changed. What was done, for the job's
    summary and the command line."""
    if as_of.day < day:
        return {"made": False, "day": day, "month": as_of.replace(day=1)}
    month, result = judge(engine, as_of)
    warned = [r for r in result.rows if r.verdict != V.PASS]
    pw, p = PaydayWarning.__table__, Person.__table__
    now = dt.datetime.now().replace(microsecond=0)
    with engine.begin() as conn:
        posts = posts_by_id(conn)
        wanted = sorted({r.person_id for r in warned}) or [0]
        people = {x.id: x for x in conn.execute(select(p.c.id, p.c.name, p.c.id_masked)
                                                .where(p.c.id.in_(wanted)))}
        before: dict[str, set] = defaultdict(set)
        for x in conn.execute(select(pw.c.unit, pw.c.person_id, pw.c.post_id, pw.c.verdict)
                              .where(pw.c.period == month)):
            before[x.unit].add((x.person_id, x.post_id, x.verdict))
        conn.execute(delete(pw).where(pw.c.period == month))
        values = []
        for r in warned:
            post = posts.get(r.post_id, {})
            values.append({
                "period": month, "as_of": as_of, "unit": post.get("unit") or r.draft.post_code,
                "district": post.get("district"), "township": post.get("township"),
                "village": post.get("village"),
                "person_id": r.person_id, "id_masked": people[r.person_id].id_masked,
                "name": people[r.person_id].name, "post_id": r.post_id, "post_code": r.draft.post_code,
                "amount_fen": r.draft.amount_fen, "verdict": r.verdict, "rules": r.rules,
                "reasons": r.reasons, "allowed_fen": r.allowed_fen, "created_at": now})
        for i in range(0, len(values), 5000):
            conn.execute(insert(pw), values[i:i + 5000])
        after: dict[str, list[dict]] = defaultdict(list)
        for v in values:
            after[v["unit"]].append(v)
        changed = sorted(u for u in set(after) | set(before)
                         if {(v["person_id"], v["post_id"], v["verdict"]) for v in after.get(u, [])}
                         != before.get(u, set()))
        entries = []
        for unit in changed:
            mine = after.get(unit, [])
            entries.append({
                "actor": actor, "action": ACTION, "table_name": "payday_warnings", "row_ref": unit,
                "new": {"unit": unit, "period": f"{month:%Y-%m}", "as_of": as_of.isoformat(),
                        "hold": sum(v["verdict"] == V.HOLD for v in mine),
                        "reject": sum(v["verdict"] == V.REJECT for v in mine),
                        "persons": [f"{v['name']} {v['id_masked']}"
                                    f"（{v['post_code']}：{'、'.join(v['rules'])}）" for v in mine[:50]]}})
        if entries:
            logchain.append(conn, entries)
    return {"made": True, "day": day, "month": month, "rows": len(result.rows), "warned": len(warned),
            "hold": sum(r.verdict == V.HOLD for r in warned),
            "reject": sum(r.verdict == V.REJECT for r in warned),
            "units": len(after), "notified": len(changed), "seconds": round(result.seconds, 1)}


def summary_text(done: dict[str, Any]) -> str:
    month = f"{done['month']:%Y年%m月}"
    if not done["made"]:
        return f"未到每月 {done['day']} 日，{month}的发放前预警尚未生成"
    return (f"{month}发放前预警：预计发放 {done['rows']} 人次，将暂缓发放 {done['hold']} 人次、不予发放 "
            f"{done['reject']} 人次，涉及 {done['units']} 个单位（通知 {done['notified']} 个单位）")


# ---- for the dashboards ---------------------------------------------------------------------------

def visible(sc, limit: int = 50) -> dict[str, Any] | None:
    """The latest month's warnings the scope ``sc`` may see (an operator's units, others' regions),
    grouped by unit; None when there are none."""
    from models import db

    pw = PaydayWarning.__table__
    where = sc.located(pw.c)
    month = db.session.scalar(select(func.max(pw.c.period)).where(where))
    if month is None:
        return None
    rows = db.session.execute(select(pw).where(where, pw.c.period == month)
                              .order_by(pw.c.unit, pw.c.verdict.desc(), pw.c.post_code, pw.c.id_masked)).all()
    units: dict[str, list] = defaultdict(list)
    for r in rows[:limit]:
        units[r.unit].append(r)
    # names for people, one query each for the rows shown (not one per row): 「保洁员（GW-001）」
    p, pos, ws = Post.__table__, Position.__table__, Workshop.__table__
    titles = dict(db.session.execute(
        select(p.c.id, func.coalesce(pos.c.title, ws.c.name)).outerjoin(pos, pos.c.id == p.c.id)
        .outerjoin(ws, ws.c.id == p.c.id).where(p.c.id.in_({r.post_id for r in rows[:limit]}))).all())
    return {"month": month, "as_of": max(r.as_of for r in rows), "total": len(rows),
            "reject": sum(r.verdict == V.REJECT for r in rows),
            "hold": sum(r.verdict == V.HOLD for r in rows),
            "units": sorted(units.items()), "shown": min(len(rows), limit),
            "unit_names": unit_names(units),
            "posts": {r.post_id: post_label(r.post_code, titles.get(r.post_id)) for r in rows[:limit]}}
