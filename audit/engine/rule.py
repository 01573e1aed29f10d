"""A rule: one small, self-describing unit whose detection is one set-based SQL query.

Each rule module under ``audit/engine/rules/`` declares its rules with ``@rule(...)`` on the
function that builds the query. The query's rows are findings (or the parts of one, see
``combine``); ``describe`` turns a row into the Chinese explanation and the evidence.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.money import yuan  # noqa: F401  (the rules' money format)
from models.enums import SEVERITIES

CATEGORIES = {
    "phantom_salary": "吃空饷 / 虚报冒领",
    "disguised_payment": "变相发钱",
    "wage_arrears": "未按时足额发放",
    "impersonation": "冒名顶替",
    "ineligible_placement": "安置不符合条件人员",
    "favouritism": "优亲厚友",
    "ledger_mismatch": "账实不符 / 账账不符 / 数字就业",
    # informational: shown and reported, never counted as violations
    "target_shortfall": "目标未达成",
    "anomaly": "异常（非违规）",
    "data_quality": "数据质量",
    # the pre-payment control (rules.md "Pre-payment control"): a payment made against an approved
    # pre-check judges the process, not the person; informational, so it never adds to the money
    "process_control": "流程管控",
}
VIOLATIONS = frozenset(list(CATEGORIES)[:7])
SUBJECT_TYPES = ("person", "workshop", "position", "household", "device", "account")

# Seed documents, cited in the rules' bases.
SEED_003 = "渝人社办〔2022〕317号《脱贫人口就业帮扶攻坚行动方案》"
SEED_001 = "渝北人社发〔2022〕38号《“一生一困”就业帮扶工作实施方案》"
SEED_002 = "《关于进一步做好就业援助工作的通知》"
SEED_000 = "渝人社办〔2022〕157号《困难人员就业帮扶专项行动方案》"
# the dates the seed documents were issued: a parameter they set is in force from that day
SEED_003_DATE = dt.date(2022, 11, 4)
SEED_001_DATE = dt.date(2022, 5, 13)
SEED_000_DATE = dt.date(2022, 6, 2)


# Where a parameter's default comes from when no policy text sets it: a threshold of audit practice
# (how many failed face checks make a pattern), which a county may change by ``audit params set``.
PRACTICE = "审计实务阈值（无政策文件规定，各地可按 audit params set 调整）"


@dataclass(frozen=True)
class Param:
    """A threshold of a rule, declared as a policy table declares it (cf. openfisca's parameters:
    a value in force from a date, its unit and the text that sets it). A county overrides it from a
    date, for a district or a township (``audit params set``; ``RunContext.param`` reads the value in
    force for each place and month)."""

    name: str
    default: Any
    description: str
    unit: str  # 元/月, 分, 天, 岁, 个月, 次, 人 …; "" for a switch or a list
    reference: str  # the policy text (or audit practice) that sets the default
    effective_from: dt.date | None = None  # the default's first day (the text's date); None: no date
    effective_to: dt.date | None = None  # the default's last day; None: still in force

    def default_text(self) -> str:
        """The default with its unit, as the catalogue shows it (``50000 分/人/月``, ``开``)."""
        if isinstance(self.default, bool):
            return "开" if self.default else "关"
        if isinstance(self.default, (list, tuple)):
            return "、".join(map(str, self.default))
        return f"{self.default} {self.unit}".rstrip()


@dataclass
class Draft:
    """A finding as a rule produces it, before the runner gives it an id and a status."""

    explanation: str
    evidence: dict[str, Any]
    person_id: int | None = None
    post_id: int | None = None
    periods: list[dt.date] = field(default_factory=list)
    amount_fen: int | None = None
    person_ids: list[int] | None = None  # defaults to [person_id]
    subject_key: str | None = None  # for subjects that are not persons: a code, a device id…
    subject_label: str | None = None  # how to show that subject (masked where needed)
    # The payments the amount is taken from, so that totals count each payment once
    # (audit/engine/money.py). By default a one-month finding on a post claims that month's wages
    # of its person (owed wages for wage arrears; a workshop's subsidy claim when it names no
    # person). A finding over a holding names its months as ``spans``: (first month, last day)
    # ranges of its person's pay on its post, whose every month it claims in full.
    spans: list[tuple[dt.date | None, dt.date | None]] | None = None


@dataclass(frozen=True)
class Rule:
    code: str
    category: str
    title: str
    severity: str
    basis: str
    subject_type: str
    requires: tuple[str, ...]  # tables whose rows the rule needs
    query: Callable  # (ctx) -> a SQLAlchemy Select
    describe: Callable[[Mapping, Any], Draft]  # (row, ctx) -> Draft
    params: tuple[Param, ...] = ()
    combine: Callable[[Sequence[Mapping], Any], Iterable[Draft]] | None = None  # rows -> drafts
    # the rule judges public posts (positions) only, never workshops: the runner keeps no finding of it
    # on a workshop, and the catalogue says 仅公益性岗位
    public_posts_only: bool = False
    # Optional ledger columns, as (table, column key of audit/ledger/schema.py), that the rule compares:
    # when no row of the table has a value in one of them, the rule cannot find anything (or would
    # find everyone); it is reported 未完整运行 (「未完整运行：缺少 收款户名 列」) and not run, its earlier
    # findings left as they are (as for a missing table).
    needs_columns: tuple[tuple[str, str], ...] = ()
    # Optional columns that only complete what the rule finds (e.g. an amount): without any value the
    # rule runs and is reported 未完整运行.
    uses_columns: tuple[tuple[str, str], ...] = ()

    @property
    def informational(self) -> bool:
        return self.category not in VIOLATIONS


REGISTRY: dict[str, Rule] = {}


def rule(code: str, *, category: str, title: str, severity: str, basis: str, subject_type: str = "person",
         requires: tuple[str, ...], params: tuple[Param, ...] = (), describe: Callable,
         combine: Callable | None = None, public_posts_only: bool = False,
         needs_columns: tuple[tuple[str, str], ...] = (), uses_columns: tuple[tuple[str, str], ...] = ()):
    """Declare a rule; the decorated function builds its query from a run context."""
    assert category in CATEGORIES and severity in SEVERITIES and subject_type in SUBJECT_TYPES, code

    def register(query: Callable) -> Callable:
        if code in REGISTRY:
            raise ValueError(f"rule {code} declared twice")
        REGISTRY[code] = Rule(code, category, title, severity, basis, subject_type, requires, query, describe,
                              params, combine, public_posts_only, tuple(needs_columns), tuple(uses_columns))
        return query

    return register


def all_rules() -> list[Rule]:
    from . import rules  # noqa: F401  (imports every rule module)

    return sorted(REGISTRY.values(), key=lambda r: rule_order(r.code))


RULE_PREFIXES = ("PS", "DP", "WA", "IM", "IP", "FV", "LM", "PC", "TS", "AN", "DQ")  # the catalogue's order


def rule_order(code: str) -> tuple[int, int]:
    return (RULE_PREFIXES.index(code[:2]) if code[:2] in RULE_PREFIXES else 99, int(code[2:] or 0))


def grouped(rows: Iterable[Mapping], *keys: str) -> list[tuple[tuple, list[Mapping]]]:
    """Query rows grouped by ``keys`` (the rows that make one finding), groups in a stable order."""
    groups: dict[tuple, list[Mapping]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))


def ym(d: dt.date | str | None) -> str:
    if d is None:
        return ""
    if isinstance(d, str):
        return d[:7]
    return f"{d.year:04d}-{d.month:02d}"
