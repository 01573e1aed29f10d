"""The PDF reports: 整改通知书, 审计报告, 整改台账 — what a reader finds in them (pdftotext), fonts
embedded as subsets (pdffonts), masked numbers only, a URL fetcher that refuses everything but the
app's own files, bounded rendering, the archive with its SHA-256, and ``audit report …``.

First pages are kept as PNG in tests/artifacts/reports/ for review (pdftoppm)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import ChangeLog, Finding, Notice, NoticeFinding, ReportFile, db
from reports.notice import rmb_capital
from reports.render import ReportError, render, render_pdf

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "reports"
UNIT = "白帝村村民委员会"
UNIT_KEY = f"奉节县/白帝镇/{UNIT}"  # P1: a unit is its district, township and name
NUMBER = "渝奉人社审〔2026〕3号"


# ---- helpers -------------------------------------------------------------------------------------

def pdf_text(pdf: bytes, tmp_path: Path, name: str = "r.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    return out


def flat(text: str) -> str:
    """pdftotext's text without white space (a table cell may wrap, CJK text has no spaces)."""
    return re.sub(r"\s+", "", text)


def row(layout: str, *cells: str) -> bool:
    """Some line of pdftotext's layout text holds ``cells`` in this order (a table row: the first line
    of every cell of a row is on one line, cells being aligned at the top)."""
    pattern = r"\s*.*?".join(re.escape(c) for c in cells)
    return any(re.search(pattern, line) for line in layout.splitlines())


def first_page_png(pdf: bytes, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    src = ARTIFACTS / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(src),
                    str(ARTIFACTS / name)], check=True)
    png = ARTIFACTS / f"{name}.png"
    assert png.stat().st_size > 1000
    return png


def make_notice(t, *, unit_name: str = UNIT, requirements: str | None = None, deadline=dt.date(2027, 1, 15),
                number: str = NUMBER, status: str = "issued", seq: int = 3) -> Notice:
    """A notice to 白帝村村民委员会 with its findings (PS01 800 元, PS02 400 元), rows made directly."""
    findings = [f for f in db.session.scalars(select(Finding).where(Finding.unit == UNIT_KEY)
                                              .order_by(Finding.rule))]
    assert {f.rule for f in findings} == {"PS01", "PS02"}
    notice = Notice(number=number, year=2026, seq=seq, unit=UNIT_KEY, unit_kind="employer",
                    unit_name=unit_name, district="奉节县", township="白帝镇", village="白帝村",
                    issuer="奉节县人力资源和社会保障局", status=status, deadline=deadline,
                    amount_to_recover_fen=sum(f.amount_at_risk_fen for f in findings),
                    requirements=requirements,
                    issued_by="auditor_fj", issued_at=dt.datetime(2026, 11, 20, 10, 0))
    for f in findings:
        f.status = "confirmed"
        notice.items.append(NoticeFinding(finding_id=f.id, actions=["recover", "correct_ledger"],
                                          recover_fen=f.amount_at_risk_fen))
    db.session.add(notice)
    db.session.commit()
    return notice


# ---- 大写金额 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fen, text", [
    (160000, "人民币壹仟陆佰元整"),
    (120000, "人民币壹仟贰佰元整"),
    (0, "人民币零元整"),
    (5, "人民币伍分"),
    (50, "人民币伍角"),
    (1000, "人民币壹拾元整"),
    (1005, "人民币壹拾元零伍分"),
    (100105, "人民币壹仟零壹元零伍分"),
    (168032, "人民币壹仟陆佰捌拾元零叁角贰分"),
    (1001000, "人民币壹万零壹拾元整"),
    (10000000, "人民币壹拾万元整"),
    (101000000, "人民币壹佰零壹万元整"),
    (10000010000, "人民币壹亿零壹佰元整"),
    (10001000000, "人民币壹亿零壹万元整"),
    (123456789012, "人民币壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元零壹角贰分"),
    (-2500, "人民币负贰拾伍元整"),
])
def test_amount_in_capital_numerals(fen, text):
    assert rmb_capital(fen) == text


# ---- 整改通知书 ------------------------------------------------------------------------------------

def masked_ids(t) -> dict[str, str]:
    from models import Person

    return {p.name: p.id_masked for p in db.session.scalars(select(Person))}


def test_notice_pdf_has_the_findings_the_money_and_the_deadline(web, tmp_path):
    from reports.notice import build_notice

    notice = make_notice(web, requirements="请于本月内召开村民代表会议通报整改情况。")
    html, title, meta = build_notice(notice.id)
    out = render(html)
    assert out.refused == []  # its own style sheet only
    raw = pdf_text(out.pdf, tmp_path)
    text = flat(raw)
    first_page_png(out.pdf, "notice")
    for expected in ("奉节县人力资源和社会保障局", NUMBER, f"{UNIT}：", "关于限期整改审计发现问题的通知",
                     "发现问题2个，涉及1人，应追回资金1,200.00元", "吃空饷/虚报冒领问题2个",
                     "应追回资金合计：人民币壹仟贰佰元整（¥1,200.00）", "整改期限：2027年1月15日前",
                     "追回违规发放资金", "更正台账与上报数据", "请于本月内召开村民代表会议通报整改情况",
                     "渝人社办〔2022〕317号《脱贫人口就业帮扶攻坚行动方案》", "严禁吃空饷、虚报冒领",
                     "违规资金退回的银行回单或缴款凭证", "（印章）", "2026年11月20日", "抄送：", "印发",
                     "附件1问题清单", "附件2证据摘要", "合计（同一笔工资只计算一次）1,200.00"):
        assert expected in text, expected
    assert row(raw, "吃空饷 / 虚报冒领", "2", "1", "1,200.00")  # the summary by category
    # 问题清单: one row per finding, the person by name with the masked ID beside, the post, the money
    masked = masked_ids(web)["王大山"]
    assert row(raw, "1", "吃空饷", "王大山", masked, "保洁员（GW-A1）", "2025年2月", "PS01 发放工资",
               "800.00", "追回违规发放资金")
    assert (row(raw, "2", "吃空饷", "王大山", masked, "保洁员（GW-A1）", "2025年3月", "PS02 出勤不足",
                "400.00"))
    # 证据摘要: the finding's own sentence
    assert row(raw, "1", "王大山", masked, "PS01 2025-02 在 保洁员（GW-A1） 没有一天出勤")
    # no full ID number anywhere
    for number in web.ids.values():
        assert number not in text and number[-8:] not in text
    assert (title == f"整改通知书 {NUMBER} {UNIT}" and meta["unit"] == UNIT_KEY
            and meta["district"] == "奉节县")
    # "— 1 —" page numbers
    assert "—1—" in text and f"—{out.pages}—" in text


def test_notice_fonts_are_embedded_as_subsets(web, tmp_path):
    from reports.notice import build_notice

    pdf = render_pdf(build_notice(make_notice(web).id).html)
    path = tmp_path / "n.pdf"
    path.write_bytes(pdf)
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert lines, "no fonts"
    names = [ln.split()[0] for ln in lines]
    assert any("Noto-Serif-CJK-SC" in n for n in names), names
    assert any("Noto-Serif-CJK-SC-Bold" in n for n in names), names  # the title
    for ln in lines:
        emb, sub = ln.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), ln
        assert re.match(r"^[A-Z]{6}\+", ln), ln  # a subset's tag
    assert len(pdf) < 1_500_000  # subsets, not whole CJK fonts (~20 MB each)


def test_notice_of_an_unknown_id_is_a_chinese_error(web):
    from reports.notice import build_notice

    with pytest.raises(ReportError, match="整改通知书.*不存在"):
        build_notice(4242)


# ---- 审计报告 --------------------------------------------------------------------------------------

def test_summary_has_totals_by_category_and_rule_and_the_money_at_risk(web, tmp_path):
    from reports.summary import build_summary

    html, title, _ = build_summary("奉节县", dt.date(2025, 1, 1), dt.date(2025, 6, 1))
    out = render(html)
    raw = pdf_text(out.pdf, tmp_path)
    text = flat(raw)
    first_page_png(out.pdf, "summary")
    assert title == "奉节县公益性岗位和就业帮扶车间审计报告（2025年1月至2025年6月）"
    assert "共发现违规问题2条，涉及1个单位、1名人员，涉及金额1,200.00元" in text
    assert row(raw, "吃空饷 / 虚报冒领", "2", "1,200.00")  # by category: count and money
    assert row(raw, "变相发钱", "0", "0.00")
    assert row(raw, "违规问题合计", "2", "1,200.00")
    assert row(raw, "PS01", "发放工资的月份", "吃空饷", "高", "1", "800.00")  # by rule
    assert row(raw, "PS02", "出勤不足却足额", "吃空饷", "中", "1", "400.00")
    assert "提示性问题（不计入违规）" in text and row(raw, "目标未达成", "0")
    assert row(raw, "1", "白帝村村民委员会", "奉节县", "白帝镇", "2", "1,200.00")  # the worst units
    assert "各月违规问题数（条）" in text and "25-02" in text and "25-06" in text  # the trend charts (SVG)
    assert row(raw, "待复核", "2", "1,200.00", "计入")  # review status
    # the list: masked subject and surname only; nothing of the other district
    masked = masked_ids(web)["王大山"]
    assert (row(raw, "1", "PS01", "王**", "白帝村村民委", "GW-A1", "2025年2", "800.00", "待复核")
            and masked in text)
    assert "王**" in text and "王大山" not in text
    assert "曲尺村村民委员会" not in text and "巫山县" not in text
    for number in web.ids.values():
        assert number not in text


def test_summary_counts_the_period_and_leaves_out_dismissed_findings(web, tmp_path):
    from reports.summary import build_summary

    text = flat(pdf_text(render_pdf(build_summary("奉节县", dt.date(2025, 4, 1), dt.date(2025, 6, 1)).html),
                         tmp_path))
    assert "共发现违规问题0条" in text and "奉节县2025年4月至2025年6月未发现违规问题" in text  # 审计结论

    web.finding("奉节县", "PS02").status = "dismissed"
    db.session.commit()
    raw = pdf_text(render_pdf(build_summary("奉节县", dt.date(2025, 3, 1), dt.date(2025, 3, 1)).html),
                   tmp_path)
    text = flat(raw)
    assert "（报告期：2025年3月）" in text
    assert "共发现违规问题0条" in text and row(raw, "已排除", "1", "400.00", "不计入")

    text = flat(pdf_text(render_pdf(build_summary(None, dt.date(2025, 1, 1), dt.date(2025, 12, 1)).html),
                         tmp_path))
    assert "全部地区" in text and "共发现违规问题2条，涉及2个单位" in text  # PS01 in each district
    assert "曲尺村村民委员会" in text


def test_summary_lists_at_most_the_configured_number_of_findings(web, app, tmp_path):
    from reports.summary import build_summary

    app.config["REPORT_SUMMARY_MAX_FINDINGS"] = 1
    raw = pdf_text(render_pdf(build_summary("奉节县", dt.date(2025, 1, 1), dt.date(2025, 6, 1)).html),
                   tmp_path)
    text = flat(raw)
    assert "报告期内问题共2条，此处列出涉及金额最大的1条" in text
    assert row(raw, "1", "PS01", "白帝村村民委", "GW-A1", "2025年2", "800.00", "待复核")
    assert not row(raw, "2", "PS02", "白帝村村民委", "GW-A1")
    assert row(raw, "PS02", "出勤不足却足额", "1", "400.00")  # the totals still count every finding


def test_summary_period_must_be_in_order(web):
    from reports.summary import build_summary

    with pytest.raises(ReportError, match="结束月份早于开始月份"):
        build_summary("奉节县", dt.date(2025, 6, 1), dt.date(2025, 1, 1))


# ---- 整改台账 --------------------------------------------------------------------------------------

def test_ledger_lists_notices_with_status_overdue_and_finding_states(web, tmp_path):
    from reports.ledger import build_ledger

    make_notice(web, deadline=dt.date(2026, 1, 15))  # past: overdue while waiting for the unit
    closed = make_notice(web, number="渝奉人社审〔2026〕4号", seq=4, deadline=dt.date(2026, 1, 10),
                         status="closed")
    closed.closed_at, closed.closed_by = dt.datetime(2026, 2, 1, 9, 0), "auditor_fj"
    web.finding("奉节县", "PS02").status = "resolved"
    db.session.commit()
    html, title, _ = build_ledger("奉节县", today=dt.date(2026, 3, 1))
    out = render(html)
    raw = pdf_text(out.pdf, tmp_path)
    text = flat(raw)
    first_page_png(out.pdf, "ledger")
    assert title == "奉节县整改台账（截至2026年3月1日）"
    assert "共下发整改通知书2份，已销号1份，逾期未整改1份" in text
    # both notices hold the same two findings: their wages are asked for once (1,200.00, not 2,400.00)
    assert "要求追回资金合计1,200.00元" in text
    # the overview: one row per notice; the late one is marked overdue, the closed one is not
    assert row(raw, "1", "渝奉人社审〔2026〕3", UNIT, "2026-11-20", "2026-01-15", "已下发，待整", "1,200.00")
    assert row(raw, "【逾期45天】")
    assert (row(raw, "2", "渝奉人社审〔2026〕4", UNIT, "2026-11-20", "2026-01-10", "已销号", "1,200.00",
                "2026-02-01"))
    assert text.count("【逾期") == 2  # in the overview and in the late notice's own table
    # each notice's own table: status with the overdue mark, and its findings with their state
    assert row(raw, "状态", "已下发，待整改", "【逾期45天】", "整改期限", "2026年1月15日")
    assert row(raw, "状态", "已销号", "整改期限", "2026年1月10日")
    assert "2026年2月1日（auditor_fj）" in text
    masked = masked_ids(web)["王大山"]
    # each item: person, post, problem, months, 应追回, the unit's answer, its state and the audit's word
    assert row(raw, "王大山", "保洁员", "PS01 发放工资的月份", "2025年2月", "800.00", "—", "待单位回复")
    assert row(raw, "王大山", "保洁员", "PS02 出勤不足却足额", "2025年3月", "400.00", "—", "待单位回复")
    assert row(raw, "GW-A1", "审计：已确认") and row(raw, "GW-A1", "审计：数据已消除")
    assert masked in text
    for number in web.ids.values():
        assert number not in text


def test_ledger_of_another_district_has_none_of_these_notices(web, tmp_path):
    from reports.ledger import build_ledger

    make_notice(web)
    text = flat(pdf_text(render_pdf(build_ledger("巫山县").html), tmp_path))
    assert "共下发整改通知书0份" in text and "尚未下发整改通知书" in text and UNIT not in text


# ---- safety: user text escaped, nothing fetched but the app's own files, bounded rendering ----------

HOSTILE = ('<img src="file:///etc/passwd"><link rel="stylesheet" href="http://example.com/x.css">'
           '<a href="file:///etc/passwd">点我</a>')


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any attempt to open a socket (in this process or a forked child) is written to a file and fails."""
    import socket

    log = tmp_path / "connects.log"

    def refuse(self, address, *a, **kw):
        with open(log, "a") as fh:
            fh.write(f"{address}\n")
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **kw: refuse(None, a))
    return log


def test_user_text_with_tags_is_shown_as_text_and_fetches_nothing(web, tmp_path, no_network):
    from reports.notice import build_notice

    notice = make_notice(web, unit_name=f"白帝村{HOSTILE}", requirements=f"整改{HOSTILE}完毕")
    html = build_notice(notice.id).html
    assert "<img" not in html and "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    out = render(html)
    text = pdf_text(out.pdf, tmp_path)
    assert out.refused == []  # nothing even asked for: the tags are text
    assert '<imgsrc="file:///etc/passwd">' in flat(text)  # shown as text
    assert '<linkrel="stylesheet"href="http://example.com/x.css">' in flat(text)
    assert "root:" not in text and b"root:x:0:0" not in out.pdf
    assert not no_network.exists()


def test_the_fetcher_refuses_files_and_the_network(tmp_path, no_network):
    html = (f'<html><head><link rel="stylesheet" href="report.css"></head><body><p>报告</p>{HOSTILE}'
            '<img src="../../etc/passwd"><img src="https://example.com/a.png">'
            '<img src="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 width=%2210%22'
            ' height=%2210%22/%3E">'
            "</body></html>")
    out = render(html)
    assert "file:///etc/passwd" in out.refused
    assert "http://example.com/x.css" in out.refused and "https://example.com/a.png" in out.refused
    assert any(u.startswith("file:///") and u.endswith("/etc/passwd") and u != "file:///etc/passwd"
               for u in out.refused)  # ../../etc/passwd, relative to the style sheet's folder
    # its own files are served
    assert not any(u.endswith("report.css") or u.startswith("data:") for u in out.refused)
    text = pdf_text(out.pdf, tmp_path)
    assert "报告" in text and "root:" not in text and b"root:x:0:0" not in out.pdf
    assert not no_network.exists()  # no connection was ever attempted


def test_resolve_serves_only_the_static_folders():
    from reports.render import STATIC, WEB_STATIC, Refused, resolve

    body, mime = resolve((STATIC / "report.css").as_uri())
    assert b"@page" in body and mime == "text/css"
    assert resolve((WEB_STATIC / "css" / "app.css").as_uri())[0]
    assert resolve("file:///static/css/app.css")[0]  # the web app's /static/ URL space
    assert resolve("data:text/plain;base64,5L2g5aW9") == ("你好".encode(), "text/plain")
    for url in ("file:///etc/passwd", (STATIC / ".." / ".." / "pyproject.toml").as_uri(), "file://evil/share/x.css",
                "file:///static/../../etc/passwd", "http://example.com/x.css", "ftp://example.com/x",
                "https://127.0.0.1/", "javascript:alert(1)"):
        with pytest.raises(Refused):
            resolve(url)


def test_a_render_past_its_time_is_stopped_with_a_chinese_error(app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_TIMEOUT_SECONDS", 0.3)
    huge = "<html><body>" + "".join(f"<p>第{i}段：审计发现的问题与整改要求。</p>"
                                    for i in range(30000)) + "</body></html>"
    started = dt.datetime.now()
    with pytest.raises(ReportError, match="报告生成超时"):
        render_pdf(huge)
    assert (dt.datetime.now() - started).total_seconds() < 10


def test_a_render_past_its_memory_is_stopped_with_a_chinese_error():
    # A document that needs far more than the 2 MB it is allowed beyond what the process holds. In a
    # fresh process: a long test session's worker holds freed heap that the child may reuse without
    # growing its address space, which would make the limit's effect depend on the tests before.
    script = (
        "from reports.render import ReportError, render_pdf\n"
        "big = '<html><body>' + ''.join(f'<p>第{i}段：审计发现的问题与整改要求。</p>' for i in range(5000))"
        " + '</body></html>'\n"
        "try:\n    render_pdf(big, memory_mb=2, timeout=60)\nexcept ReportError as exc:\n    print(exc)\n"
        "else:\n    print('rendered')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert ("内存" in out.stdout and "限制 2 MB" in out.stdout
            and "rendered" not in out.stdout), out.stdout + out.stderr


# ---- the archive and `audit report …` --------------------------------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_notice_writes_the_file_and_archives_it(web, app, runner, tmp_path):
    from reports.archive import path_of

    notice = make_notice(web)
    out = tmp_path / "通知书.pdf"
    result = runner.invoke("report", "notice", "--unit", UNIT, "--output", str(out))
    assert result.exit_code == 0, result.output
    digest = _sha(out)
    assert f"SHA-256：{digest}" in result.output
    db.session.rollback()
    report = db.session.scalars(select(ReportFile)).one()
    assert (report.kind, report.sha256, report.size, report.notice_id, report.unit, report.district) == (
        "notice", digest, out.stat().st_size, notice.id, UNIT_KEY, "奉节县")
    assert report.pages >= 2 and f"{report.pages} 页" in result.output
    archived = path_of(report)
    assert archived.read_bytes() == out.read_bytes()
    assert re.fullmatch(r"\d{4}/notice-\d{8}-\d{6}-[0-9a-f]{8}\.pdf", report.path)
    assert archived.parent == Path(app.instance_path) / "reports" / f"{dt.date.today():%Y}"
    assert oct(archived.stat().st_mode & 0o777) == "0o600"
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "report.generate")).one()
    assert (log.table_name, log.row_id, log.row_ref) == ("report_files", report.id, report.title)
    assert log.actor.startswith("cli") and log.new["sha256"] == digest
    assert NUMBER in flat(pdf_text(out.read_bytes(), tmp_path))


def test_cli_summary_and_ledger(web, runner, tmp_path):
    make_notice(web)
    summary = tmp_path / "summary.pdf"
    result = runner.invoke("report", "summary", "--district", "奉节县", "--period", "2025-01:2025-06",
                           "--output", str(summary))
    assert result.exit_code == 0, result.output
    assert f"SHA-256：{_sha(summary)}" in result.output
    assert "涉及金额1,200.00元" in flat(pdf_text(summary.read_bytes(), tmp_path))
    ledger = tmp_path / "ledger.pdf"
    result = runner.invoke("report", "ledger", "--output", str(ledger))
    assert result.exit_code == 0, result.output
    assert f"SHA-256：{_sha(ledger)}" in result.output
    assert NUMBER in flat(pdf_text(ledger.read_bytes(), tmp_path))
    db.session.rollback()
    rows = {r.kind: r for r in db.session.scalars(select(ReportFile))}
    assert rows["summary"].sha256 == _sha(summary) and rows["summary"].district == "奉节县"
    assert rows["summary"].params == {"district": "奉节县", "first": "2025-01", "last": "2025-06"}
    assert rows["ledger"].sha256 == _sha(ledger) and rows["ledger"].district is None
    assert db.session.scalar(select(func.count()).select_from(ChangeLog)
                             .where(ChangeLog.action == "report.generate")) == 2


def test_cli_refusals_are_chinese_and_fail(web, runner, tmp_path):
    out = tmp_path / "x.pdf"
    result = runner.invoke("report", "notice", "--unit", "不存在的单位", "--output", str(out))
    assert result.exit_code != 0
    assert "错误：单位“不存在的单位”没有整改通知书" in result.output
    result = runner.invoke("report", "summary", "--period", "2025-13", "--output", str(out))
    assert result.exit_code != 0 and "格式不对" in result.output
    result = runner.invoke("report", "summary", "--period", "2025-06:2025-01", "--output", str(out))
    assert result.exit_code != 0 and "结束月份早于开始月份" in result.output
    assert not out.exists()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ReportFile)) == 0


# ---- start-up check --------------------------------------------------------------------------------

def test_startup_warns_once_checked_when_fonts_or_harfbuzz_are_missing(app, monkeypatch, caplog, tmp_path):
    import ctypes.util

    from audit import create_app
    from reports import render as render_mod

    calls = []

    def no_fc_list(args, **kw):
        calls.append(args)
        raise FileNotFoundError("fc-list")

    monkeypatch.setattr(render_mod.subprocess, "run", no_fc_list)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    render_mod.font_problems.cache_clear()
    try:
        config = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x",
                  "AUDIT_PII_KEY": app.config["AUDIT_PII_KEY"], "INSTANCE_PATH": str(tmp_path / "i2")}
        with caplog.at_level("WARNING"):
            create_app(config)
            create_app(config)
        messages = [r.getMessage() for r in caplog.records]
        assert any("未找到中文字体" in m for m in messages)
        assert any("HarfBuzz" in m and "libharfbuzz-subset0" in m for m in messages)
        assert len(calls) == 1  # fc-list runs once per process
    finally:
        render_mod.font_problems.cache_clear()


def test_startup_is_quiet_on_this_machine(app):
    from reports.render import font_problems

    assert font_problems() == ()
