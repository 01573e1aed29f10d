"""整改通知书: the rectification notice to one unit, as officials write it.

- **The body** (at most three pages, however many findings): 版头 (issuing body, 文号), the
  addressee, an opening paragraph (basis and period of the audit), the problems summarised **by
  category** (问题数, 涉及人数, 应追回金额), the requirements per category in plain words (with the
  rules' policy basis) and the auditor's own, the money to recover in figures and in capital
  numerals, the deadline and what to send back, the contact, 附件 list, signature and seal, 抄送.
- **附件1 问题清单**: one row per item of the notice (A4 landscape), with the total counted once.
- **附件2 证据摘要**: one short Chinese sentence of evidence per item (``Finding.explanation``).

Money is counted once (``audit.engine.money``): the notice's 应追回 is ``total_fen`` over the
items with money to recover, never a sum of the items (an item whose money another item of the
notice also claims carries the ``overlap_note``). It is computed here, not read from
``Notice.amount_to_recover_fen``, so the PDF states the same figure whatever the issuing code stored.

ID and account numbers appear only masked: the findings store them masked (``subject_label``,
``explanation``) and ``Person.id_masked`` is the mask; nothing is decrypted here.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from flask import current_app, has_app_context
from sqlalchemy import select

from audit.engine.money import RECOVERABLE, money_by, overlap_note, overlaps, total_fen
from audit.engine.rule import CATEGORIES, SEED_000, SEED_001, SEED_002, SEED_003
from models import (
    ACTIONS,
    Finding,
    Notice,
    NoticeFinding,
    Person,
    Position,
    Post,
    Role,
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
    tail = "" if rest == 0 else ("零" + zh_number(rest) if rest < 10
                                 else (zh_number(rest) if rest >= 20 else "一" + zh_number(rest)))
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
    "dismiss_person": "清退或解除岗位协议的书面材料",
    "recover": "违规资金退回的银行回单或缴款凭证",
    "pay_arrears": "补发工资的银行发放明细",
    "correct_ledger": "更正后的台账及上报数据",
    "check_identity": "本人身份核实记录（本人签字）及收款账户核对材料",
}


def seeds_cited(bases: list[str]) -> list[str]:
    found = [s for s in SEEDS if any(s in (b or "") for b in bases)]
    return found or [SEED_003, SEED_000]


def issuer_short(issuer: str) -> str:
    """How the issuing body calls itself in the text (我局, 我委, 我办…)."""
    for tail, short in (("局", "我局"), ("委员会", "我委"), ("委", "我委"), ("办公室", "我办"),
                        ("厅", "我厅")):
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


def finding_rows(notice_id: int, reader=None) -> list[dict]:
    """The notice's items with what the notice needs of each (one query), in the notice's order.
    ``reader``: the scope of those who read it (the unit it is addressed to): the explanations
    name no one outside it (「另有 N 人不在您的管辖范围」)."""
    from audit.findings.evidence import for_reader

    q = (select(NoticeFinding.actions, NoticeFinding.recover_fen, Finding, Post.code, Position.title,
                Workshop.name, Person.name, Person.id_masked)
         .join(Finding, Finding.id == NoticeFinding.finding_id)
         .outerjoin(Post, Post.id == Finding.post_id)
         .outerjoin(Position, Position.id == Finding.post_id)
         .outerjoin(Workshop, Workshop.id == Finding.post_id)
         .outerjoin(Person, Person.id == Finding.person_id)
         .where(NoticeFinding.notice_id == notice_id)
         .order_by(NoticeFinding.id))
    out = []
    for actions, recover_fen, f, post_code, pos_title, ws_name, name, id_masked in db.session.execute(q):
        post_name = pos_title or ws_name
        out.append({
            "finding_id": f.id, "rule": f.rule, "title": f.title,
            "category_key": f.category, "category": CATEGORIES.get(f.category, f.category),
            "name": name or f.subject_label, "id_masked": id_masked if name else None,
            "persons": set(f.person_ids or []) | ({f.person_id} if f.person_id else set()),
            "post": (f"{post_name}（{post_code}）" if post_name and post_code
                     else (post_code or post_name or "—")),
            "months": month_span(f.periods), "periods": f.periods,
            "recover_fen": int(recover_fen or 0),
            "explanation": (f.explanation if reader is None
                            else _explained(for_reader(f.evidence, f.explanation, reader))),
            "basis": f.basis,
            "actions": [ACTIONS.get(a, a) for a in (actions or [])], "action_keys": list(actions or []),
            "overlap": "", "post_code": post_code or "", "start": min(f.periods) if f.periods else "",
        })
    # in the list: by category, then post and person, month, rule — so that items on the same
    # month's wages (PS01 and PS04 of a dead man's month) stand next to each other
    order = {k: i for i, k in enumerate(CATEGORIES)}
    out.sort(key=lambda it: (order.get(it["category_key"], len(order)), it["post_code"], it["name"] or "",
                             it["start"], it["rule"]))
    for i, it in enumerate(out, 1):
        it["seq"] = i
    return out


def _explained(shown) -> str:
    return shown.explanation + (f"（另有 {shown.hidden} 人不在贵单位范围，未列出）" if shown.hidden else "")


def unit_reader(notice: Notice):
    """The scope of the unit a notice is addressed to (as its operator would have it)."""
    from audit.access import Scope

    return Scope(Role.OPERATOR, False, (), ((notice.unit_kind, notice.unit),))


_CLAUSE = re.compile(r"^(?P<doc>.*?》(?:（[^）]*）)?)\s*(?P<art>[^：:《》]*?)\s*[：:]\s*(?P<quote>.+)$")


def main_clause(bases: list[str]) -> str:
    """The policy clause a category of problems goes against: the first clause of its rules' bases
    (the rest — local practice, examples — stays with the rules), the most frequent one."""
    firsts = [b.split("；")[0].strip() for b in bases if b]
    return Counter(firsts).most_common(1)[0][0] if firsts else ""


def basis_sentence(clauses: list[str]) -> str:
    """The clauses as one citation: 渝人社办〔2022〕317号《…》五(三)“严禁吃空饷、虚报冒领”“严禁变相发钱”、
    五(四)“…”, each document named once, each clause quoted once."""
    docs: dict[str, dict[str, list[str]]] = {}
    loose: list[str] = []
    for clause in dict.fromkeys(c for c in clauses if c):
        m = _CLAUSE.match(clause)
        if not m:
            loose.append(clause)
            continue
        quote = m["quote"].rstrip("。").replace("“", "‘").replace("”", "’")  # quotes inside quotes
        docs.setdefault(m["doc"], {}).setdefault(m["art"], []).append(quote)
    parts = []
    for doc, arts in docs.items():
        parts.append(doc + "、".join(f"{art}{''.join(f'“{q}”' for q in quotes)}"
                                    for art, quotes in arts.items()))
    return "，".join(parts + loose)


def by_category(items: list[dict], recover_ids: list[str]) -> list[dict]:
    """The body's summary: per category (in the catalogue's order) the number of problems, of people
    and the money to recover counted once (``money_by``: the parts add up to the notice's total)."""
    money = dict(money_by(db.session, Finding.id.in_(recover_ids), group=Finding.category, kind=RECOVERABLE)
                 ) if recover_ids else {}
    groups: dict[str, list[dict]] = {}
    for it in items:
        groups.setdefault(it["category_key"], []).append(it)
    order = list(CATEGORIES)
    out = []
    for key in sorted(groups, key=lambda k: order.index(k) if k in order else len(order)):
        its = groups[key]
        action_keys = list(dict.fromkeys(a for it in its for a in it["action_keys"]))
        out.append({
            "name": CATEGORIES.get(key, key), "count": len(its),
            "persons": len(set().union(*(it["persons"] for it in its))),
            "recover_fen": money.get(key, 0),
            "actions": [ACTIONS[a] for a in action_keys if a in ACTIONS],
            "clause": main_clause([it["basis"] for it in its]),
        })
    return out


def mark_overlaps(items: list[dict]) -> None:
    """The note of each item whose money another item of this notice also claims."""
    ids = [it["finding_id"] for it in items]
    mine = set(ids)
    shared = overlaps(db.session, ids)
    for it in items:
        others = [o for o in shared.get(it["finding_id"], []) if o["id"] in mine]
        it["overlap"] = overlap_note(others)


def _config(key: str) -> str | None:
    return (current_app.config.get(key) or None) if has_app_context() else None


def build_notice(notice_id: int) -> Built:
    """The HTML of notice ``notice_id``; ``ReportError`` when there is no such notice."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise ReportError(f"整改通知书（编号 {notice_id}）不存在。")
    items = finding_rows(notice.id, unit_reader(notice))
    mark_overlaps(items)
    recover_ids = [it["finding_id"] for it in items if it["recover_fen"] > 0]
    # the notice's 应追回, each payment counted once (the issuing service stores the same figure in
    # Notice.amount_to_recover_fen; the PDF computes it, so it never depends on how it was stored)
    total = total_fen(db.session, Finding.id.in_(recover_ids), kind=RECOVERABLE) if recover_ids else 0
    periods = sorted({p for it in items for p in (it["periods"] or [])})
    scope_text = "就业帮扶车间" if notice.unit_kind == "workshop" else "公益性岗位"
    action_keys = list(dict.fromkeys(k for it in items for k in it["action_keys"]))
    materials = [MATERIALS[k] for k in action_keys if k in MATERIALS]
    heading = "关于限期整改审计发现问题的通知"
    title = f"整改通知书 {notice.number} {notice.unit_name}"
    categories = by_category(items, recover_ids)
    html = render_template(
        "notice.html", notice=notice, items=items, title=title, heading=heading, issuer=notice.issuer,
        docno=notice.number, we=issuer_short(notice.issuer), seeds=seeds_cited([it["basis"] for it in items]),
        scope_text=scope_text, audit_span=month_span(periods), categories=categories,
        basis=basis_sentence([c["clause"] for c in categories]),
        persons_n=len(set().union(*(it["persons"] for it in items))) if items else 0,
        total_fen=total, total_capital=rmb_capital(total),
        deadline=zh_date(notice.deadline), issued=zh_date(notice.issued_at), materials=materials,
        contact=_config("NOTICE_CONTACT"), phone=_config("NOTICE_PHONE"),
        copy_to=copy_to(notice.district, notice.township), printed_by=f"{notice.issuer}办公室",
        zh_number=zh_number,
    )
    meta = {"notice_id": notice.id, "unit": notice.unit, "district": notice.district,
            "params": {"notice_id": notice.id, "number": notice.number, "unit": notice.unit}}
    return Built(html, title, meta)
