"""整改台账 / 销号报告: every notice of a region (a district, or every district) with its state —
number, unit, issued, deadline, status, overdue, amount to recover, answered and closed — and under
each its findings with their own state (a finding an audit run no longer finds is 数据已消除).
For inspectors. Two queries (the notices; their findings) and one aggregate."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, select, true

from audit.engine.rule import CATEGORIES
from models import (
    FINDING_STATUSES,
    NOTICE_STATUSES,
    Finding,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Person,
    Post,
    db,
)
from models.rectification import WAITING_FOR_UNIT

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
    items: dict[int, list[dict]] = {}
    q = (select(NoticeFinding.notice_id, NoticeFinding.recover_fen, Finding.rule, Finding.title, Finding.category,
                Finding.subject_label, Person.name, Post.code, Finding.periods, Finding.amount_at_risk_fen,
                Finding.status)
         .join(Notice, Notice.id == NoticeFinding.notice_id).join(Finding, Finding.id == NoticeFinding.finding_id)
         .outerjoin(Person, Person.id == Finding.person_id).outerjoin(Post, Post.id == Finding.post_id)
         .where(w).order_by(NoticeFinding.notice_id, NoticeFinding.id))
    for nid, recover, rule, title, cat, label, name, code, periods, fen, status in s.execute(q):
        items.setdefault(nid, []).append({
            "rule": rule, "title": title, "category": CATEGORIES.get(cat, cat),
            "subject": f"{name}（{label}）" if name else label, "name": name, "label": label, "post": code or "", "months": month_span(periods),
            "amount_fen": fen, "recover_fen": recover or 0, "status": status,
            "status_zh": FINDING_STATUSES.get(status, status)})

    waiting = Notice.status.in_(WAITING_FOR_UNIT)
    overdue_expr = and_(waiting, Notice.deadline < today)
    total, overdue_n, recover_fen, closed_n = s.execute(select(
        func.count(), func.coalesce(func.sum(case((overdue_expr, 1), else_=0)), 0),
        func.coalesce(func.sum(Notice.amount_to_recover_fen), 0),
        func.coalesce(func.sum(case((Notice.status == "closed", 1), else_=0)), 0)).where(w)).one()
    by_status = dict(s.execute(select(Notice.status, func.count()).where(w).group_by(Notice.status)).all())

    notices = []
    for n, answered_last, answers in rows:
        over = n.overdue(today)
        notices.append({
            "n": n, "status_zh": NOTICE_STATUSES.get(n.status, n.status), "overdue": over,
            "overdue_days": (today - n.deadline).days if over else 0, "issued": zh_date(n.issued_at),
            "deadline": zh_date(n.deadline), "answered": zh_date(n.answered_at or answered_last) if (n.answered_at or answered_last) else "—",
            "answers": answers or 0, "closed": zh_date(n.closed_at) if n.closed_at else "—",
            "issued_iso": _iso(n.issued_at), "deadline_iso": _iso(n.deadline), "answered_iso": _iso(n.answered_at or answered_last),
            "closed_iso": _iso(n.closed_at),
            "findings": items.get(n.id, [])})

    region = district or "全部地区"
    title = f"{region}整改台账（截至{zh_date(today)}）"
    issuer = issuer_of(district)
    html = render_template(
        "ledger.html", title=title, heading=f"{region}审计问题整改台账", region=region, today=zh_date(today),
        issuer=issuer, docno=None, notices=notices, statuses=NOTICE_STATUSES,
        by_status={k: int(by_status.get(k, 0)) for k in NOTICE_STATUSES}, total=int(total),
        overdue_n=int(overdue_n), recover_fen=int(recover_fen), closed_n=int(closed_n),
        signed=zh_date(today), printed=zh_date(today), printed_by=f"{issuer}办公室", copy_to=[],
    )
    meta = {"district": district, "params": {"district": district, "as_of": today.isoformat()}}
    return Built(html, title, meta)
