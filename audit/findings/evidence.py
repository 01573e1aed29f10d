"""Evidence of a finding in plain Chinese: labels for the keys the rules write, and a renderer that
turns nested evidence (lists of payments, devices, people…) into rows and small tables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LABELS = {
    "period": "所属月份", "month": "月份", "post": "岗位/车间", "post_kind": "岗位类别",
    "post_unit": "用工单位", "ledger": "依据台账", "holdings_on_post": "该岗位在岗记录数",
    "paid": "发放金额（元）", "payments": "发放笔数", "last_paid_on": "最后发放日期",
    "first_paid_on": "首次发放日期", "monthly_wage": "月补贴标准（元）",
    "largest_payment": "最大单笔（元）", "payments_above_standard": "超标准笔数",
    "excess": "多发金额（元）", "tolerance": "容差（元）", "people_paid": "领取人数",
    "periods_count": "发放月数", "first_period": "首个月份", "last_period": "最后月份",
    "attendance_records": "考勤记录数", "rule_not_judged": "无法判定的规则", "workshop": "车间",
    "staff_on_roster_ever": "花名册人数（历史）", "baseline_poverty_headcount": "上年末吸纳脱贫人口数",
    "household": "户编号", "placements": "安置记录", "officials": "干部", "face_checks": "人脸识别次数",
    "face_failed": "人脸核验不通过次数", "failed_share": "不通过比例", "days_present": "出勤天数",
    "face_fail_min": "最少不通过次数（参数）", "face_fail_ratio": "不通过比例阈值（参数）",
    "devices": "签到设备", "device": "设备/手机号", "days": "日期", "date": "日期", "people": "人员",
    "person_name": "本人姓名", "accounts": "收款账户", "account": "账号", "account_name": "户名",
    "others": "同一账户的其他人员", "id": "身份证号", "id_masked": "身份证号", "name": "姓名",
    "role": "职务/身份", "unit": "单位", "death_date": "死亡日期",
    "days_present_after_death": "死亡后出勤天数", "dates": "日期", "holding": "在岗期间", "start": "起",
    "end": "止", "judged_until": "判定截至", "paid_months": "发放月数", "categories": "人员类别",
    "qualifying_categories": "符合条件的类别", "birth_month": "出生年月", "sex": "性别",
    "age_at_start": "上岗时年龄", "age_min": "最低年龄", "age_max": "最高年龄", "pensions": "养老金",
    "pension_since": "领取起始", "counted_from_month": "计算起始月", "businesses": "工商登记",
    "owner_from": "经营起", "owner_to": "经营止", "counted_months": "计入月份",
    "official_roles": "干部身份", "later": "后安置人员", "earlier": "先安置人员",
    "term_months": "期限（月）", "term_end": "期满日期", "retirement_age": "法定退休年龄",
    "retirement_date": "退休日期", "labour_ability": "劳动能力", "month_end": "月末日期",
    "reported": "上报数", "computed": "系统计算数", "difference": "差额", "pay_due_date": "应发放日期",
    "as_of": "审计基准日", "claimed": "申领金额（元）", "eligible_staff": "符合条件人数",
    "standard_per_person": "每人每月标准（元）", "on_roster_from": "在册起", "to": "止",
    "people_count": "人数", "days_recorded": "考勤记录天数", "counts_for_subsidy": "计入奖补",
    "required_days": "应出勤天数", "wage_due": "应发金额（元）", "left_before": "离岗日期",
    "starts_after": "下次上岗日期", "away_from": "外出日期", "away_until": "返回日期", "place": "务工地点",
    "days_present_recorded": "外出期间记录出勤天数", "insured_by": "参保单位", "employer": "单位",
    "credit_code": "统一社会信用代码", "amount": "金额（元）", "paid_on": "发放日期", "copies": "重复笔数",
    "baseline": "上年末基数", "shortfall": "缺口", "due_date": "应发放日期",
    "paid_after_due_date": "逾期后才发放（元）", "start_date": "开始", "end_date": "结束",
    "phone": "手机号", "count": "次数", "kind": "类别", "since": "起始", "precheck": "发放前校验编号",
    "precheck_file": "校验的工资发放表", "precheck_as_of": "校验日", "approved_by": "审批人",
    "approved_name": "审批签名", "approved_at": "审批时间", "verdict": "校验结果",
    "precheck_rules": "校验命中的规则", "precheck_reasons": "校验理由", "approved_amount": "批准发放（元）",
    "paid_over_approval": "超出审批发放（元）", "counted_for_subsidy": "计入奖补人数",
    "device_days_min": "最少代签天数（参数）", "device_people_min": "最少代签人数（参数）", "from": "起",
    "near_retirement_years": "距退休年限（参数）", "own_days": "本人出勤天数",
    "paid_after_term_from": "期满后发放起始", "paid_during_overlap": "重叠期间发放（元）",
    "paid_months_during_overlap": "重叠期间发放月数", "subsidy_claimed": "申领奖补（元）",
    "subsidy_standard": "奖补标准（元/人·月）", "co_signers": "同一手机签到的其他人员",
    "busy_days": "多人签到的日期", "others_out_of_scope": "其他人员",
    # reference keys (REF_KEYS): never shown, named for completeness
    "person_id": "人员记录号", "official_id": "干部名单记录号",
}
# Keys that tie a named person of the evidence to a row (persons.id, officials.id): used to judge
# whether the reader may see that person, never shown.
REF_KEYS = ("person_id", "official_id")
# Keys whose values are post codes (shown as 「保洁员（GW-001）」 where the reader's page names them).
POST_KEYS = ("post", "workshop")
OUT_OF_SCOPE = "（不在您的管辖范围）"
REDACTED = "管辖范围外人员"
BOOL = {True: "是", False: "否"}
SEX = {"M": "男", "F": "女"}


def label(key: str) -> str:
    return LABELS.get(key, key)


def show(value: Any, key: str = "") -> str:
    if value is None:
        return "—（无）"
    if isinstance(value, bool):
        return BOOL[value]
    if key == "sex":
        return SEX.get(value, value)
    if isinstance(value, float):
        return f"{value:.0%}" if 0 < value < 1 else f"{value:g}"
    return str(value)


def render(evidence: dict[str, Any]) -> list[dict]:
    """Rows ``{label, kind, …}``: kind ``text`` (value), ``list`` (values), ``table`` (columns, rows)
    or ``group`` (a nested dict as rows). Reference keys (``person_id``…) are left out. This shows
    everything the evidence holds: for a signed-in reader use ``for_reader``."""
    out = []
    for key, value in (evidence or {}).items():
        if key not in REF_KEYS:
            out.append(_item(key, value))
    return out


# ---- what one reader may see -----------------------------------------------------------------------

def is_person(value: Any) -> bool:
    """A named person in the evidence: a dict with a reference key, or with a name and a masked ID."""
    return isinstance(value, dict) and (any(k in value for k in REF_KEYS)
                                        or ("name" in value and ("id" in value or "id_masked" in value)))


def _mask(p: dict) -> str | None:
    return p.get("id_masked") or p.get("id")


def _key(p: dict) -> tuple:
    if p.get("person_id") is not None:
        return ("person", int(p["person_id"]))
    if p.get("official_id") is not None:
        return ("official", int(p["official_id"]))
    return ("named", p.get("name"), _mask(p))


def _people(value: Any, out: list[dict]) -> list[dict]:
    """Every named person anywhere in the evidence."""
    if is_person(value):
        out.append(value)
    if isinstance(value, dict):
        for v in value.values():
            _people(v, out)
    elif isinstance(value, list):
        for v in value:
            _people(v, out)
    return out


def _posts(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in POST_KEYS and isinstance(v, str):
                out.add(v)
            else:
                _posts(v, out)
    elif isinstance(value, list):
        for v in value:
            _posts(v, out)
    return out


def visible_people(people: list[dict], sc) -> set[tuple]:
    """The keys (``_key``) of the people the scope ``sc`` may see. A person is seen when in
    ``sc.persons()``; an official (干部名单, who may not be in the ledger) when their region is in
    the scope's regions (operators: when they see the finding at all — the official shares the
    household of the finding's person, who works for the operator's unit). Evidence written before
    the rules named ids is matched on name and masked ID: seen only if every match is in scope."""
    from sqlalchemy import and_, or_, select

    from models import Official, Person, db

    keys = {_key(p) for p in people}
    if sc.everything:
        return keys
    seen: set[tuple] = set()
    pids = sorted({k[1] for k in keys if k[0] == "person"})
    if pids:
        seen |= {("person", i) for i in db.session.scalars(
            select(Person.id).where(Person.id.in_(pids), sc.persons()))}
    oids = sorted({k[1] for k in keys if k[0] == "official"})
    if oids:
        seen |= {("official", i) for i in db.session.scalars(
            select(Official.id).where(Official.id.in_(oids), sc.officials()))}
    named = sorted({k[1:] for k in keys if k[0] == "named" and k[1] and k[2]})
    if named:
        match = or_(*[and_(Person.name == n, Person.id_masked == m) for n, m in named])
        rows = db.session.execute(select(Person.name, Person.id_masked, sc.persons().label("ok"))
                                  .where(match)).all()
        verdict: dict[tuple, bool] = {}
        for n, m, ok in rows:
            verdict[(n, m)] = verdict.get((n, m), True) and bool(ok)
        omatch = or_(*[and_(Official.name == n, Official.id_masked == m) for n, m in named])
        officials = {(n, m) for n, m in db.session.execute(
            select(Official.name, Official.id_masked).where(omatch, sc.officials()))}
        seen |= {("named", n, m) for n, m in named
                 if verdict.get((n, m)) or ((n, m) not in verdict and (n, m) in officials)}
    return seen


def post_names(codes: set[str]) -> dict[str, str]:
    """``{code: 「保洁员（GW-001）」 / 「白帝镇服装加工帮扶车间（CJ-01）」}`` for the codes that name a
    post."""
    from sqlalchemy import select

    from models import Position, Post, Workshop, db

    if not codes:
        return {}
    rows = db.session.execute(
        select(Post.code, Position.title, Workshop.name).outerjoin(Position, Position.id == Post.id)
        .outerjoin(Workshop, Workshop.id == Post.id).where(Post.code.in_(sorted(codes)))).all()
    return {code: f"{title or name}（{code}）" if (title or name) else code for code, title, name in rows}


def redact(text: str, hidden: list[dict]) -> str:
    """The text with every hidden person's name and masked ID taken out."""
    for p in hidden:
        name, mask = p.get("name") or "", _mask(p) or ""
        if name and mask:
            text = text.replace(f"{name}（{mask}）", REDACTED).replace(f"{name}（{mask}", f"{REDACTED}（")
        if mask:
            text = text.replace(mask, "****")
        if len(name) >= 2:
            text = text.replace(name, REDACTED)
    return text


def _filtered(value: Any, seen: set[tuple], names: dict[str, str], key: str = "") -> Any:
    if is_person(value) and _key(value) not in seen:
        return OUT_OF_SCOPE
    if isinstance(value, dict):
        return {k: _filtered(v, seen, names, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_filtered(v, seen, names, key) for v in value if not (is_person(v) and _key(v) not in seen)]
    if key in POST_KEYS and isinstance(value, str):
        return names.get(value, value)
    return value


@dataclass
class Shown:
    """A finding as one reader may see it: the evidence rows, the explanation, and how many named
    people were left out."""

    items: list[dict]
    explanation: str
    hidden: int


def for_reader(evidence: dict[str, Any] | None, explanation: str | None, sc, *, posts: bool = True) -> Shown:
    """The evidence and explanation of a finding for a reader of scope ``sc``: every named person
    outside the scope is dropped (「另有 N 人不在您的管辖范围」 says how many), and post codes read as
    their names (without ``posts``: left as codes, and no query is made for a finding that names no
    one — an export of many findings, whose rows carry the post's code in a column of its own)."""
    evidence = evidence or {}
    people = _people(evidence, [])
    seen = visible_people(people, sc) if people else set()
    hidden_people = {_key(p): p for p in people if _key(p) not in seen}
    names = post_names(_posts(evidence, set())) if posts else {}
    shown = {k: _filtered(v, seen, names, k) for k, v in evidence.items()}
    items = render(shown)
    if hidden_people:
        items.append({"label": label("others_out_of_scope"), "kind": "text",
                      "value": f"另有 {len(hidden_people)} 人不在您的管辖范围"})
    text = redact(explanation or "", list(hidden_people.values()))
    return Shown(items, name_posts(text, names), len(hidden_people))


def name_posts(text: str, names: dict[str, str]) -> str:
    """「在 GW-A1 没有一天出勤」 -> 「在 保洁员（GW-A1） 没有一天出勤」 (whole codes only, each once per
    place)."""
    import re

    named = {c: n for c, n in names.items() if n != c}
    if not named or not text:
        return text
    codes = sorted(named, key=len, reverse=True)
    alternatives = "|".join(re.escape(c) for c in codes)
    pattern = re.compile(r"(?<![A-Za-z0-9_-])(" + alternatives + r")(?![A-Za-z0-9_-])")
    return pattern.sub(lambda m: named[m.group(1)], text)


def _item(key: str, value: Any) -> dict:
    if isinstance(value, dict):
        return {"label": label(key), "kind": "group", "rows": render(value)}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            cols = [k for k in dict.fromkeys(k for v in value for k in v) if k not in REF_KEYS]
            rows = [[_cell(v.get(c), c) for c in cols] for v in value]
            return {"label": label(key), "kind": "table", "columns": [label(c) for c in cols], "rows": rows}
        return {"label": label(key), "kind": "list", "values": [show(v, key) for v in value] or ["（无）"]}
    return {"label": label(key), "kind": "text", "value": show(value, key)}


def _cell(value: Any, key: str) -> str:
    if isinstance(value, list):
        if not value:
            return "—（无）"
        if all(isinstance(v, dict) for v in value):
            return "；".join(_dict_text(v) for v in value)
        return "、".join(show(v, key) for v in value)
    if isinstance(value, dict):
        return _dict_text(value)
    return show(value, key)


def _dict_text(d: dict) -> str:
    """A nested dict in one line; a person reads 「李小花（500236********0022）」 first."""
    parts, rest = [], dict(d)
    if is_person(d) and d.get("name"):
        mask = _mask(d)
        parts.append(f"{d['name']}（{mask}）" if mask else d["name"])
        for k in ("name", "id", "id_masked"):
            rest.pop(k, None)
    parts += [f"{label(k)} {show(x, k)}" for k, x in rest.items() if k not in REF_KEYS]
    return "，".join(parts)
