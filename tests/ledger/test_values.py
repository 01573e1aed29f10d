"""The cell parsers of the ledger format (shared/docs/ledger-format.md), without a database.

Each parser takes a cell as CSV (``str``) or Excel (``int``, ``float``, ``datetime``, ``date``,
``time``) gives it and returns the stored value, or raises ``CellError`` whose message is the
reason shown to the user, in Chinese."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from stdnum.cn import ric

from audit import vocab
from audit.ledger import values as v
from audit.ledger.schema import BY_NAME, categories, header_key, table_for
from audit.ledger.values import CellError

from helpers import People


def fullwidth(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (what a Chinese IME types)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def with_check(body17: str) -> str:
    """17 characters plus the right GB 11643 check character."""
    return body17 + ric.calc_check_digit(body17 + "0")


def wrong_check(number: str) -> tuple[str, str]:
    """``number`` with another check character, and the right one."""
    right = number[-1]
    other = "0" if right != "0" else "1"
    return number[:-1] + other, right


def x_id() -> str:
    """A valid ID number whose check character is X."""
    people = People(seed=11)
    while True:
        number = people.id("1980-05-06", True)
        if number.endswith("X"):
            return number


# ---- id_number ------------------------------------------------------------------------------

MAN = People().id("1975-03-02", True)
WOMAN = People().id("1982-11-30", False)
X_ID = x_id()


@pytest.mark.parametrize("cell, expected", [
    (MAN, MAN),
    (WOMAN, WOMAN),
    (X_ID, X_ID),
    (X_ID[:-1] + "x", X_ID),  # a lower-case x is stored as X
    (f"  {MAN}  ", MAN),
    (fullwidth(MAN), MAN),  # full-width digits (NFKC)
    (fullwidth(X_ID[:-1] + "x"), X_ID),
], ids=["man", "woman", "X", "lower-x", "spaces", "full-width", "full-width-x"])
def test_id_number_accepts(cell, expected):
    assert v.id_number(cell) == expected


def test_id_number_is_18_characters_with_x_upper_case():
    assert len(X_ID) == 18 and v.id_number(X_ID.lower()).endswith("X")


@pytest.mark.parametrize("number", [MAN, WOMAN, X_ID])
def test_id_number_wrong_check_character_names_the_right_one(number):
    bad, right = wrong_check(number)
    with pytest.raises(CellError) as exc:
        v.id_number(bad)
    msg = str(exc.value)
    assert "校验码" in msg
    # the right character is named on its own after the word 校验码 (not merely inside "17")
    assert re.search(rf"(?<![0-9A-Z]){right}(?![0-9A-Z])", msg.split("校验码", 1)[1]), msg


@pytest.mark.parametrize("birth", ["19750230", "19750231", "19751301", "19750000", "20230229"],
                         ids=["feb-30", "feb-31", "month-13", "zero", "not-leap"])
def test_id_number_impossible_birth_date(birth):
    number = with_check(f"500236{birth}001")  # the check character is right: only the date is wrong
    with pytest.raises(CellError, match="出生日期"):
        v.id_number(number)


def test_id_number_leap_day_birth_is_fine():
    number = with_check("50023620000229001")
    assert v.id_number(number) == number


@pytest.mark.parametrize("cell", [MAN[:17], MAN + "1", MAN[:10], ""], ids=["17", "19", "10", "empty"])
def test_id_number_length(cell):
    with pytest.raises(CellError) as exc:
        v.id_number(cell)
    assert "18位" in str(exc.value)
    assert f"实为{len(cell)}位" in str(exc.value)


@pytest.mark.parametrize("cell", ["50023619750302001A", "5002361975030200-1", "X00236197503020011"])
def test_id_number_bad_characters(cell):
    with pytest.raises(CellError, match="身份证号"):
        v.id_number(cell)


@pytest.mark.parametrize("cell", [int(MAN[:17] + "1"), float(MAN[:17] + "1"), 5.002361975030201e17],
                         ids=["int", "float", "excel-float"])
def test_id_number_excel_number_is_refused(cell):
    with pytest.raises(CellError) as exc:
        v.id_number(cell)
    assert "数字" in str(exc.value)


def test_id_facts():
    assert v.id_facts(MAN) == (dt.date(1975, 3, 2), "M", "500236")
    assert v.id_facts(WOMAN) == (dt.date(1982, 11, 30), "F", "500236")


# ---- dates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", [
    "2025-01-05", "2025/1/5", "2025.01.05", "2025年1月5日", "2025-1-5", "2025/01/05", " 2025-01-05 ",
    "２０２５－０１－０５", dt.datetime(2025, 1, 5), dt.datetime(2025, 1, 5, 13, 45), dt.date(2025, 1, 5),
], ids=lambda c: repr(c))
def test_date_accepts(cell):
    assert v.date(cell) == dt.date(2025, 1, 5)


@pytest.mark.parametrize("cell, phrase", [
    ("2025-02-30", "不存在"),
    ("2025-13-01", "不存在"),
    ("2023-02-29", "不存在"),
    ("05/01/2025", "YYYY-MM-DD"),
    ("abc", "YYYY-MM-DD"),
    ("2025-01", "YYYY-MM-DD"),
    ("20250105x", "YYYY-MM-DD"),
])
def test_date_refuses(cell, phrase):
    with pytest.raises(CellError) as exc:
        v.date(cell)
    assert phrase in str(exc.value)


def test_date_leap_day():
    assert v.date("2024-02-29") == dt.date(2024, 2, 29)


# ---- months ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", [
    "2025-03", "2025/3", "2025/03", "202503", "2025年3月", "2025年03月", "2025-3", " 2025-03 ",
    dt.datetime(2025, 3, 17, 9, 30), dt.date(2025, 3, 31), 202503, 202503.0,
], ids=lambda c: repr(c))
def test_month_accepts(cell):
    assert v.month(cell) == dt.date(2025, 3, 1)


@pytest.mark.parametrize("cell, phrase", [
    ("2025-13", "不存在"),
    ("2025-00", "不存在"),
    ("202513", "不存在"),
    ("20253", "YYYY-MM"),
    ("2025031", "YYYY-MM"),
    ("2025", "YYYY-MM"),
    ("March 2025", "YYYY-MM"),
    ("abc", "YYYY-MM"),
])
def test_month_refuses(cell, phrase):
    with pytest.raises(CellError) as exc:
        v.month(cell)
    assert phrase in str(exc.value)


@pytest.mark.parametrize("cell", [2025.1, 2025.12, 2025.3])
def test_a_month_excel_kept_as_a_number_is_refused_not_guessed(cell):
    """2025.10 in a General cell is the number 2025.1 (ledger-format.md, "Excel number cells")."""
    with pytest.raises(CellError) as exc:
        v.month(cell)
    assert (f"月份被 Excel 存成了数字 {cell:g}" in str(exc.value)
            and "写作 YYYY-MM（如 2025-10）" in str(exc.value))
    assert v.month("2025.1") == dt.date(2025, 1, 1)  # typed as text, it is January


# ---- times ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ("08:05", dt.time(8, 5)),
    ("8:05", dt.time(8, 5)),
    ("8:05:30", dt.time(8, 5, 30)),
    ("23:59:59", dt.time(23, 59, 59)),
    ("０８：０５", dt.time(8, 5)),
    (dt.time(8, 5, 30), dt.time(8, 5, 30)),
    (dt.time(8, 5, 30, 999), dt.time(8, 5, 30)),
    (dt.datetime(2025, 1, 2, 7, 55), dt.time(7, 55)),
    (0.5, dt.time(12, 0)),  # an Excel time fraction
    (0.0, dt.time(0, 0)),
    (8 / 24 + 5 / 1440, dt.time(8, 5)),
], ids=lambda c: repr(c))
def test_time_accepts(cell, expected):
    assert v.time(cell) == expected


@pytest.mark.parametrize("cell", ["25:00", "24:00", "08:60", "8点05分", "0805", "abc"])
def test_time_refuses(cell):
    with pytest.raises(CellError):
        v.time(cell)


def test_an_excel_time_fraction_next_to_midnight_is_the_last_second_of_the_day():
    assert v.time(0.9999999) == dt.time(23, 59, 59)  # 23:59:59.99 must not round to 24:00


# ---- money ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, fen", [
    ("1500", 150000),
    ("1500.00", 150000),
    ("1500.0", 150000),
    ("1,500.00", 150000),
    ("1，500.00", 150000),
    ("¥1500", 150000),
    ("￥1,500.5", 150050),
    ("1500元", 150000),
    ("１５００.５", 150050),
    ("0.07", 7),
    ("12,345,678.90", 1234567890),
    ("0", 0),
    (1500, 150000),
    (1500.0, 150000),
    (1500.1, 150010),  # exact: 1500.1 * 100 in binary floating point is 150009.99999999997
    (19.99, 1999),
    (0.07, 7),
    (2500.55, 250055),
    # what formulas leave in an Excel number cell (ledger-format.md, "Excel number cells")
    (800.0000000000001, 80000),
    (0.1 + 0.2, 30),
    (799.9999999999999, 80000),
], ids=lambda c: repr(c))
def test_money_in_fen(cell, fen):
    got = v.money(cell)
    assert got == fen and type(got) is int


@pytest.mark.parametrize("cell, phrases", [
    ("12.345", ("两位小数", "格式")),
    (12.345, ("两位小数", "格式")),
    ("-5", ("负数",)),
    ("-5.00", ("负数",)),
    (-5, ("负数",)),
    (-5.5, ("负数",)),
    ("abc", ("格式",)),
    ("1,50", ("格式",)),
    ("1500.", ("格式",)),
    ("1.5e3", ("格式",)),
    (True, ("格式",)),
])
def test_money_refuses(cell, phrases):
    with pytest.raises(CellError) as exc:
        v.money(cell)
    assert any(p in str(exc.value) for p in phrases), str(exc.value)


# ---- integers, codes, text ------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [("20", 20), (20, 20), (20.0, 20), ("２０", 20), ("20.0", 20)])
def test_integer_accepts(cell, expected):
    assert v.integer(cell) == expected


@pytest.mark.parametrize("cell", ["20.5", 20.5, "abc", True])
def test_integer_refuses(cell):
    with pytest.raises(CellError, match="整数"):
        v.integer(cell)


@pytest.mark.parametrize("cell, expected", [
    (" GW-001 ", "GW-001"), ("ＧＷ－００１", "GW-001"), (13800000000.0, "13800000000"), (42, "42"),
])
def test_code(cell, expected):
    assert v.code(cell) == expected


def test_text_refuses_a_date_cell():
    with pytest.raises(CellError, match="日期"):
        v.text(dt.date(2025, 1, 5))


@pytest.mark.parametrize("cell, expected", [
    ("6228480000000000011", "6228480000000000011"),
    ("6228 4800 0000 0000 011", "6228480000000000011"),
    ("6228-4800-0000-0000-011", "6228480000000000011"),
])
def test_account_accepts(cell, expected):
    assert v.account(cell) == expected


@pytest.mark.parametrize("cell, phrase", [(6.22848e18, "数字"), ("12345", "6至32位"), ("6228abc", "6至32位")])
def test_account_refuses(cell, phrase):
    with pytest.raises(CellError, match=phrase):
        v.account(cell)


# ---- categories (schema.py) -----------------------------------------------------------------

POOR_AND_DISABLED = vocab.CATEGORY_BIT["脱贫人口"] | vocab.CATEGORY_BIT["残疾人"]


@pytest.mark.parametrize("cell", [
    "脱贫人口;残疾人", "脱贫人口；残疾人", "脱贫人口、残疾人", "脱贫人口,残疾人", "脱贫人口，残疾人",
    " 脱贫人口 ; 残疾人 ", "脱贫人口;残疾人;", "残疾人;脱贫人口", "脱贫人口;残疾人;残疾人",
])
def test_categories_separators_give_the_same_mask(cell):
    assert categories(cell) == POOR_AND_DISABLED


@pytest.mark.parametrize("cell",
                         ["4050", "4050人员", "大龄失业人员", "大龄失业人员(4050)", "大龄失业人员（4050）",
                                  "大龄失业人员 (4050)"])
def test_categories_alias_4050(cell):
    assert categories(cell) == vocab.CATEGORY_BIT["大龄失业人员"]


def test_categories_every_word_of_the_vocabulary():
    assert categories("、".join(vocab.CATEGORIES)) == (1 << len(vocab.CATEGORIES)) - 1


@pytest.mark.parametrize("cell, word",
                         [("贫困户", "贫困户"), ("脱贫人口;贫困户", "贫困户"), ("残疾", "残疾")])
def test_categories_unknown_word_is_named(cell, word):
    with pytest.raises(CellError) as exc:
        categories(cell)
    assert f"「{word}」" in str(exc.value)


# ---- closed vocabularies --------------------------------------------------------------------

STATUS = BY_NAME["attendance"].col("status").parse


@pytest.mark.parametrize("cell, expected",
                         [("出勤", "出勤"), (" 请假 ", "请假"), ("休息", "休息"), ("缺勤", "缺勤")])
def test_choice_accepts(cell, expected):
    assert STATUS(cell) == expected


def test_choice_refusal_lists_allowed_values():
    with pytest.raises(CellError) as exc:
        STATUS("到岗")
    msg = str(exc.value)
    assert "到岗" in msg
    for allowed in vocab.ATTENDANCE_STATUS:
        assert allowed in msg


@pytest.mark.parametrize("cell, expected",
                         [("total_headcount", "total_headcount"), ("用工总人数", "total_headcount"),
                                            ("工资发放总额", "wages_total")])
def test_metric_accepts_english_or_chinese(cell, expected):
    assert BY_NAME["reports"].col("metric").parse(cell) == expected


# ---- headers and table names ----------------------------------------------------------------

PERSONS = BY_NAME["persons"]


@pytest.mark.parametrize("header", [
    "身份证号", "id_number", " ID_NUMBER ", "ｉｄ＿ｎｕｍｂｅｒ", "ＩＤ＿ＮＵＭＢＥＲ", "身份证号码",
                                    "公民身份号码",
    "\u3000身份证号\u3000", " 身份证号 ", "身份 证号",
], ids=repr)
def test_header_key_id_number(header):
    assert header_key(PERSONS, header) == "id_number"


@pytest.mark.parametrize("table, header, key", [
    ("persons", "姓名",
     "name"), ("persons", "人员类别", "categories"), ("positions", "月补贴标准", "monthly_wage"),
    ("attendance", "日期", "work_date"), ("wages", "所属月份", "period"), ("wages", "ＡＭＯＵＮＴ", "amount"),
])
def test_header_key_other_columns(table, header, key):
    assert header_key(BY_NAME[table], header) == key


@pytest.mark.parametrize("header", ["备注", "id", "身份证", "", "salary"])
def test_header_key_unknown(header):
    assert header_key(PERSONS, header) is None


@pytest.mark.parametrize("name, table", [
    ("人员信息", "persons"), ("persons", "persons"), ("Persons", "persons"), ("PERSONS", "persons"),
    (" persons ",
     "persons"), ("ｐｅｒｓｏｎｓ",
                  "persons"), ("考勤记录", "attendance"), ("workshop_staff", "workshop_staff"),
    ("车间用工花名册", "workshop_staff"), ("上报数据", "reports"),
])
def test_table_for(name, table):
    assert table_for(name).name == table


@pytest.mark.parametrize("name", ["person", "人员", "Sheet1", ""])
def test_table_for_unknown(name):
    assert table_for(name) is None


def test_every_table_has_distinct_names():
    from audit.ledger.schema import TABLES

    for t in TABLES:
        assert table_for(t.name) is t and table_for(t.zh) is t
        for c in t.columns:
            assert header_key(t, c.key) == c.key and header_key(t, c.zh) == c.key
