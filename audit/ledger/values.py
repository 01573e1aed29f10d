"""Cell parsers for the ledger format. Each takes a cell (``str`` from CSV; ``str``, ``int``,
``float``, ``datetime``, ``date`` or ``time`` from Excel) and returns the stored value, or raises
``CellError`` with a reason in Chinese. Empty cells never reach them."""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from models.types import CONTROL_CHARS_ALL


class CellError(ValueError):
    """A bad cell; ``str(exc)`` is the reason shown to the user."""


def nfkc(text: str) -> str:
    if text.isascii():  # NFKC leaves ASCII as it is (codes, ID and account numbers, dates)
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


_BREAKS_INSIDE = re.compile(r"(?<=\S)[\t\r\n]+(?=\S)")
WHITESPACE = re.compile(r"\s+")  # removed from names, codes and headers for matching
_ACCOUNT_SEPARATORS = re.compile(r"[\s\-]")
_ACCOUNT = re.compile(r"[0-9]{6,32}")


TEXT_MAX = 128  # the widest text column of the ledger tables


def has_controls(value) -> bool:
    """Whether a cell holds invisible control or format characters (Unicode Cc, Cf: bidi
    overrides and isolates, zero-width characters, NUL, tab, line breaks …)."""
    return value.__class__ is str and CONTROL_CHARS_ALL.search(value) is not None


def strip_controls(value):
    """A cell without its control and format characters. No ledger field is multi-line: tab and
    line breaks go too (one between words becomes a space)."""
    if value.__class__ is not str or CONTROL_CHARS_ALL.search(value) is None:
        return value
    return CONTROL_CHARS_ALL.sub("", _BREAKS_INSIDE.sub(" ", value))


def text(value) -> str:
    """Text cell. Excel numbers that are whole become digits without ``.0`` (codes, phones).
    Control and format characters are removed (the importer removes them first and says so)."""
    if isinstance(value, str):
        s = strip_controls(value).strip()
    elif isinstance(value, bool):
        s = str(value)
    elif isinstance(value, float) and value.is_integer():
        s = str(int(value))
    elif isinstance(value, (dt.datetime, dt.date)):
        raise CellError("应为文本，不是日期")
    else:
        s = str(value).strip()
    if len(s) > TEXT_MAX:
        raise CellError(f"内容过长（{len(s)}个字符），最多{TEXT_MAX}个字符")
    return s


def within(parse: Callable[[object], str], width: int) -> Callable[[object], str]:
    """``parse`` (``text``, ``code``), refusing a result wider than the column it is stored in
    (PostgreSQL enforces the width and would end the import; SQLite does not)."""

    def parse_within(value) -> str:
        s = parse(value)
        if len(s) > width:
            raise CellError(f"内容过长（{len(s)}个字符），最多{width}个字符")
        return s

    return parse_within


def name_key(name: str) -> str:
    """A name for matching: Unicode NFKC, all white space removed (rules.md, "Name match")."""
    return WHITESPACE.sub("", name if name.isascii() else unicodedata.normalize("NFKC", name))


def code(value) -> str:
    """Codes (岗位编号, 车间编号, 户编号): text, half-width, no surrounding spaces."""
    return nfkc(text(value))


# ---- identity -------------------------------------------------------------------------------

_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII digits: \d would take Arabic-Indic ones too


@lru_cache(maxsize=1 << 16)
def id_number(value) -> str:
    """公民身份号码 per GB 11643-1999: 18 characters, a real birth date, the right check character.
    A lower-case x is accepted and stored as X.

    Cached (a good number only: an exception is never cached): a bundle names each person in the
    roster, the attendance, the wages and the comparison lists, 27,000 checks for 10,000 persons."""
    if isinstance(value, (int, float)):
        raise CellError("身份证号被 Excel 存成了数字（已丢失末位精度），请把该列设为文本后重新录入")
    number = nfkc(str(value)).upper()
    if len(number) != 18:
        raise CellError(f"身份证号应为18位，实为{len(number)}位")
    if not _ID_SHAPE.match(number):
        raise CellError("身份证号前17位应为数字，末位应为数字或X")
    try:  # (the shape is checked: stdnum's get_birth_date would clean the number again, a third of the time)
        born = id_facts(number)[0]
    except ValueError:
        raise CellError("身份证号中的出生日期不存在") from None
    if born.year < 1900 or born > dt.date.today():
        raise CellError("身份证号中的出生日期不合理")
    check = ric.calc_check_digit(number)
    if number[-1] != check:
        raise CellError(f"身份证号校验码错误，按前17位应为 {check}")
    return number


def id_facts(number: str) -> tuple[dt.date, str, str]:
    """Birth date, sex ('M'/'F') and issuing region of a valid ID number."""
    born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return born, ("M" if int(number[16]) % 2 else "F"), number[:6]


def credit_code(value) -> str:
    """统一社会信用代码 (GB 32100-2015): 18 characters with a check character."""
    number = nfkc(text(value)).upper()
    try:
        return uscc.validate(number)
    except ValidationError:
        raise CellError("统一社会信用代码无效（长度、字符或校验码错误）") from None


def account(value) -> str:
    """Bank account number: digits (spaces and dashes removed)."""
    if isinstance(value, float):
        raise CellError("银行账号被 Excel 存成了数字（已丢失精度），请把该列设为文本后重新录入")
    number = _ACCOUNT_SEPARATORS.sub("", nfkc(text(value)))
    if not _ACCOUNT.fullmatch(number):
        raise CellError("银行账号应为6至32位数字")
    return number


# ---- dates, months, times -------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|年(\d{1,2})月(\d{1,2})日?)$")
_MONTH = re.compile(r"^(\d{4})(?:[-/.]?(\d{1,2})|年(\d{1,2})月?)$")
# 2025-04 typed into a cell Excel made a date, saved as CSV: the first of the month, 2025/4/1 (0:00)
_MONTH_AS_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.]0?1(?:\s+0{1,2}:00(?::00)?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel counts a 1900-02-29 that never was)
SERIAL_FIRST, SERIAL_LAST = 367, 73050  # 1901-01-01 … 2099-12-31: a ledger's dates, not a count or a code


def date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # ledger-format.md ("Excel number cells"): a number in a date column is an Excel serial date
        # (a date cell whose format was set to General or 常规); a time of day in it is dropped
        if not math.isfinite(value) or not SERIAL_FIRST <= value < SERIAL_LAST + 1:
            shown = int(value) if math.isfinite(value) and float(value).is_integer() else value
            raise CellError(f"日期列中的数字 {shown} 不是有效的 Excel 日期："
                            "请写作 YYYY-MM-DD（如 2025-10-08）")
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    s = nfkc(text(value)) if not isinstance(value, str) else nfkc(value)
    m = _DATE.match(s)
    if not m:
        raise CellError("日期格式应为 YYYY-MM-DD（也可 YYYY/MM/DD、YYYY.MM.DD、YYYY年M月D日）")
    y, mo, d = m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5)
    try:
        return dt.date(int(y), int(mo), int(d))
    except ValueError:
        raise CellError("日期不存在") from None


def month(value) -> dt.date:
    """A period, stored as the first day of the month."""
    if isinstance(value, (dt.datetime, dt.date)):
        return dt.date(value.year, value.month, 1)
    if isinstance(value, float) and not value.is_integer():
        # 2025.10 typed into a General cell is stored as the number 2025.1: October and January are
        # one number there. Never guessed (one such workbook gave 1,247 false findings): a row error.
        raise CellError(f"月份被 Excel 存成了数字 {value:g}，无法分辨是哪个月（2025.10 会变成 2025.1）："
                        "请把该列设为文本，写作 YYYY-MM（如 2025-10）")
    if isinstance(value, (int, float)) and float(value).is_integer():
        value = str(int(value))  # 202501 typed as a number
    s = nfkc(text(value))
    if (m := _MONTH_AS_DATE.match(s)) and 1 <= int(m.group(2)) <= 12:
        return dt.date(int(m.group(1)), int(m.group(2)), 1)
    m = _MONTH.match(s)
    if not m or (m.group(2) is None and m.group(3) is None):
        raise CellError("月份格式应为 YYYY-MM（也可 YYYY/MM、YYYYMM、YYYY年M月）")
    mo = int(m.group(2) or m.group(3))
    if s[4:5].isdigit() and len(s) != 6:  # YYYYMM must be exactly six digits
        raise CellError("月份格式应为 YYYY-MM（也可 YYYY/MM、YYYYMM、YYYY年M月）")
    if not 1 <= mo <= 12:
        raise CellError("月份不存在")
    return dt.date(int(m.group(1)), mo, 1)


def time(value) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time().replace(microsecond=0)
    if isinstance(value, dt.time):
        return value.replace(microsecond=0)
    if isinstance(value, float) and 0 <= value < 1:  # an Excel time fraction
        seconds = min(round(value * 86400), 86399)  # 23:59:59.6 is not 24:00
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    m = _TIME.match(nfkc(text(value)))
    if not m:
        raise CellError("时间格式应为 HH:MM 或 HH:MM:SS")
    try:
        return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    except ValueError:
        raise CellError("时间不存在") from None


# ---- numbers --------------------------------------------------------------------------------

_MONEY = re.compile(r"^[¥￥]?\s*(-?)\s*[¥￥]?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*(?:元)?$")


# More than this is a typo, and would not fit a 64-bit column as fen anyway (nor 1e400 at all).
MONEY_MAX_FEN = 10**14 - 1  # 999,999,999,999.99 yuan
INTEGER_MAX = 999_999_999  # headcounts and days; fits a 32-bit column
# ledger-format.md ("Excel number cells"): a number within half a fen of a two-decimal value is that
# value (800.0000000000001, what formulas leave); exactly half a fen away (12.345) is a row error
HALF_FEN = Decimal("0.005")


def signed_money(value) -> int:
    """A payment's amount: ``money``, or a negative amount (a reversal, 冲正)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return -money(-value)
    if isinstance(value, str):
        s = nfkc(value).replace("，", ",").replace(" ", "")
        for sign in ("-", "−"):
            if s.startswith(sign) or s[:1] in "¥￥" and s[1:2] == sign:
                return -money(s.replace(sign, "", 1))
    return money(value)


def money(value, what: str = "金额") -> int:
    """Yuan with up to two decimals -> integer fen. Negative amounts are refused."""
    too_big = CellError(f"{what}过大（最多 {MONEY_MAX_FEN // 100:,}.99），请检查是否多输了数字")
    if isinstance(value, bool):
        raise CellError("金额格式错误")
    if isinstance(value, int):
        fen = value * 100
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CellError("金额格式错误")
        if abs(value) * 100 > MONEY_MAX_FEN:
            raise too_big
        d = Decimal(repr(value))
        cents = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if abs(d - cents) >= HALF_FEN:  # 800.0000000000001 -> 800.00; 12.345 is refused
            raise CellError("金额最多两位小数")
        fen = int(cents * 100)
    else:
        s = value if isinstance(value, str) else text(value)
        m = _MONEY.match(nfkc(s).replace("，", ","))
        if not m:
            raise CellError("金额格式错误，应为元，最多两位小数（如 1500、1500.00、1,500.00、¥1500）")
        whole = m.group(2).replace(",", "").lstrip("0")
        if len(whole) > len(str(MONEY_MAX_FEN // 100)):  # before int(): a cell may hold thousands of digits
            raise too_big
        fen = int(whole or "0") * 100 + int((m.group(3) or "0").ljust(2, "0"))
        if m.group(1):
            fen = -fen
    if fen < 0:
        raise CellError("金额不能为负数")
    if fen > MONEY_MAX_FEN:
        raise too_big
    return fen


def decimal_x100(value) -> int:
    """A reported figure with up to two decimals, ×100 exactly."""
    return money(value, "数值")


def integer(value) -> int:
    if isinstance(value, bool):
        raise CellError("应为整数")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        s = nfkc(text(value))
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise CellError("应为整数") from None
        if not d.is_finite() or d != d.to_integral_value():
            raise CellError("应为整数")
        if d.adjusted() >= len(str(INTEGER_MAX)):  # before int(): int(Decimal("1e999999999")) takes hours
            raise CellError(f"数值过大（应在 ±{INTEGER_MAX:,} 之间）")
        n = int(d)
    if abs(n) > INTEGER_MAX:
        raise CellError(f"数值过大（应在 ±{INTEGER_MAX:,} 之间）")
    return n


def choice(options: tuple[str, ...] | dict[str, str], label: str):
    """A parser for a closed vocabulary (full-width/half-width and spaces ignored)."""
    table = ({nfkc(o): o for o in options} if not isinstance(options, dict)
             else {nfkc(k): v for k, v in options.items()})
    listed = "、".join(dict.fromkeys(options.values() if isinstance(options, dict) else options))

    def parse(value) -> str:
        key = nfkc(text(value))
        try:
            return table[key]
        except KeyError:
            raise CellError(f"{label}「{key}」不在允许的取值中（{listed}）") from None

    return parse


_LIST_SEP = re.compile(r"[;；、,，]")
