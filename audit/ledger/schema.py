"""The tables of a ledger bundle (shared/docs/ledger-format.md): columns, headers, parsers, keys.

This module is the single description of the import contract; the importer, the blank templates
and the documentation of the web upload all read it."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from audit import vocab

from . import values as v
from .values import CellError, nfkc


@dataclass(frozen=True)
class Col:
    key: str
    zh: str
    parse: Callable
    required: bool = False
    aliases: tuple[str, ...] = ()
    sample: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    zh: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    required: bool = False
    comparison: bool = False
    checks: tuple[Callable[[dict], tuple[str, str] | None], ...] = field(default=())

    def col(self, key: str) -> Col:
        return next(c for c in self.columns if c.key == key)

    @property
    def label(self) -> str:
        return f"{self.zh}({self.name})"


def categories(value) -> int:
    """人员类别 list -> bit mask over vocab.CATEGORIES. Unknown words are an error."""
    mask = 0
    for word in v._LIST_SEP.split(nfkc(v.text(value))):
        word = v.WHITESPACE.sub("", word)  # "大龄失业人员 (4050)" as ledger-format.md prints it
        if not word:
            continue
        word = vocab.CATEGORY_ALIASES.get(word, word)
        bit = vocab.CATEGORY_BIT.get(word)
        if bit is None:
            raise CellError(f"人员类别「{word}」不在规定的类别中（{'、'.join(vocab.CATEGORIES)}）")
        mask |= bit
    return mask


metric = v.choice({**{k: k for k in vocab.METRICS}, **{zh: k for k, zh in vocab.METRICS.items()}}, "指标")


def _end_after_start(start: str, end: str, what: str):
    def check(row: dict):
        if row.get(start) and row.get(end) and row[end] < row[start]:
            return end, f"{what}早于开始日期"
        return None

    return check


def _whole_number_metric(row: dict):
    m, x = row.get("metric"), row.get("value")
    if m and x is not None and m not in vocab.MONEY_METRICS and x % 100:
        return "value", "人数应为整数"
    return None


def _positive(key: str, what: str):
    def check(row: dict):
        if row.get(key) is not None and row[key] <= 0:
            return key, f"{what}应大于0"
        return None

    return check


def _required_days(row: dict):
    d = row.get("required_days")
    if d is not None and not 1 <= d <= 31:
        return "required_days", "月出勤天数应在1到31之间"
    return None


_GRID_SAMPLE = {1: "休", 2: "休", 3: "√", 4: "√", 5: "假", 6: "×"}  # 2025-02: Sat 1 … Thu 6
ID = Col("id_number", "身份证号", v.id_number, True, ("身份证号码", "公民身份号码"), "500236199001010013")
ID_SAMPLE_2 = "500236198505050022"

TABLES: tuple[TableSpec, ...] = (
    TableSpec("persons", "人员信息", (
        ID,
        Col("name", "姓名", v.text, True, sample="张三"),
        Col("phone", "联系电话", v.code, sample="13800000000"),
        Col("household_id", "户编号", v.code, sample="H500236000001"),
        Col("district", "区县", v.text, sample="奉节县"),
        Col("township", "乡镇街道", v.text, sample="白帝镇"),
        Col("village", "村社区", v.text, sample="白帝村"),
        Col("categories", "人员类别", categories, sample="脱贫人口;残疾人"),
        Col("labour_ability", "劳动能力", v.choice(vocab.LABOUR_ABILITY, "劳动能力"), sample="弱劳动力"),
        Col("bank_account", "银行账号", v.account, sample="6228480000000000018"),
    ), key=("id_number",), required=True),
    TableSpec("positions", "公益性岗位", (
        Col("position_code", "岗位编号", v.code, True, sample="GW500236-0001"),
        Col("title", "岗位名称", v.text, True, sample="保洁员"),
        Col("kind", "岗位类别", v.choice(vocab.POSITION_KINDS, "岗位类别"), True, sample="乡村公益性岗位"),
        Col("employer", "用工单位", v.text, True, sample="白帝村村民委员会"),
        Col("district", "区县", v.text, True, sample="奉节县"),
        Col("township", "乡镇街道", v.text, sample="白帝镇"),
        Col("village", "村社区", v.text, sample="白帝村"),
        Col("monthly_wage", "月补贴标准", v.money, True, sample="800.00"),
        Col("required_days", "月出勤天数", v.integer, sample="20"),
        Col("created_on", "开发日期", v.date, sample="2024-01-01"),
    ), key=("position_code",), required=True,
        checks=(_positive("monthly_wage", "月补贴标准"), _required_days)),
    TableSpec("placements", "安置台账", (
        ID,
        Col("position_code", "岗位编号", v.code, True, sample="GW500236-0001"),
        Col("start_date", "上岗日期", v.date, True, sample="2024-01-01"),
        Col("end_date", "离岗日期", v.date),
    ), key=("id_number", "position_code", "start_date"), required=True,
        checks=(_end_after_start("start_date", "end_date", "离岗日期"),)),
    TableSpec("workshops", "就业帮扶车间", (
        Col("workshop_code", "车间编号", v.code, True, sample="CJ500236-001"),
        Col("name", "车间名称", v.text, True, sample="白帝镇服装加工帮扶车间"),
        Col("operator", "经营主体", v.text, True, sample="奉节县白帝服饰有限公司"),
        Col("credit_code", "统一社会信用代码", v.credit_code, sample="91500236MA5U0000X6"),
        Col("district", "区县", v.text, True, sample="奉节县"),
        Col("township", "乡镇街道", v.text, sample="白帝镇"),
        Col("village", "村社区", v.text, sample="白帝村"),
        Col("certified_on", "认定日期", v.date, sample="2023-06-01"),
        Col("baseline_poverty_headcount", "上年末吸纳脱贫人口数", v.integer, sample="1"),
    ), key=("workshop_code",)),
    TableSpec("workshop_staff", "车间用工花名册", (
        Col("workshop_code", "车间编号", v.code, True, sample="CJ500236-001"),
        Col("id_number", "身份证号", v.id_number, True, ID.aliases, ID_SAMPLE_2),
        Col("start_date", "入职日期", v.date, True, sample="2024-03-01"),
        Col("end_date", "离职日期", v.date),
        Col("monthly_wage", "月工资", v.money, sample="2500.00"),
    ), key=("workshop_code", "id_number", "start_date"),
        checks=(_end_after_start("start_date", "end_date", "离职日期"),)),
    TableSpec("attendance", "考勤记录", (
        ID,
        Col("post_code", "岗位或车间编号", v.code, True, sample="GW500236-0001"),
        Col("work_date", "日期", v.date, True, sample="2025-01-02"),
        Col("status", "考勤状态", v.choice(vocab.ATTENDANCE_STATUS, "考勤状态"), True, sample="出勤"),
        Col("check_in_time", "签到时间", v.time, sample="08:05"),
        Col("method", "签到方式", v.choice(vocab.CHECK_IN_METHODS, "签到方式"), sample="人脸识别"),
        Col("device_id", "签到设备", v.code, sample="KQJ-BAIDI-01"),
        Col("verified", "核验结果", v.choice(vocab.VERIFY_RESULTS, "核验结果"), sample="通过"),
    ), key=("id_number", "post_code", "work_date")),
    TableSpec("attendance_grid", "考勤表", (
        ID,
        Col("post_code", "岗位或车间编号", v.code, True, sample="GW500236-0001"),
        Col("month", "月份", v.month, True, sample="2025-02"),
        Col("name", "姓名", v.text, sample="张三"),
        *(Col(f"d{n}", f"{n}日", str, aliases=(str(n), f"{n:02d}", f"{n}号"), sample=_GRID_SAMPLE.get(n, ""))
          for n in range(1, 32)),
    ), key=()),
    TableSpec("wages", "工资发放", (
        ID,
        Col("post_code", "岗位或车间编号", v.code, True, sample="GW500236-0001"),
        Col("period", "所属月份", v.month, True, sample="2025-01"),
        Col("amount", "发放金额", v.signed_money, True, sample="40.00"),
        Col("paid_on", "发放日期", v.date, True, sample="2025-02-10"),
        Col("account_number", "收款账号", v.account, sample="6228480000000000018"),
        Col("account_name", "收款户名", v.text, sample="张三"),
        Col("batch", "发放批次", v.code, sample="2025-01-1"),
    ), key=("id_number", "post_code", "period", "paid_on", "amount")),
    TableSpec("reports", "上报数据", (
        Col("subject_code", "填报主体编号", v.code, True, sample="CJ500236-001"),
        Col("period", "所属月份", v.month, True, sample="2025-01"),
        Col("metric", "指标", metric, True, sample="total_headcount"),
        Col("value", "数值", v.decimal_x100, True, sample="1"),
    ), key=("subject_code", "period", "metric"), checks=(_whole_number_metric,)),
    TableSpec("deaths", "死亡人员", (
        ID,
        Col("death_date", "死亡日期", v.date, True, sample="2025-06-30"),
    ), key=("id_number",), comparison=True),
    TableSpec("social_insurance", "社保缴费", (
        ID,
        Col("period", "缴费月份", v.month, True, sample="2025-01"),
        Col("employer", "参保单位", v.text, True, sample="白帝村村民委员会"),
        Col("employer_credit_code", "单位统一社会信用代码", v.credit_code),
    ), key=("id_number", "period", "employer"), comparison=True),
    TableSpec("pensions", "养老金领取", (
        ID,
        Col("kind", "养老金类别", v.choice(vocab.PENSION_KINDS, "养老金类别"), True,
            sample="城乡居民基本养老保险"),
        Col("since", "领取起始日期", v.date, True, sample="2020-01-01"),
    ), key=("id_number", "kind"), comparison=True),
    TableSpec("businesses", "工商登记", (
        ID,
        Col("company_name", "企业名称", v.text, True, sample="奉节县某某商贸有限公司"),
        Col("role", "身份", v.choice(vocab.BUSINESS_ROLES, "身份"), True, sample="股东"),
        Col("registered_on", "登记日期", v.date, True, sample="2019-05-01"),
        Col("deregistered_on", "注销日期", v.date),
    ), key=("id_number", "company_name", "role"), comparison=True,
        checks=(_end_after_start("registered_on", "deregistered_on", "注销日期"),)),
    TableSpec("officials", "干部名单", (
        Col("id_number", "身份证号", v.id_number, True, ID.aliases, "500236197003030035"),
        Col("name", "姓名", v.text, True, sample="李四"),
        Col("role", "职务", v.choice(vocab.OFFICIAL_ROLES, "职务"), True, sample="村委会主任"),
        Col("unit", "单位", v.text, sample="白帝村村民委员会"),
        Col("district", "区县", v.text, sample="奉节县"),
        Col("township", "乡镇街道", v.text, sample="白帝镇"),
        Col("village", "村社区", v.text, sample="白帝村"),
        Col("household_id", "户编号", v.code, sample="H500236000099"),
    ), key=("id_number", "role"), comparison=True),
    TableSpec("migrant_work", "外出务工", (
        ID,
        Col("start_date", "外出日期", v.date, True, sample="2023-02-01"),
        Col("end_date", "返回日期", v.date, sample="2023-12-20"),
        Col("place", "务工地点", v.text, sample="广东省东莞市"),
    ), key=("id_number", "start_date"), comparison=True,
        checks=(_end_after_start("start_date", "end_date", "返回日期"),)),
)


# ---- replaces: what a correction bundle is the complete record of ----------------------------------
# (ledger-format.md, "Corrections: replacing what a bundle covers")

REPLACEABLE = ("placements", "workshop_staff", "attendance", "wages", "reports", "deaths", "social_insurance",
               "pensions", "businesses", "officials", "migrant_work")
PERIOD_REQUIRED = ("attendance", "wages", "reports", "social_insurance")
_BY_ANY_NAME = {**{t.name: t.name for t in TABLES if t.name in REPLACEABLE},
                **{t.zh: t.name for t in TABLES if t.name in REPLACEABLE}}


def _replaced_table(value) -> str:
    name = v.WHITESPACE.sub("", nfkc(v.text(value)))
    found = _BY_ANY_NAME.get(name.lower()) or _BY_ANY_NAME.get(name)
    if found is None:
        spec = table_for(name)
        if spec is not None and spec.name in REPLACEABLE:
            return spec.name
        listed = "、".join(f"{t.zh}({t.name})" for t in TABLES if t.name in REPLACEABLE)
        raise CellError(f"「{name}」不是可替换的表；可替换：{listed}")
    return found


def _replaces_period(row: dict):
    if row.get("table") in PERIOD_REQUIRED and row.get("period_from") is None:
        return "period_from", f"替换{BY_NAME_ZH[row['table']]}须填写起始月份（YYYY-MM）"
    if row.get("period_to") is not None and row.get("period_from") is None:
        return "period_from", "填写了截止月份，也须填写起始月份（YYYY-MM）"
    if row.get("period_from") and row.get("period_to") and row["period_to"] < row["period_from"]:
        return "period_to", "截止月份早于起始月份"
    if row.get("township") and not row.get("district"):
        return "district", "填写了乡镇街道，也须填写区县（不同区县可能有同名乡镇）"
    return None


REPLACES = TableSpec("replaces", "替换范围", (
    Col("table", "表", _replaced_table, True, sample="wages"),
    Col("period_from", "起始月份", v.month, sample="2025-01"),
    Col("period_to", "截止月份", v.month, sample="2025-01"),
    Col("district", "区县", v.text, sample="奉节县"),
    Col("township", "乡镇街道", v.text, sample="白帝镇"),
    # the sample names a post: its code carries the sample mark, so that an untouched template never deletes
    Col("post_code", "岗位或车间编号", v.code, sample="GW500236-0001"),
), key=(), checks=(_replaces_period,))
TABLES = (*TABLES, REPLACES)  # last: applied after every other table of the bundle is loaded

BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}
BY_NAME_ZH = {t.name: t.zh for t in TABLES}

# ---- template sample rows --------------------------------------------------------------------
# The sample rows of the blank templates (templates.py) carry a mark that no live row can carry, and
# the importer refuses every row with it: an untouched template changes nothing. The mark: codes
# (post, workshop, household) and names begin with 示例; ID numbers are issued by region 000000,
# which no real one is (no province code 00), yet they stay valid (birth date, check character).
SAMPLE_PREFIX = "示例"
SAMPLE_ID_REGION = "000000"
SAMPLE_CODE_KEYS = frozenset({"position_code", "workshop_code", "post_code", "subject_code", "household_id"})
SAMPLE_NAME_KEYS = frozenset({"name", "account_name"})


@lru_cache(maxsize=1 << 16)
def sample_mark(key: str, value) -> bool:
    """Whether a raw cell of column ``key`` carries the template sample mark (cached: the importer
    asks once per distinct value of a chunk, and a column's values repeat from chunk to chunk)."""
    if key not in SAMPLE_CODE_KEYS and key not in SAMPLE_NAME_KEYS and key != "id_number":
        return False
    if not isinstance(value, str):
        return False  # numbers, dates: never a sample's code, name or ID number (those are text)
    text = v.WHITESPACE.sub("", nfkc(v.strip_controls(value)))
    if key == "id_number":
        return text.startswith(SAMPLE_ID_REGION)
    return text.startswith(SAMPLE_PREFIX)


SAMPLE_KEYS = SAMPLE_CODE_KEYS | SAMPLE_NAME_KEYS | {"id_number"}
REQUIRED_TABLES = tuple(t.name for t in TABLES if t.required)


# ledger-format.md, "Sheet and file names": a table is also its Chinese name with one of these after it
NAME_SUFFIXES = ("表", "名单", "清单", "台账", "明细")


def table_for(name: str) -> TableSpec | None:
    """A table by its English or Chinese name (file stem or sheet name), the Chinese name also with
    a suffix officials add (死亡人员名单, 工资发放明细); spaces are ignored."""
    key = v.WHITESPACE.sub("", nfkc(name))
    for t in TABLES:
        if key.lower() == t.name or key == t.zh:
            return t
    for t in TABLES:
        if key.startswith(t.zh) and key[len(t.zh):] in NAME_SUFFIXES:
            return t
    return None


# ledger-format.md, "Header spelling": line breaks and any white space, a unit in brackets
# (月工资（元）, 发放金额(元)) and a leading * (the required-field mark) do not change a column's name
_BRACKETED = re.compile(r"[(\[【〔<《][^)\]】〕>》]*[)\]】〕>》]")
IGNORED = "#"  # what ``header_key`` returns for a 序号 column: read past, without a warning
IGNORED_HEADERS = frozenset({"序号", "序", "no", "no."})


def header_text(header) -> str:
    """A header cell as columns are matched: NFKC, controls and white space gone, brackets and a
    leading * removed."""
    if isinstance(header, float) and header.is_integer():
        header = int(header)  # a day column headed by the number 1.0
    h = v.WHITESPACE.sub("", nfkc(v.strip_controls(str(header))))
    h = _BRACKETED.sub("", h).lstrip("*")
    return h


def header_key(spec: TableSpec, header) -> str | None:
    """The canonical key of a header cell (English key or Chinese header, spelled as ``header_text``
    says), ``IGNORED`` for a 序号 column, None if it names no column of the table."""
    h = header_text(header)
    for c in spec.columns:
        if h.lower() == c.key or h == c.zh or h in c.aliases:
            return c.key
    if h.lower() in IGNORED_HEADERS:
        return IGNORED
    return None
