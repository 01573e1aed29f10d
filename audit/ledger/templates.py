"""Blank templates of every table of a ledger bundle (shared/docs/ledger-format.md).

``write_templates(outdir)`` writes, for every table in ``schema.TABLES``, ``<name>.csv`` (UTF-8 with a
BOM, so Excel on Windows reads the Chinese headers) and ``<name>.xlsx``, plus one workbook
``台账模板.xlsx`` holding every table as a sheet after a sheet「说明」that explains the columns.

Every template carries sample rows built from ``Col.sample``, marked so that they can never be
live rows: codes (post, workshop, household) begin with ``示例-``, names with ``示例人员``, ID
numbers come from the reserved region 000000 (still valid: birth date and check character). The
importer refuses every row so marked (``schema.sample_mark``): an untouched template is refused as
a whole and changes nothing. Apart from the mark the sample rows are a valid bundle."""
from __future__ import annotations

import csv
import unicodedata
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from audit import vocab

from . import values as v
from .schema import (
    ID_SAMPLE_2,
    SAMPLE_CODE_KEYS,
    SAMPLE_ID_REGION,
    SAMPLE_NAME_KEYS,
    SAMPLE_PREFIX,
    TABLES,
    Col,
    TableSpec,
    categories,
)

WORKBOOK_NAME = "台账模板.xlsx"
README_SHEET = "说明"

REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")  # light yellow: a required column
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=12)
TEXT = "@"

# persons gets a second sample row: the workshop_staff sample (ID_SAMPLE_2) must be a person too.
EXTRA_SAMPLES: dict[str, list[dict[str, str]]] = {
    "persons": [{
        "id_number": ID_SAMPLE_2, "name": "李小花", "phone": "13900000000", "household_id": "H500236000002",
        "categories": "防止返贫监测对象", "labour_ability": "普通劳动力",
        "bank_account": "6228480000000000026",
    }],
}

# Closed vocabularies, by (table, column).
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("persons", "categories"): vocab.CATEGORIES,
    ("persons", "labour_ability"): vocab.LABOUR_ABILITY,
    ("positions", "kind"): vocab.POSITION_KINDS,
    ("attendance", "status"): vocab.ATTENDANCE_STATUS,
    ("attendance", "method"): vocab.CHECK_IN_METHODS,
    ("attendance", "verified"): vocab.VERIFY_RESULTS,
    ("pensions", "kind"): vocab.PENSION_KINDS,
    ("businesses", "role"): vocab.BUSINESS_ROLES,
    ("officials", "role"): vocab.OFFICIAL_ROLES,
    ("reports", "metric"): tuple(vocab.METRICS) + tuple(vocab.METRICS.values()),
}
VOCABULARY_NAMES = (
    ("人员类别", vocab.CATEGORIES),
    ("劳动能力", vocab.LABOUR_ABILITY),
    ("岗位类别", vocab.POSITION_KINDS),
    ("考勤状态", vocab.ATTENDANCE_STATUS),
    ("签到方式", vocab.CHECK_IN_METHODS),
    ("核验结果", vocab.VERIFY_RESULTS),
    ("养老金类别", vocab.PENSION_KINDS),
    ("工商登记身份", vocab.BUSINESS_ROLES),
    ("干部职务", vocab.OFFICIAL_ROLES),
    ("上报指标", tuple(f"{k}（{zh}）" for k, zh in vocab.METRICS.items())),
)

DATE_RULE = "日期：YYYY-MM-DD，也可 YYYY/MM/DD、YYYY.MM.DD、YYYY年M月D日"
MONTH_RULE = "月份：YYYY-MM，也可 YYYY/MM、YYYYMM、YYYY年M月"
TIME_RULE = "时间：HH:MM 或 HH:MM:SS"
MONEY_RULE = "金额（元），最多两位小数，如 1500、1500.00、1,500.00、¥1500"
LIST_RULE = "可填多个，用 ；、， 或 ; , 分隔"
FORMATS = {
    v.id_number: "18位公民身份号码，末位为数字或X（小写x亦可）；请按文本录入，勿让 Excel 转成数字",
    v.account: "银行账号，6至32位数字（空格和短横线会被去掉）；请按文本录入",
    v.credit_code: "18位统一社会信用代码",
    v.code: "编号，按文本录入",
    v.text: "文本",
    v.date: DATE_RULE,
    v.month: MONTH_RULE,
    v.time: TIME_RULE,
    v.money: MONEY_RULE,
    v.integer: "整数",
    v.decimal_x100: "数值，最多两位小数；人数类指标为整数，金额类指标以元为单位",
}
KEY_FORMATS = {  # columns whose parser says too little about what to type
    "phone": "手机号码，按文本录入",
    "device_id": "签到所用手机号或设备编号，按文本录入",
}
NOTES: dict = {  # by (table, column) or by column
    ("placements", "end_date"): "留空表示仍在岗",
    ("workshop_staff", "end_date"): "留空表示仍在职",
    ("migrant_work", "end_date"): "留空表示仍在外务工",
    "deregistered_on": "留空表示未注销",
    "required_days": "全额发放所需的月出勤天数，1至31，留空按20天",
    "monthly_wage": "元/月",
    "post_code": "公益性岗位编号或就业帮扶车间编号",
    "subject_code": "就业帮扶车间编号",
    "household_id": "同一户的成员填写相同的户编号",
    "bank_account": "本人登记的银行账号",
    "account_number": "实际收款的账号",
    "baseline_poverty_headcount": "上年末吸纳的脱贫人口（含防止返贫监测对象）人数",
}
# Tables whose rows reference others, shown in the explanation.
REFERENCES = {
    "placements": "身份证号须在人员信息中，岗位编号须在公益性岗位中",
    "workshop_staff": "车间编号须在就业帮扶车间中，身份证号须在人员信息中",
    "attendance": "身份证号须在人员信息中，编号须为已登记的岗位或车间",
    "wages": "身份证号须在人员信息中，编号须为已登记的岗位或车间",
    "reports": "填报主体编号须为已登记的就业帮扶车间",
}


def write_templates(outdir: Path) -> list[Path]:
    """Write the CSV and XLSX template of every table and the whole workbook; the paths written."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in TABLES:
        written.append(_write_csv(spec, outdir / f"{spec.name}.csv"))
        wb = Workbook()
        _fill_sheet(wb.active, spec)
        path = outdir / f"{spec.name}.xlsx"
        wb.save(path)
        written.append(path)
    wb = Workbook()
    _fill_readme(wb.active)
    for spec in TABLES:
        _fill_sheet(wb.create_sheet(), spec)
    path = outdir / WORKBOOK_NAME
    wb.save(path)
    written.append(path)
    return written


def sample_id(number: str) -> str:
    """An ID number of the reserved sample region: the same birth date and sequence, region 000000,
    the check character computed again (so it stays a valid number)."""
    from stdnum.cn import ric

    body = SAMPLE_ID_REGION + number[len(SAMPLE_ID_REGION):17]
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 of 18 characters


# The names of the sample people, by the name ``Col.sample`` gives them.
SAMPLE_NAMES = {"张三": f"{SAMPLE_PREFIX}人员甲", "李小花": f"{SAMPLE_PREFIX}人员乙",
                "李四": f"{SAMPLE_PREFIX}人员丙"}


def sample_value(key: str, value: str) -> str:
    """A sample cell, marked if its column carries the mark (``schema.sample_mark``)."""
    if not value:
        return value
    if key == "id_number":
        return sample_id(value)
    if key in SAMPLE_CODE_KEYS:
        return f"{SAMPLE_PREFIX}-{value}"
    if key in SAMPLE_NAME_KEYS:
        return SAMPLE_NAMES.get(value, f"{SAMPLE_PREFIX}{value}")
    return value


def sample_rows(spec: TableSpec) -> list[list[str]]:
    """The sample rows of a table, as strings in spec column order, marked as samples."""
    first = {c.key: c.sample for c in spec.columns}
    rows = [first, *({**first, **extra} for extra in EXTRA_SAMPLES.get(spec.name, []))]
    return [[sample_value(c.key, r[c.key]) for c in spec.columns] for r in rows]


# ---- CSV -------------------------------------------------------------------------------------

def _write_csv(spec: TableSpec, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow([c.zh for c in spec.columns])
        w.writerows(sample_rows(spec))
    return path


# ---- XLSX ------------------------------------------------------------------------------------

def _is_text(col: Col) -> bool:
    """Columns typed as text in Excel: everything but numbers, so IDs, accounts, codes, phones,
    dates and months stay exactly as typed (18-digit IDs never become floats)."""
    return col.parse not in (v.money, v.integer, v.decimal_x100)


def _number_format(col: Col) -> str:
    if col.parse is v.money:
        return "0.00"
    if col.parse is v.integer:
        return "0"
    return TEXT if _is_text(col) else "General"


def _cell_value(col: Col, sample: str):
    """A sample as an Excel cell: numbers as numbers, everything else as text."""
    if sample == "" or _is_text(col):
        return sample or None
    d = Decimal(sample)
    return int(d) if d == d.to_integral_value() else float(d)


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _fill_sheet(ws: Worksheet, spec: TableSpec) -> None:
    ws.title = spec.zh
    rows = sample_rows(spec)
    for i, col in enumerate(spec.columns, start=1):
        letter = get_column_letter(i)
        fmt = _number_format(col)
        dim = ws.column_dimensions[letter]
        dim.number_format = fmt  # the whole column, so rows typed later keep the format
        widest = max([_display_width(col.zh)] + [_display_width(r[i - 1]) for r in rows])
        dim.width = min(max(widest + 4, 10), 40)
        head = ws.cell(row=1, column=i, value=col.zh)
        head.font = HEADER_FONT
        head.number_format = TEXT
        head.alignment = Alignment(horizontal="center", vertical="center")
        if col.required:
            head.fill = REQUIRED_FILL
            comment = Comment("必填", "模板")
            comment.width, comment.height = 60, 20
            head.comment = comment
        for r, row in enumerate(rows, start=2):
            cell = ws.cell(row=r, column=i, value=_cell_value(col, row[i - 1]))
            cell.number_format = fmt
        choices = VOCABULARIES.get((spec.name, col.key))
        if choices and col.parse is not categories:  # a list cell holds several words: no dropdown
            dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                showErrorMessage=True, errorStyle="warning", errorTitle=col.zh,
                                error=f"{col.zh}应为：{'、'.join(choices)}")
            dv.add(f"{letter}2:{letter}1048576")
            ws.add_data_validation(dv)
    ws.freeze_panes = "A2"


def _explain(spec: TableSpec, col: Col) -> str:
    choices = VOCABULARIES.get((spec.name, col.key))
    if col.parse is categories:
        text = f"{LIST_RULE}；取值：{'、'.join(vocab.CATEGORIES)}（“4050”视同大龄失业人员）"
    elif col.key == "metric":
        text = "取值（英文或中文均可）：" + "、".join(f"{k}（{zh}）" for k, zh in vocab.METRICS.items())
    elif choices:
        text = "取值：" + "、".join(choices)
    else:
        text = KEY_FORMATS.get(col.key) or FORMATS.get(col.parse, "文本")
    note = NOTES.get((spec.name, col.key)) or NOTES.get(col.key)
    return f"{text}；{note}" if note else text


def _fill_readme(ws: Worksheet) -> None:
    ws.title = README_SHEET
    line = 1

    def put(*values, font=None, fill=None, wrap=False):
        nonlocal line
        for i, value in enumerate(values, start=1):
            cell = ws.cell(row=line, column=i, value=value)
            cell.number_format = TEXT
            cell.alignment = Alignment(vertical="top", wrap_text=wrap and i > 1)
            if font:
                cell.font = font
            if fill:
                cell.fill = fill
        line += 1

    put("台账模板说明", font=TITLE_FONT)
    for text in (
        "本工作簿每个工作表是一张台账表，工作表名即表名；第一行为表头，请勿修改或删除表头，列的顺序可以调整。",
        "也可把单张表另存为 CSV（UTF-8 或 GB18030 编码），文件名用英文表名，如 persons.csv，"
        "放在同一文件夹或 zip 中导入。",
        "各表中的示例行只用于说明填法，请删除后再填写正式数据：示例行的编号以「示例-」开头、姓名以「示例人员」开头、"
        "身份证号以 000000 开头，导入时凡带有这些标记的行都会被拒绝（未删除示例行的模板整体不能导入）。",
        "表头为浅黄色底色（批注“必填”）的列为必填列；必需表为人员信息、公益性岗位、安置台账，其余表可选。",
        "本工作表「说明」在导入时会被忽略。",
    ):
        put(text)
    line += 1
    put("通用格式", font=SECTION_FONT)
    for what, rule in (
        ("日期", DATE_RULE.split("：", 1)[1]),
        ("月份", MONTH_RULE.split("：", 1)[1]),
        ("时间", TIME_RULE.split("：", 1)[1]),
        ("金额", MONEY_RULE),
        ("多个取值", LIST_RULE + "（如人员类别）"),
        ("身份证号", "18位，出生日期和校验码须正确，末位可为X；请把该列设为文本，避免 Excel 转成科学计数法"),
        ("空单元格", "表示未知或未填写；离岗（离职、返回、注销）日期留空表示仍在岗（未返回、未注销）"),
    ):
        put(what, rule)
    line += 1

    put("表一览", font=SECTION_FONT)
    put("英文表名", "中文表名", "是否必需", "主键列", "说明", font=HEADER_FONT)
    for spec in TABLES:
        keys = "、".join(f"{spec.col(k).zh}（{k}）" for k in spec.key)
        kind = "比对数据" if spec.comparison else ""
        put(spec.name, spec.zh, "必需" if spec.required else "可选", keys,
            "；".join(x for x in (kind, REFERENCES.get(spec.name, "")) if x), wrap=True)
    line += 1

    put("各表的列", font=SECTION_FONT)
    for spec in TABLES:
        put(f"{spec.zh}（{spec.name}）", font=HEADER_FONT)
        put("中文表头", "英文列名", "必填/选填", "格式与取值", "示例", font=HEADER_FONT)
        for col in spec.columns:
            put(col.zh, col.key, "必填" if col.required else "选填", _explain(spec, col),
                sample_value(col.key, col.sample) or None,
                fill=REQUIRED_FILL if col.required else None, wrap=True)
        line += 1

    put("取值范围", font=SECTION_FONT)
    for name, values in VOCABULARY_NAMES:
        put(name, "、".join(values))

    for letter, width in zip("ABCDE", (26, 26, 12, 70, 24), strict=True):
        ws.column_dimensions[letter].width = width
