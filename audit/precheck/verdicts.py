"""Which verdict each rule gives a draft row it fires on, and what it lets through.

The pre-check runs these rules, and only these (shared/docs/precheck.md, "Checks"); the rules
themselves are the audit's (audit/engine/rules/), one definition each. This table is the only
place that says what a rule means for a payment not yet made:

- ``reject`` (不予发放): the payment itself is wrong — the person is dead (PS04), holds no such post
  that month or never did (PS03, DP01), should not hold the post at all (IP01–IP08, FV01), the row
  repeats a payment (PS07), or the money goes to another person's account (IM03). Allowed: 0.
- ``hold`` (暂缓发放): a person must look before it is paid — attendance short (PS01, PS02), the
  standard exceeded (DP02), migrant work (PS05), social insurance paid elsewhere (PS06), a shared
  account (IM04), signs of someone else checking in (IM01, IM02, IM05). Allowed: the amount the
  rule's own figures leave (``allowed`` below), else the drafted amount.

A row's verdict is the worst of its rules' (reject before hold before pass); its allowed amount
the least of theirs.
"""
from __future__ import annotations

REJECT, HOLD, PASS = "reject", "hold", "pass"
VERDICT_ZH = {PASS: "可发放", HOLD: "暂缓发放", REJECT: "不予发放"}
SEVERITY = {PASS: 0, HOLD: 1, REJECT: 2}

# how a hold rule's allowed amount is found (see ``allowed``): "due" — the wage due the rule computed
# for the month, less what else is paid for it; "standard" — at most the post's monthly standard;
# "nothing" — no present day at all: by rules.md's wage due (月标准 × 出勤 ÷ 规定天数) nothing is due;
# None — the drafted amount (the rule says who to look at, not how much)
VERDICTS: dict[str, tuple[str, str | None]] = {
    "PS01": (HOLD, "nothing"),
    "PS02": (HOLD, "due"),
    "PS03": (REJECT, None),
    "PS04": (REJECT, None),
    "PS05": (HOLD, None),
    "PS06": (HOLD, None),
    "PS07": (REJECT, None),
    "DP01": (REJECT, None),
    "DP02": (HOLD, "standard"),
    "IM01": (HOLD, None),
    "IM02": (HOLD, None),
    "IM03": (REJECT, None),
    "IM04": (HOLD, None),
    "IM05": (HOLD, None),
    **{f"IP0{i}": (REJECT, None) for i in range(1, 9)},
    "FV01": (REJECT, None),
}
RULES = frozenset(VERDICTS)


def _fen(yuan_text) -> int:
    from decimal import Decimal

    return int(Decimal(str(yuan_text).replace(",", "")) * 100)  # the rules write yuan with grouping


def allowed(rule: str, amount_fen: int, evidence: dict, other_paid_fen: int) -> int:
    """What rule ``rule`` lets through of a draft row of ``amount_fen``, from its finding's
    ``evidence``; ``other_paid_fen``: what else is paid (or drafted) for the row's person, post and
    month besides this row."""
    verdict, how = VERDICTS[rule]
    if verdict == REJECT or how == "nothing":
        return 0
    if how == "due" and evidence.get("wage_due") is not None:
        return max(0, min(amount_fen, _fen(evidence["wage_due"]) - other_paid_fen))
    if how == "standard" and evidence.get("monthly_wage") is not None:
        return max(0, min(amount_fen, _fen(evidence["monthly_wage"])))
    return amount_fen
