"""整改通知书: the rectification notice to one unit — its findings with evidence and basis, the
required actions, the money to recover (with its amount in Chinese capital numerals), the deadline,
what the unit must send back, signature and seal.

ID and account numbers appear only masked: the findings store them masked (``subject_label``,
``evidence``) and ``Person.id_masked`` is the mask; nothing is decrypted here.
"""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select

from audit.engine.rule import CATEGORIES, SEED_000, SEED_001, SEED_002, SEED_003, SEVERITIES
from audit.findings.evidence import render as render_evidence
from models import (
    ACTIONS,
    FINDING_STATUSES,
    Finding,
    Notice,
    NoticeFinding,
    Person,
    Position,
    Post,
    Workshop,
    db,
)

from .render import ReportError, render_template, zh_date, zh_month


class Built(NamedTuple):
    """A report's HTML, its title and what it covers (``notice_id``, ``unit``, ``district``, ``params``)."""

    html: str
    title: str
    meta: dict


# ---- amounts in Chinese capital numerals (大写金额) -------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def _section(n: int) -> str:
    """0 < n < 10000, without leading zeros: 1010 -> 壹仟零壹拾."""
    out, zero = "", False
    for i in (3, 2, 1, 0):
        d = n // 10 ** i % 10
        if d == 0:
            zero = bool(out)
        else:
            if zero:
                out += "零"
                zero = False
            out += _DIGITS[d] + _UNITS[i]
    return out


def _integer(n: int) -> str:
    if n == 0:
        return "零"
    sections = []
    while n:
        sections.append(n % 10000)
        n //= 10000
    if len(sections) > len(_SECTIONS):
        raise ValueError("amount too large")
    out, gap = "", False
    for idx in range(len(sections) - 1, -1, -1):
        sec = sections[idx]
        if sec == 0:
            gap = bool(out)
            continue
        if out and (gap or sec < 1000):
            out += "零"
        out += _section(sec) + _SECTIONS[idx]
        gap = False
    return out


def rmb_capital(fen: int) -> str:
    """An amount in fen written in capital numerals as on a cheque (《支付结算办法》):
    ``160000`` -> 人民币壹仟陆佰元整; ``100105`` -> 人民币壹仟零壹元零伍分; ``50`` -> 人民币伍角."""
    fen = int(fen)
    sign, fen = ("负" if fen < 0 else ""), abs(fen)
    y, rest = divmod(fen, 100)
    jiao, fen_ = divmod(rest, 10)
    if fen == 0:
        return "人民币零元整"
    out = _integer(y) + "元" if y else ""
    if not jiao and not fen_:
        return f"人民币{sign}{out}整"
    if y and (jiao == 0 or y % 10 == 0):
        out += "零"
    if jiao:
        out += _DIGITS[jiao] + "角"
    if fen_:
        out += _DIGITS[fen_] + "分"
    return f"人民币{sign}{out}"


# ---- helpers for the text ------------------------------------------------------------------------

_ZH = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 21 -> 二十一, 105 -> 一百零五 (for headings like （二十一）)."""
    if n < 10:
        return _ZH[n]
    if n < 20:
        return "十" + (_ZH[n % 10] if n % 10 else "")
    if n < 100:
        return _ZH[n // 10] + "十" + (_ZH[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + zh_number(rest) if rest < 10 else (zh_number(rest) if rest >= 20 else "一" + zh_number(rest)))
    return _ZH[n // 100] + "百" + tail


def month_span(periods: list[str]) -> str:
    """``['2025-02','2025-03','2025-04','2025-07']`` -> 2025年2月—2025年4月、2025年7月."""
    months = sorted({p[:7] for p in periods or [] if p})
    if not months:
        return "—"
    runs: list[list[str]] = []
    for m in months:
        y, mo = map(int, m.split("-"))
        if runs:
            py, pm = map(int, runs[-1][-1].split("-"))
            if (py * 12 + pm) + 1 == y * 12 + mo:
                runs[-1].append(m)
                continue
        runs.append([m])
    return "、".join(zh_month(r[0]) if len(r) == 1 else f"{zh_month(r[0])}—{zh_month(r[-1])}" for r in runs)


SEEDS = (SEED_003, SEED_000, SEED_001, SEED_002)

# What the unit sends back for each required action.
MATERIALS = {
    "dismiss_person": "清退或解除岗位协议的书面材料（通知书、解除协议或公示材料）",
    "recover": "违规资金退回的银行回单或缴款凭证",
    "pay_arrears": "补发工资的银行发放明细（加盖银行印章）",
    "correct_ledger": "更正后的台账及重新上报的数据",
    "check_identity": "本人身份核实记录（本人签字确认）及收款账户核对材料",
}


def seeds_cited(bases: list[str]) -> list[str]:
    found = [s for s in SEEDS if any(s in (b or "") for b in bases)]
    return found or [SEED_003, SEED_000]


def issuer_short(issuer: str) -> str:
    """How the issuing body calls itself in the text (我局, 我委, 我办…)."""
    for tail, short in (("局", "我局"), ("委员会", "我委"), ("委", "我委"), ("办公室", "我办"), ("厅", "我厅")):
        if issuer.endswith(tail):
            return short
    return "我单位"


def copy_to(district: str | None, township: str | None) -> list[str]:
    out = []
    if district:
        out.append(f"{district}乡村振兴局")
        out.append(f"{district}财政局")
    if township:
        out.append(f"{township}{'办事处' if township.endswith('街道') else '人民政府'}")
    return out


def finding_rows(notice_id: int) -> list[dict]:
    """The notice's findings with what the notice needs of each (one query)."""
    q = (select(NoticeFinding.actions, NoticeFinding.recover_fen, Finding, Post.code, Post.kind, Position.title,
                Workshop.name, Person.name, Person.id_masked)
         .join(Finding, Finding.id == NoticeFinding.finding_id)
         .outerjoin(Post, Post.id == Finding.post_id)
         .outerjoin(Position, Position.id == Finding.post_id)
         .outerjoin(Workshop, Workshop.id == Finding.post_id)
         .outerjoin(Person, Person.id == Finding.person_id)
         .where(NoticeFinding.notice_id == notice_id)
         .order_by(NoticeFinding.id))
    out = []
    for actions, recover_fen, f, post_code, post_kind, pos_title, ws_name, name, id_masked in db.session.execute(q):
        subject = f.subject_label
        if name:
            subject = f"{name}（{id_masked or f.subject_label}）"
        out.append({
            "rule": f.rule, "title": f.title, "category": CATEGORIES.get(f.category, f.category),
            "severity": SEVERITIES.get(f.severity, f.severity), "subject": subject,
            "subject_label": f.subject_label, "name": name, "post_code": post_code,
            "post_name": pos_title or ws_name, "months": month_span(f.periods), "periods": f.periods,
            "amount_fen": f.amount_at_risk_fen, "recover_fen": recover_fen or 0, "explanation": f.explanation,
            "evidence": render_evidence(f.evidence), "basis": f.basis,
            "actions": [ACTIONS.get(a, a) for a in (actions or [])], "action_keys": list(actions or []),
            "status": f.status, "status_zh": FINDING_STATUSES.get(f.status, f.status), "unit": f.unit,
        })
    return out


def build_notice(notice_id: int) -> Built:
    """The HTML of notice ``notice_id``; ``ReportError`` when there is no such notice."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise ReportError(f"整改通知书（编号 {notice_id}）不存在。")
    items = finding_rows(notice.id)
    periods = sorted({p for it in items for p in (it["periods"] or [])})
    scope_text = "就业帮扶车间" if notice.unit_kind == "workshop" else "公益性岗位"
    action_keys = list(dict.fromkeys(k for it in items for k in it["action_keys"]))
    materials = [MATERIALS[k] for k in action_keys if k in MATERIALS]
    heading = "关于限期整改审计发现问题的通知"
    title = f"整改通知书 {notice.number} {notice.unit_name}"
    html = render_template(
        "notice.html", notice=notice, items=items, title=title, heading=heading, issuer=notice.issuer,
        docno=notice.number, we=issuer_short(notice.issuer), seeds=seeds_cited([it["basis"] for it in items]),
        scope_text=scope_text, audit_span=month_span(periods),
        total_fen=notice.amount_to_recover_fen or 0, total_capital=rmb_capital(notice.amount_to_recover_fen or 0),
        deadline=zh_date(notice.deadline), issued=zh_date(notice.issued_at),
        actions_all=[ACTIONS[k] for k in action_keys if k in ACTIONS], materials=materials,
        copy_to=copy_to(notice.district, notice.township), printed_by=f"{notice.issuer}办公室",
        zh_number=zh_number,
    )
    meta = {"notice_id": notice.id, "unit": notice.unit, "district": notice.district,
            "params": {"notice_id": notice.id, "number": notice.number, "unit": notice.unit}}
    return Built(html, title, meta)
