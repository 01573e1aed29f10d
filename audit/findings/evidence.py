"""Evidence of a finding in plain Chinese: labels for the keys the rules write, and a renderer that
turns nested evidence (lists of payments, devices, people…) into rows and small tables."""
from __future__ import annotations

from typing import Any

LABELS = {
    "period": "所属月份", "month": "月份", "post": "岗位/车间", "post_kind": "岗位类别", "post_unit": "用工单位",
    "ledger": "依据台账", "holdings_on_post": "该岗位在岗记录数", "paid": "发放金额（元）", "payments": "发放笔数",
    "last_paid_on": "最后发放日期", "first_paid_on": "首次发放日期", "monthly_wage": "月补贴标准（元）",
    "largest_payment": "最大单笔（元）", "payments_above_standard": "超标准笔数", "excess": "多发金额（元）",
    "tolerance": "容差（元）", "people_paid": "领取人数", "periods_count": "发放月数", "first_period": "首个月份",
    "last_period": "最后月份", "attendance_records": "考勤记录数", "rule_not_judged": "无法判定的规则",
    "workshop": "车间", "staff_on_roster_ever": "花名册人数（历史）", "baseline_poverty_headcount": "上年末吸纳脱贫人口数",
    "household": "户编号", "placements": "安置记录", "officials": "干部", "face_checks": "人脸识别次数",
    "face_failed": "人脸核验不通过次数", "failed_share": "不通过比例", "days_present": "出勤天数",
    "face_fail_min": "最少不通过次数（参数）", "face_fail_ratio": "不通过比例阈值（参数）", "devices": "签到设备",
    "device": "设备/手机号", "days": "日期", "date": "日期", "people": "人员", "person_name": "本人姓名",
    "accounts": "收款账户", "account": "账号", "account_name": "户名", "others": "同一账户的其他人员",
    "id": "身份证号", "id_masked": "身份证号", "name": "姓名", "role": "职务/身份", "unit": "单位",
    "death_date": "死亡日期", "days_present_after_death": "死亡后出勤天数", "dates": "日期",
    "holding": "在岗期间", "start": "起", "end": "止", "judged_until": "判定截至", "paid_months": "发放月数",
    "categories": "人员类别", "qualifying_categories": "符合条件的类别", "birth_month": "出生年月", "sex": "性别",
    "age_at_start": "上岗时年龄", "age_min": "最低年龄", "age_max": "最高年龄", "pensions": "养老金",
    "pension_since": "领取起始", "counted_from_month": "计算起始月", "businesses": "工商登记",
    "owner_from": "经营起", "owner_to": "经营止", "counted_months": "计入月份", "official_roles": "干部身份",
    "later": "后安置人员", "earlier": "先安置人员", "term_months": "期限（月）", "term_end": "期满日期",
    "retirement_age": "法定退休年龄", "retirement_date": "退休日期", "labour_ability": "劳动能力",
    "month_end": "月末日期", "reported": "上报数", "computed": "系统计算数", "difference": "差额",
    "pay_due_date": "应发放日期", "as_of": "审计基准日", "claimed": "申领金额（元）", "eligible_staff": "符合条件人数",
    "standard_per_person": "每人每月标准（元）", "on_roster_from": "在册起", "to": "止", "people_count": "人数",
    "days_recorded": "考勤记录天数", "counts_for_subsidy": "计入奖补", "required_days": "应出勤天数",
    "wage_due": "应发金额（元）", "left_before": "离岗日期", "starts_after": "下次上岗日期", "away_from": "外出日期",
    "away_until": "返回日期", "place": "务工地点", "days_present_recorded": "外出期间记录出勤天数",
    "insured_by": "参保单位", "employer": "单位", "credit_code": "统一社会信用代码", "amount": "金额（元）",
    "paid_on": "发放日期", "copies": "重复笔数", "baseline": "上年末基数", "shortfall": "缺口",
    "due_date": "应发放日期", "paid_after_due_date": "逾期后才发放（元）", "start_date": "开始", "end_date": "结束",
    "phone": "手机号", "count": "次数", "kind": "类别", "since": "起始",
    "counted_for_subsidy": "计入奖补人数", "device_days_min": "最少代签天数（参数）",
    "device_people_min": "最少代签人数（参数）", "from": "起", "near_retirement_years": "距退休年限（参数）",
    "own_days": "本人出勤天数", "paid_after_term_from": "期满后发放起始", "paid_during_overlap": "重叠期间发放（元）",
    "paid_months_during_overlap": "重叠期间发放月数", "subsidy_claimed": "申领奖补（元）",
    "subsidy_standard": "奖补标准（元/人·月）",
}
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
    or ``group`` (a nested dict as rows)."""
    out = []
    for key, value in (evidence or {}).items():
        out.append(_item(key, value))
    return out


def _item(key: str, value: Any) -> dict:
    if isinstance(value, dict):
        return {"label": label(key), "kind": "group", "rows": render(value)}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            cols = list(dict.fromkeys(k for v in value for k in v))
            rows = [[_cell(v.get(c), c) for c in cols] for v in value]
            return {"label": label(key), "kind": "table", "columns": [label(c) for c in cols], "rows": rows}
        return {"label": label(key), "kind": "list", "values": [show(v, key) for v in value] or ["（无）"]}
    return {"label": label(key), "kind": "text", "value": show(value, key)}


def _cell(value: Any, key: str) -> str:
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "；".join("，".join(f"{label(k)} {show(x, k)}" for k, x in v.items()) for v in value)
        return "、".join(show(v, key) for v in value)
    if isinstance(value, dict):
        return "，".join(f"{label(k)} {show(x, k)}" for k, x in value.items())
    return show(value, key)
