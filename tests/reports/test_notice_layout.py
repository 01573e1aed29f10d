"""The 整改通知书 as officials write it: a body of at most three pages whatever the number of
findings, 附件1 问题清单 with one row per item and the total counted once, 附件2 证据摘要 — read
page by page from the PDF (pdftotext -layout, pdfinfo).

A county of one 村民委员会 with 50 findings: 19 months paid without a day of work (PS01), 19 months
paid in full for half the days (PS02), and two men paid for three months after their deaths —
each of those months is both PS01 and PS04 on the same wages, to be counted once. A second unit
has three findings (one month of a dead man, PS01 and PS04, and one PS02).

Every page of both notices is kept as PNG in tests/artifacts/reports/ for review (pdftoppm)."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select, true

from models import Finding, Notice, Person, Wage, db

from helpers import County

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "reports"
UNIT = "白帝村村民委员会"
SMALL_UNIT = "桂井社区居民委员会"
UNIT_KEY, SMALL_UNIT_KEY = f"奉节县/白帝镇/{UNIT}", f"奉节县/永安街道/{SMALL_UNIT}"  # P1: units by region
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["大山", "小花", "建国", "秀英", "志强", "桂兰", "德明", "玉梅", "永福", "春燕", "国华", "淑珍",
         "正平", "海燕", "文军", "丽娟", "长青", "金凤", "家富", "红梅"]


def _names():
    for i in range(400):
        yield SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7 + i // len(SURNAMES)) % len(GIVEN)]


def build_county(people) -> County:
    c = County(people)
    names = _names()
    deaths = c.t["deaths"]
    # two dead men, paid Jan-Mar 2025 without a day of work: PS01 and PS04 on each month (12)
    for i in range(2):
        idn = c.person(next(names), f"1960-03-0{i + 1}")
        post = c.position(f"GW-D{i + 1}", title="护林员")
        c.place(idn, post, "2024-06-01")
        c.month(idn, post, "2024-12")
        deaths.append({"id_number": idn, "death_date": "2024-12-31"})
        for m in ("2025-01", "2025-02", "2025-03"):  # no attendance at all after his death
            c.pay(idn, post, m)
    # PS01: paid for February without a day of work (19); PS02: half the days, paid in full (19)
    for kind in ("P", "Q"):
        for i in range(19):
            idn = c.person(next(names), f"19{70 + i}-0{1 + i % 9}-1{i % 9}", male=i % 2 == 0)
            post = c.position(f"GW-{kind}{i + 1:02d}", title="保洁员" if i % 2 else "乡村道路养护员")
            c.place(idn, post, "2025-01-01")
            c.month(idn, post, "2025-01")
            c.work(idn, post, "2025-02", present=0 if kind == "P" else 10, other="缺勤")
            c.pay(idn, post, "2025-02")
    # a second unit with three findings
    idn = c.person(next(names), "1968-08-08", township="永安街道", village="桂井社区")
    c.position("GW-S1", employer=SMALL_UNIT, township="永安街道", kind="城镇公益性岗位", title="社区保洁员")
    c.place(idn, "GW-S1", "2024-06-01")
    c.month(idn, "GW-S1", "2024-12")
    deaths.append({"id_number": idn, "death_date": "2024-12-31"})
    c.pay(idn, "GW-S1", "2025-01")
    idn = c.person(next(names), "1983-02-02", township="永安街道", village="桂井社区")
    c.position("GW-S2", employer=SMALL_UNIT, township="永安街道", kind="城镇公益性岗位", title="社区保洁员")
    c.place(idn, "GW-S2", "2025-01-01")
    c.work(idn, "GW-S2", "2025-01", present=8)
    c.pay(idn, "GW-S2", "2025-01")
    return c


@pytest.fixture
def county(app, tmp_path, people):
    c = build_county(people)
    c.audit(app, tmp_path / "bundle", as_of="2025-06-30")
    return c


def issue_notice(unit: str) -> Notice:
    from audit.rectification.services import issue

    ids = list(db.session.scalars(select(Finding.id).where(Finding.unit == unit)))
    notice = issue(unit, ids, dt.date.today() + dt.timedelta(days=30), by="auditor_fj", scope_clause=true(),
                   requirements="请于本月内召开村民代表会议，通报整改情况并公示清退人员名单。")
    db.session.commit()
    return notice


def counted_once_from_wages(notice: Notice) -> int:
    """What the notice must recover, from the wages themselves: each (person, post, month) paid and
    found by some finding of the notice, counted once — the largest amount a finding claims of it,
    never more than was paid."""
    claims: dict[tuple, int] = {}
    for item in notice.items:
        if not item.recover_fen:
            continue
        f = db.session.get(Finding, item.finding_id)
        for period in f.periods:
            key = (f.person_id, f.post_id, dt.date.fromisoformat(period[:7] + "-01"))
            claims[key] = max(claims.get(key, 0), f.amount_at_risk_fen)
    total = 0
    for (person, post, month), claim in claims.items():
        paid = db.session.scalar(select(func.coalesce(func.sum(Wage.amount_fen), 0)).where(
            Wage.person_id == person, Wage.post_id == post, Wage.period == month))
        total += min(paid, claim)
    return total


def pages_of(pdf: bytes, tmp_path: Path, name: str) -> list[str]:
    """pdftotext -layout of every page."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    return [subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(path), "-"],
                           capture_output=True, text=True, check=True).stdout for i in range(1, n + 1)]


def reading_order(pdf: bytes, tmp_path: Path) -> str:
    """pdftotext in reading order (without -layout): a table cell's lines come out together."""
    path = tmp_path / "reading.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def all_pages_png(pdf: bytes, name: str) -> list[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    src = ARTIFACTS / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(src), str(ARTIFACTS / name)], check=True)
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def yuan_of(text: str) -> int:
    """``12,345.60`` -> 1234560 (fen)."""
    whole, _, cents = text.replace(",", "").partition(".")
    return int(whole) * 100 + int(cents or 0)


def split_notice(pages: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(body, 附件1, 附件2) pages: 附件1 starts on the page that begins with 附件1 and 问题清单."""
    def starts(page: str, label: str, title: str) -> bool:
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        return len(lines) > 1 and lines[0] == label and flat(lines[1]) == title

    a1 = next(i for i, p in enumerate(pages) if starts(p, "附件1", "问题清单"))
    a2 = next(i for i, p in enumerate(pages) if starts(p, "附件2", "证据摘要"))
    return pages[:a1], pages[a1:a2], pages[a2:]


ROW = re.compile(r"^\s*(\d{1,3})\s+(\S.*)$")


def list_rows(pages: list[str]) -> dict[int, str]:
    """The rows of 问题清单 by 序号: the line of each row that starts with its number."""
    out: dict[int, str] = {}
    for page in pages:
        for line in page.splitlines():
            m = ROW.match(line)
            if m and re.search(r"\d{4}年\d{1,2}月", line):  # the row's first line has its month
                out[int(m.group(1))] = m.group(2)
    return out


def test_a_notice_of_fifty_findings_has_a_short_body_and_every_item_in_the_list(county, app, tmp_path):
    from reports.notice import build_notice
    from reports.render import render

    notice = issue_notice(UNIT_KEY)
    assert len(notice.items) == 50
    expected = counted_once_from_wages(notice)
    html, _, _ = build_notice(notice.id)
    out = render(html)
    pages = pages_of(out.pdf, tmp_path, "notice50")
    all_pages_png(out.pdf, "notice-50")
    body, annex1, annex2 = split_notice(pages)
    assert 1 <= len(body) <= 3, len(body)
    assert len(annex2) <= 4  # one line or two per item

    text = flat("".join(body))
    # the body: issuer, number, addressee, period, summary by category, requirements, deadline
    for expected_text in ("奉节县人力资源和社会保障局", notice.number, f"白帝镇{UNIT}：",
                          "关于限期整改审计发现问题的通知",
                          "2025年1月—2025年3月", "发现问题50个，涉及40人", "吃空饷/虚报冒领", "问题数",
                          "涉及人数", "应追回金额", "吃空饷/虚报冒领问题50个：", "清退不符合条件或未在岗人员",
                          "追回违规发放资金", "其他要求：请于本月内召开村民代表会议", "整改期限：",
                          "违规资金退回的银行回单或缴款凭证",
                          "联系人：", "联系电话：", "附件：1.问题清单2.证据摘要", "特此通知", "（印章）",
                          "抄送：", "印发",
                          "上述问题违反了渝人社办〔2022〕317号《脱贫人口就业帮扶攻坚行动方案》五(三)“严禁吃空饷、虚报冒领”的规定"):
        assert expected_text in text, expected_text
    assert "问题清单" not in flat(body[0])[:200]  # the body does not start with the list
    # the total in figures and capitals is the money counted once, computed from the wages
    from reports.notice import rmb_capital

    m = re.search(r"应追回资金合计：(人民币[^（]+)（¥([\d,]+\.\d\d)）", text)
    assert m, "no total in the body"
    assert yuan_of(m.group(2)) == expected and m.group(1) == rmb_capital(expected)
    assert notice.amount_to_recover_fen == expected  # what the issuing service stored (shown on screens)
    cat = re.search(r"^\s*合计\s+50\s+40\s+([\d,]+\.\d\d)\s*$", "".join(body), re.M)
    assert cat and yuan_of(cat.group(1)) == expected  # the summary table's 合计 row

    # 附件1: 50 rows, in order, each with the name and the masked ID on one line
    rows = list_rows(annex1)
    assert sorted(rows) == list(range(1, 51))
    masked = {p.name: p.id_masked for p in db.session.scalars(select(Person))}
    for line in rows.values():
        assert (any(re.search(re.escape(name) + r"\s+" + re.escape(idm), line) for name,
                    idm in masked.items())), line
    # the total row equals the body's total; the rows themselves add up to more (PS01 and PS04 overlap)
    a1 = "".join(annex1)
    total_row = re.search(r"合计（同一笔工资只计算一次）\s+([\d,]+\.\d\d)", a1)
    assert total_row and yuan_of(total_row.group(1)) == expected
    assert sum(i.recover_fen for i in notice.items) > expected
    assert flat(a1).count("重叠，不重复计算") >= 12  # each PS01/PS04 month of the dead men says so
    assert "与PS04死亡后仍发放工资重叠，不重复计算" in flat(reading_order(out.pdf, tmp_path))
    # 附件2: one plain sentence per item, no internal parameter names
    a2 = flat("".join(annex2))
    assert a2.count("没有一天出勤") == 25 and a2.count("多发") == 19 and a2.count("死亡名单") == 6
    for key in ("days_present", "required_days", "last_paid_on", "tolerance", "{", "}"):
        assert key not in a2 and key not in text
    # no full ID number anywhere
    pii = app.extensions["pii"]
    full = "".join(pages)
    for p in db.session.scalars(select(Person)):
        number = pii.decrypt(p.id_enc)
        assert number not in full and number not in flat(full)
    assert not re.search(r"\d{17}[\dX]", flat(full))


def test_a_notice_of_three_findings_is_short_and_counts_shared_wages_once(county, app, tmp_path):
    from reports.notice import build_notice
    from reports.render import render

    app.config.update(NOTICE_CONTACT="刘明", NOTICE_PHONE="023-56551234")
    notice = issue_notice(SMALL_UNIT_KEY)
    assert len(notice.items) == 3
    expected = counted_once_from_wages(notice)
    out = render(build_notice(notice.id).html)
    pages = pages_of(out.pdf, tmp_path, "notice3")
    all_pages_png(out.pdf, "notice-3")
    body, annex1, annex2 = split_notice(pages)
    assert len(body) <= 2 and len(annex1) == 1 and len(annex2) == 1
    text = flat("".join(body))
    assert "联系人：刘明" in text and "联系电话：023-56551234" in text
    m = re.search(r"应追回资金合计：(人民币[^（]+)（¥([\d,]+\.\d\d)）", text)
    assert m and yuan_of(m.group(2)) == expected
    total_row = re.search(r"合计（同一笔工资只计算一次）\s+([\d,]+\.\d\d)", "".join(annex1))
    assert total_row and yuan_of(total_row.group(1)) == expected
    assert sorted(list_rows(annex1)) == [1, 2, 3]
    assert flat("".join(annex1)).count("重叠，不重复计算") == 2  # PS01 and PS04 of the same month


def test_the_body_stays_within_three_pages_with_every_category_and_long_requirements(county, tmp_path):
    """The longest body: the 50 items spread over all seven kinds of violation (each with its rules'
    own basis and default actions) and a long paragraph of the auditor's own requirements."""
    from audit.engine.rule import REGISTRY, VIOLATIONS
    from reports.notice import build_notice
    from reports.render import render

    notice = issue_notice(UNIT_KEY)
    from audit.rectification.services import DEFAULT_ACTIONS

    notice.requirements = ("请你单位召开专题会议，逐人逐月核对考勤与工资发放记录，" * 3
                           + "并于十日内书面报告。")
    rules = [r for r in REGISTRY.values() if r.category in VIOLATIONS]
    for i, item in enumerate(notice.items):
        rule = rules[i % len(rules)]
        f = db.session.get(Finding, item.finding_id)
        f.rule, f.title, f.category, f.basis = rule.code, rule.title, rule.category, rule.basis
        item.actions = DEFAULT_ACTIONS[rule.category]
    db.session.commit()
    out = render(build_notice(notice.id).html)
    body, annex1, _ = split_notice(pages_of(out.pdf, tmp_path, "worst"))
    all_pages_png(out.pdf, "notice-worst")
    assert len(body) <= 3, len(body)
    text = flat("".join(body))
    # seven categories and the auditor's own
    assert sum(text.count(f"（{n}）") for n in "一二三四五六七八") >= 8
    # 版记 at the foot of the body's last page, not in an attachment
    assert "抄送：" in text and "印发" in text
    assert sorted(list_rows(annex1)) == list(range(1, 51))
