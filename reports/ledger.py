"""整改台账 / 销号报告: every notice of a region (a district, or every district) with its state —
number, unit, issued, deadline, status, overdue, 应追回 / 已追回 / 差额, answered and closed — and
under each its items: the person and post, the problem, the unit's answer, the item's state, its
销号 basis (数据已消除, or 人工销号 with the reason) and the money actually recovered (date, amount).
应追回 counts each payment once (audit/engine/money.py); 已追回 is the sum of the recoveries.
For inspectors. A handful of queries for the whole ledger, none per notice."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select, true

from audit.engine.money import RECOVERABLE, total_fen
from audit.engine.rule import CATEGORIES
from audit.rectification.services import ITEM_STATES, item_state
from models import (
    FINDING_STATUSES,
    ITEM_ACTIONS,
    NOTICE_STATUSES,
    Finding,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Person,
    Position,
    Post,
    Recovery,
    Workshop,
    db,
)
from models.enums import NoticeStatus

from .notice import Built, month_span
from .render import render_template, zh_date
from .summary import issuer_of


def _iso(day) -> str:
    return f"{day:%Y-%m-%d}" if day else "—"


def _where(district: str | None):
    return Notice.district == district if district else true()


def build_ledger(district: str | None, today: dt.date | None = None) -> Built:
    """The 整改台账 of ``district`` (None: every district) as of ``today`` (default: today)."""
    today = today or dt.date.today()
    w = _where(district)
    s = db.session
    last_answer = (select(NoticeResponse.notice_id, func.max(NoticeResponse.at).label("at"),
                          func.count().label("n")).group_by(NoticeResponse.notice_id).subquery())
    rows = s.execute(select(Notice, last_answer.c.at, last_answer.c.n)
                     .outerjoin(last_answer, last_answer.c.notice_id == Notice.id)
                     .where(w).order_by(Notice.issued_at, Notice.id)).all()
    # the latest submitted answer of each item, and every recovery, for the whole ledger at once
    answers: dict[int, ItemAnswer] = {}
    for a in s.scalars(select(ItemAnswer).join(Notice, Notice.id == ItemAnswer.notice_id)
                       .where(w, ItemAnswer.state == "submitted").order_by(ItemAnswer.id)):
        answers[a.item_id] = a
    recoveries: dict[int, list[dict]] = {}
    recovered: dict[int, int] = {}
    for r in s.scalars(select(Recovery).join(Notice, Notice.id == Recovery.notice_id).where(w)
                       .order_by(Recovery.recovered_on, Recovery.id)):
        recoveries.setdefault(r.item_id, []).append({"on": _iso(r.recovered_on), "fen": r.amount_fen})
        recovered[r.notice_id] = recovered.get(r.notice_id, 0) + r.amount_fen
    items: dict[int, list[dict]] = {}
    q = (select(NoticeFinding, Finding.rule, Finding.title, Finding.category, Finding.subject_label,
                Person.name, Person.id_masked, Post.code, func.coalesce(Position.title, Workshop.name),
                Finding.periods,
                Finding.amount_at_risk_fen, Finding.status)
         .join(Notice, Notice.id == NoticeFinding.notice_id)
         .join(Finding, Finding.id == NoticeFinding.finding_id)
         .outerjoin(Person, Person.id == Finding.person_id).outerjoin(Post, Post.id == Finding.post_id)
         .outerjoin(Position, Position.id == Finding.post_id)
         .outerjoin(Workshop, Workshop.id == Finding.post_id)
         .where(w).order_by(NoticeFinding.notice_id, NoticeFinding.id))
    for item, rule, title, cat, label, name, masked, code, post_name, periods, fen, status in s.execute(q):
        state = item_state(item, answers.get(item.id))
        basis = ("数据已消除" if item.close_basis == "data" else f"人工销号：{item.close_reason or ''}"
                 if item.close_basis == "override" else "")
        got = answers.get(item.id)
        items.setdefault(item.notice_id, []).append({
            "rule": rule, "title": title, "category": CATEGORIES.get(cat, cat),
            "subject": f"{name}（{masked or label}）" if name else label, "name": name,
            "label": masked or label,
            "post": code or "", "post_name": post_name or "", "months": month_span(periods),
            "amount_fen": fen, "recover_fen": item.recover_fen or 0, "status": status,
            "status_zh": FINDING_STATUSES.get(status, status), "state": state, "state_zh": ITEM_STATES[state],
            "basis": basis, "override": item.close_basis == "override",
            "answer": ITEM_ACTIONS.get(got.action, "") if got else "",
            "recoveries": recoveries.get(item.id, []),
            "recovered_fen": sum(r["fen"] for r in recoveries.get(item.id, []))})

    total, overdue_n, closed_n = s.execute(select(
        func.count(), func.coalesce(func.sum(case((Notice.overdue(today), 1), else_=0)), 0),
        func.coalesce(func.sum(case((Notice.status == NoticeStatus.CLOSED, 1), else_=0)), 0)).where(w)).one()
    # 应追回 of the whole ledger: each payment once, even where two notices' findings cover it
    asked = (select(NoticeFinding.finding_id).join(Notice, Notice.id == NoticeFinding.notice_id)
             .where(w, NoticeFinding.recover_fen > 0))
    recover_fen = total_fen(s, Finding.id.in_(asked), kind=RECOVERABLE)
    recovered_fen = sum(recovered.values())
    by_status = dict(s.execute(select(Notice.status, func.count()).where(w)
                               .group_by(Notice.status)).tuples().all())

    notices = []
    for n, answered_last, answers in rows:
        over = n.overdue(today)
        notices.append({
            "n": n, "status_zh": NOTICE_STATUSES.get(n.status, n.status), "overdue": over,
            "overdue_days": (today - n.deadline).days if over else 0, "issued": zh_date(n.issued_at),
            "deadline": zh_date(n.deadline),
            "answered": zh_date(n.answered_at or answered_last) if (n.answered_at or answered_last) else "—",
            "answers": answers or 0, "closed": zh_date(n.closed_at) if n.closed_at else "—",
            "issued_iso": _iso(n.issued_at), "deadline_iso": _iso(n.deadline),
            "answered_iso": _iso(n.answered_at or answered_last),
            "closed_iso": _iso(n.closed_at), "recovered_fen": recovered.get(n.id, 0),
            "gap_fen": max(n.amount_to_recover_fen - recovered.get(n.id, 0), 0),
            "findings": items.get(n.id, [])})

    region = district or "全部地区"
    title = f"{region}整改台账（截至{zh_date(today)}）"
    issuer = issuer_of(district)
    html = render_template(
        "ledger.html", title=title, heading=f"{region}审计问题整改台账", region=region, today=zh_date(today),
        issuer=issuer, docno=None, notices=notices, statuses=NOTICE_STATUSES,
        by_status={k: int(by_status.get(k, 0)) for k in NOTICE_STATUSES}, total=int(total),
        overdue_n=int(overdue_n), recover_fen=int(recover_fen), closed_n=int(closed_n),
        recovered_fen=int(recovered_fen), gap_fen=max(int(recover_fen) - int(recovered_fen), 0),
        signed=zh_date(today), printed=zh_date(today), printed_by=f"{issuer}办公室", copy_to=[],
    )
    meta = {"district": district, "params": {"district": district, "as_of": today.isoformat()}}
    return Built(html, title, meta)
