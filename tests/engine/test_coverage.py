"""Issue 14 (part): a rule whose optional column is absent is 未完整运行, never "no findings"; each run
records what every comparison list and ledger table held and how current it was, and the dashboard,
the run page, the 审计报告 and a person's page show it (audit/engine/coverage.py)."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from sqlalchemy import select, update

from audit.engine import coverage
from audit.engine.rule import all_rules
from audit.engine.runner import run_audit
from models import AuditRun, Finding, ImportBatch, Person, Wage, db

from helpers import County
from web_helpers import create_users, login

AS_OF = "2025-06-30"
PARTIAL_IM03 = "未完整运行：缺少 收款户名 列"


def cells(html: str) -> list[list[str]]:
    """The cells of every table row, as plain text."""
    out = []
    for tr in re.findall(r"<tr\b.*?</tr>", html, flags=re.S):
        found = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", tr, flags=re.S)
        out.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in found])
    return out


def row_of(html: str, first: str) -> list[str]:
    """The first table row whose first cell is ``first``."""
    return next(r for r in cells(html) if r and r[0] == first)


def plain(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def pdf_text(pdf: bytes, tmp_path) -> tuple[str, str]:
    """pdftotext's layout text, and the same without white space (CJK text wraps inside cells)."""
    import subprocess

    path = tmp_path / "summary.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return out.stdout, re.sub(r"\s+", "", out.stdout)


def on_one_line(layout: str, *parts: str) -> bool:
    """Some line of the layout text holds ``parts`` in this order (the first line of a table row)."""
    pattern = r".*?".join(re.escape(p) for p in parts)
    return any(re.search(pattern, line) for line in layout.splitlines())


def lists_county(people) -> County:
    """Two placed workers paid for January–March 2025 (李小花's February pay into an account in
    another name), a ledger person who died, and every comparison list: deaths up to 2025-02-28
    (four months before the as-of date), social insurance up to March 2025, pensions, businesses,
    officials and migrant work, each also naming people who are not in the ledger."""
    c = County(people)
    a, b = c.person("王大山"), c.person("李小花", "1982-11-30", False)
    dead = c.person("孙故去", "1950-03-03")
    c.position("GW-1")
    c.position("GW-2", title="护林员")
    for idn, post in ((a, "GW-1"), (b, "GW-2")):
        c.place(idn, post, "2025-01-01")
        for m in ("2025-01", "2025-03"):
            c.month(idn, post, m)
        c.work(idn, post, "2025-02")
    c.pay(a, "GW-1", "2025-02")
    c.pay(b, "GW-2", "2025-02", account_name="张冒名")
    c.t["deaths"] += [{"id_number": dead, "death_date": "2025-01-15"},
                      {"id_number": people.id("1941-01-01"), "death_date": "2025-02-28"},
                      {"id_number": people.id("1942-02-02", False), "death_date": "2024-12-01"}]
    for m in ("2025-01", "2025-02", "2025-03"):
        c.t["social_insurance"].append({"id_number": a, "period": m, "employer": "白帝村村民委员会"})
    c.t["social_insurance"].append({"id_number": people.id("1990-01-01"), "period": "2025-02",
                                    "employer": "奉节县某某商贸有限公司"})
    c.t["pensions"].append({"id_number": people.id("1955-05-05"), "kind": "城乡居民基本养老保险",
                            "since": "2025-04-01"})
    c.t["businesses"].append({"id_number": people.id("1970-07-07"), "company_name": "奉节县某某商贸有限公司",
                              "role": "股东", "registered_on": "2019-05-01", "deregistered_on": "2025-05-20"})
    c.t["officials"].append({"id_number": people.id("1970-02-02"), "name": "赵书记", "role": "村党组织书记",
                             "unit": "白帝村党支部", "district": "奉节县", "township": "白帝镇",
                             "village": "白帝村", "household_id": "H900"})
    c.t["migrant_work"].append({"id_number": people.id("1985-08-08"), "start_date": "2025-03-01",
                                "end_date": "2025-06-10", "place": "广东省东莞市"})
    return c


def latest_run() -> AuditRun:
    db.session.rollback()
    return db.session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(1)).one()


def signed_in(app, client, user: str = "admin"):
    create_users(app)
    login(client, user)
    return client


# ---- 未完整运行 ------------------------------------------------------------------------------------

def test_without_the_account_name_column_the_account_holder_rule_is_not_fully_run(app, people, tmp_path,
                                                                                 client, runner):
    c = lists_county(people)
    for w in c.t["wages"]:
        del w["account_name"]  # the bundle has no 收款户名 column at all
    found = c.audit(app, tmp_path, as_of=AS_OF)
    run = latest_run()
    assert run.rules["IM03"] == {"status": "partial", "reason": PARTIAL_IM03,
                                 "columns": [["wages", "account_name"]], "ran": False}
    assert "findings" not in run.rules["IM03"]  # not "no findings"
    assert not [f for f in found if f["rule"] == "IM03"]
    assert run.rules["IM04"]["status"] == "ran"  # account numbers are there: the shared-account rule runs

    out = runner.invoke("run", "--as-of", AS_OF)
    assert out.exit_code == 0, out.output
    assert f"IM03 {PARTIAL_IM03}（该列是本规则比对的内容，规则未运行，此前的发现保持原状）" in out.output

    signed_in(app, client)
    page = client.get(f"/runs/{latest_run().id}").get_data(as_text=True)
    im03 = row_of(page, "IM03")
    assert PARTIAL_IM03 in im03[2] and "未运行，此前的发现保持原状" in im03[2]
    assert im03[4] == "—"  # no count of findings: it did not look
    assert f"IM03 工资发入户名不符的账户：{PARTIAL_IM03}" in plain(page)
    dashboard = plain(client.get("/dashboard/").get_data(as_text=True))
    assert ("条规则未运行或未完整运行（IM03" in dashboard
            and f"IM03 工资发入户名不符的账户：{PARTIAL_IM03}" in dashboard)
    listed = row_of(client.get("/runs").get_data(as_text=True), f"#{latest_run().id}")
    assert listed[-1] == str(len(coverage.not_fully_run(latest_run().rules)))

    from reports.render import render_pdf
    from reports.summary import build_summary

    summary = build_summary(None, dt.date(2025, 1, 1), dt.date(2025, 6, 1))
    raw, text = pdf_text(render_pdf(summary.html), tmp_path)
    assert "最近一次审计未能运行或未完整运行的规则" in text
    assert on_one_line(raw, "IM03", "工资发入户名不符的", "未完整运行：缺少 收款户名 列")
    assert "以下规则未完整运行，相应问题可能未被发现：IM03工资发入户名不符的账户（缺少收款户名列）" in text


def test_with_the_account_name_column_the_account_holder_rule_runs(app, people, tmp_path, client):
    c = lists_county(people)
    found = c.audit(app, tmp_path, as_of=AS_OF)
    run = latest_run()
    assert run.rules["IM03"]["status"] == "ran" and run.rules["IM03"]["findings"] == 1
    [f] = [f for f in found if f["rule"] == "IM03"]
    assert f["periods"] == ["2025-02"] and "张冒名" in f["explanation"] and f["amount"] == "800.00"
    signed_in(app, client)
    im03 = row_of(client.get(f"/runs/{run.id}").get_data(as_text=True), "IM03")
    assert im03[2] == "已运行" and im03[4] == "1"


def test_an_absent_column_keeps_the_rules_earlier_findings_as_they_were(app, people, tmp_path):
    c = lists_county(people)
    c.audit(app, tmp_path, as_of=AS_OF)
    [fid] = db.session.scalars(select(Finding.id).where(Finding.rule == "IM03")).all()
    db.session.execute(update(Wage).values(account_name=None, account_name_key=None))
    db.session.commit()
    result = run_audit(db.engine, as_of=dt.date.fromisoformat(AS_OF), actor="test")
    assert result.rules["IM03"]["status"] == "partial" and result.resolved == 0
    db.session.rollback()
    f = db.session.get(Finding, fid)
    assert f.status == "open" and f.resolved_at is None and f.last_run_id < result.run_id


def test_without_categories_nobody_is_put_under_the_category_rules(app, people, tmp_path):
    """Without 人员类别 every placement would lack a qualifying category and every workshop's poverty
    staff would be 0: IP01, LM01, LM04 and TS01 are not run instead; LM05 still finds paper-only staff
    (only the subsidy they carried needs the categories) and says it is not fully run."""
    c = County(people)
    a, b, z = c.person("王大山"), c.person("李小花", "1982-11-30", False), c.person("张三", "1990-07-15")
    c.position("GW-1")
    c.place(a, "GW-1", "2025-01-01")
    c.month(a, "GW-1", "2025-01")
    c.workshop("CJ-1", baseline=2)
    c.staff("CJ-1", b, "2024-10-01")
    c.staff("CJ-1", z, "2024-10-01")
    c.month(b, "CJ-1", "2025-01")  # 张三 on the roster, no attendance and no pay in January: LM05
    for metric, value in (("poverty_headcount", "2"), ("subsidy_claimed", "1000")):
        c.t["reports"].append({"subject_code": "CJ-1", "period": "2025-01", "metric": metric, "value": value})
    for p in c.t["persons"]:
        del p["categories"]
    found = c.audit(app, tmp_path, as_of=AS_OF)
    rules = latest_run().rules
    for code in ("IP01", "LM01", "LM04"):
        assert rules[code] == {"status": "partial", "reason": "未完整运行：缺少 人员类别 列",
                               "columns": [["persons", "categories"]], "ran": False}, code
    assert rules["TS01"]["reason"] == "未完整运行：缺少 人员类别 列" and not rules["TS01"]["ran"]
    assert not [f for f in found if f["rule"] in ("IP01", "LM01", "LM04", "TS01")]
    assert rules["LM05"]["status"] == "partial" and rules["LM05"]["ran"] and rules["LM05"]["findings"] == 1
    [lm05] = [f for f in found if f["rule"] == "LM05"]
    assert lm05["persons"] == [z] and lm05["amount"] is None


def test_columns_of_two_tables_are_named_with_their_table(app, people, tmp_path):
    c = County(people)
    a = c.person("王大山")
    c.position("GW-1")
    c.place(a, "GW-1", "2025-01-01")
    c.month(a, "GW-1", "2025-01")
    c.t["officials"].append({"id_number": people.id("1970-02-02"), "name": "赵书记", "role": "村党组织书记"})
    for p in c.t["persons"]:
        del p["household_id"]
    c.audit(app, tmp_path, as_of=AS_OF)
    assert latest_run().rules["FV01"]["reason"] == "未完整运行：缺少 人员信息的户编号、干部名单的户编号 列"


def test_every_declared_column_is_an_optional_ledger_column_stored_in_the_database():
    from audit.ledger.schema import BY_NAME

    declared = {tc for r in all_rules() for tc in (*r.needs_columns, *r.uses_columns)}
    assert ("wages", "account_name") in declared and ("persons", "categories") in declared
    for table, column in declared:
        assert not BY_NAME[table].col(column).required, (table, column)
        assert coverage.stored_column(table, column) is not None
    assert coverage.column_header("wages", "account_name") == "收款户名"


# ---- coverage and freshness -----------------------------------------------------------------------

def _expected(c: County, table: str, ledger_ids: set[str]) -> tuple[int, int, int]:
    rows = c.t[table]
    ids = {r["id_number"] for r in rows}
    return len(rows), len(ids), len(ids & ledger_ids)


def test_each_run_records_what_every_list_held_and_the_pages_show_it(app, people, tmp_path, client):
    c = lists_county(people)
    c.audit(app, tmp_path, as_of=AS_OF)
    run = latest_run()
    cov = run.summary["coverage"]
    ledger_ids = {p["id_number"] for p in c.t["persons"]}
    assert cov["as_of"] == AS_OF and cov["stale_months"] == 3
    # the data date of each list, from the generated rows
    latest = {"deaths": max(r["death_date"] for r in c.t["deaths"]),
              "social_insurance": "2025-03-31",  # the last month paid, to its last day
              "pensions": max(r["since"] for r in c.t["pensions"]),
              "businesses": max(max(r["registered_on"], r["deregistered_on"]) for r in c.t["businesses"]),
              "migrant_work": max(d for r in c.t["migrant_work"] for d in (r["start_date"], r["end_date"]))}
    imported = db.session.scalars(select(ImportBatch.finished_at)).one()
    latest["officials"] = imported.date().isoformat()  # no date column: the day it was imported
    for table, day in latest.items():
        entry = cov["tables"][table]
        assert (entry["rows"], entry["persons"], entry["matched"]) == _expected(c, table, ledger_ids), table
        assert entry["data_date"] == day, table
        assert entry["last_import"] == imported.isoformat(timespec="seconds"), table
    assert cov["tables"]["deaths"]["matched"] == 1  # 孙故去 is in the ledger
    assert [t for t in coverage.LISTS if cov["tables"][t]["stale"]] == ["deaths"]
    assert cov["tables"]["deaths"]["age_months"] == 4
    assert cov["tables"]["social_insurance"]["age_months"] == 2
    # the ledger tables: rows, persons, latest date
    assert cov["tables"]["attendance"]["rows"] == len(c.t["attendance"])
    assert cov["tables"]["attendance"]["persons"] == len({r["id_number"] for r in c.t["attendance"]})
    assert cov["tables"]["attendance"]["data_date"] == max(r["work_date"] for r in c.t["attendance"])
    assert cov["tables"]["wages"]["data_date"] == max(r["paid_on"] for r in c.t["wages"])
    assert cov["tables"]["persons"]["persons"] == len(c.t["persons"])

    warning = "死亡人员名单 已 4 个月未更新（数据截至 2025-02-28"
    signed_in(app, client, "auditor_fj")
    for path in (f"/runs/{run.id}", "/dashboard/"):
        page = client.get(path).get_data(as_text=True)
        assert warning in plain(page), path
        deaths = row_of(page, "死亡人员名单")
        rows, persons, matched = _expected(c, "deaths", ledger_ids)
        day = imported.date().isoformat()
        assert deaths[1:6] == ["2025-02-28", str(rows), str(persons), str(matched), day]
        assert deaths[6] == "已 4 个月未更新"
        si = row_of(page, "社保缴费名单")
        rows, persons, matched = _expected(c, "social_insurance", ledger_ids)
        assert si[1:5] == ["2025-03-31", str(rows), str(persons), str(matched)] and si[6] == "正常"
        last_day = max(r["work_date"] for r in c.t["attendance"])
        assert row_of(page, "考勤记录")[1:3] == [last_day, str(len(c.t["attendance"]))]

    from reports.render import render_pdf
    from reports.summary import build_summary

    raw, text = pdf_text(render_pdf(build_summary("奉节县", dt.date(2025, 1, 1), dt.date(2025, 6, 1)).html),
                         tmp_path)
    rows, persons, matched = _expected(c, "deaths", ledger_ids)
    assert on_one_line(raw, "死亡人员名单", "2025-02-28", str(rows), str(persons), str(matched),
                       imported.date().isoformat(), "已 4 个月未更新")
    assert "数据时效提示：死亡人员名单已4个月未更新（数据截至2025-02-28" in text
    assert "以下比对名单超过3个月未更新，据此比对的问题可能未被发现：死亡人员名单（已4个月未更新" in text
    assert "向有关部门索取最新的死亡人员名单" in text


def test_the_staleness_threshold_is_a_setting(app, people, tmp_path):
    app.config["COMPARISON_STALE_MONTHS"] = 4
    c = lists_county(people)
    c.audit(app, tmp_path, as_of=AS_OF)
    cov = latest_run().summary["coverage"]
    assert cov["stale_months"] == 4 and not cov["tables"]["deaths"]["stale"]  # exactly 4 months is not more
    assert coverage.warnings(cov) == []
    run_audit(db.engine, as_of=dt.date(2025, 7, 1), actor="test")
    cov = latest_run().summary["coverage"]
    assert (cov["tables"]["deaths"]["stale"]
            and coverage.warnings(cov)[0].startswith("死亡人员名单 已 4 个月未更新"))


def test_a_persons_page_lists_the_lists_they_were_compared_against(app, people, tmp_path, client):
    c = lists_county(people)
    c.t["pensions"].clear()  # not provided: nobody was compared against it
    c.audit(app, tmp_path, as_of=AS_OF)
    ids = {p.name: p.id for p in db.session.scalars(select(Person))}
    signed_in(app, client, "auditor_fj")

    page = client.get(f"/persons/{ids['王大山']}").get_data(as_text=True)
    assert "比对名单" in page and f"最近一次审计（第 {latest_run().id} 次，基准日 {AS_OF}）" in page
    wang = c.t["persons"][0]["id_number"]
    insured_months = sum(1 for r in c.t["social_insurance"] if r["id_number"] == wang)
    assert row_of(page, "社保缴费名单")[1:4] == ["2025-03-31", f"有记录 （{insured_months} 个月）", "正常"]
    assert row_of(page, "死亡人员名单")[1:4] == ["2025-02-28", "无记录", "已 4 个月未更新"]
    assert row_of(page, "养老金领取名单")[2:4] == ["未比对（审计时没有该名单）", "未提供"]

    dead = client.get(f"/persons/{ids['孙故去']}").get_data(as_text=True)
    assert row_of(dead, "死亡人员名单")[2] == "有记录 （1 条）"
    assert row_of(dead, "社保缴费名单")[2] == "无记录"


def test_a_run_before_coverage_was_recorded_says_so(app, people, tmp_path, client):
    c = lists_county(people)
    c.audit(app, tmp_path, as_of=AS_OF)
    run = latest_run()
    db.session.execute(update(AuditRun).where(AuditRun.id == run.id)
                       .values(summary={k: v for k, v in run.summary.items() if k != "coverage"}))
    db.session.commit()
    signed_in(app, client)
    page = plain(client.get(f"/runs/{run.id}").get_data(as_text=True))
    assert "这次审计运行没有记录数据覆盖情况" in page


@pytest.mark.parametrize("day, as_of, months", [
    ("2025-02-28", "2025-06-30", 4), ("2025-03-31", "2025-06-30", 2), ("2025-03-30", "2025-06-30", 3),
    ("2025-07-01", "2025-06-30", 0), ("2024-12-31", "2025-01-31", 1)])
def test_whole_months_between_a_data_date_and_the_as_of_date(day, as_of, months):
    assert coverage.months_between(dt.date.fromisoformat(day), dt.date.fromisoformat(as_of)) == months


def test_a_run_reads_the_data_up_to_its_date_not_rows_dated_after_it(app, people, tmp_path):
    """A replay (or a run dated before the latest payments) shows how far the data reached on its
    date: a payment dated after it is no data the audit had then."""
    c = lists_county(people)
    c.audit(app, tmp_path, as_of=AS_OF)
    paid = sorted(r["paid_on"] for r in c.t["wages"])
    assert paid[0] < paid[-1]
    before_last = dt.date.fromisoformat(paid[-1]) - dt.timedelta(days=1)
    wages = coverage.compute(db.session.connection(), before_last)["tables"]["wages"]  # as a replay does
    assert wages["data_date"] == max(p for p in paid if p <= before_last.isoformat())
    assert wages["rows"] == len(c.t["wages"])  # every row still counted: only the date is as of the run


def test_a_run_dated_inside_the_attendance_shows_its_latest_day_up_to_that_date(app, people, tmp_path):
    """A run whose date falls among the check-ins (on SQLite the latest day is found through the
    run's monthly aggregate, the latest month's check-ins only): the latest day on or before the
    date, while every row and person of the table is counted."""
    c = lists_county(people)
    days = sorted({r["work_date"] for r in c.t["attendance"]})
    assert len(days) > 2
    as_of = dt.date.fromisoformat(days[len(days) // 2]) + dt.timedelta(days=1)
    c.audit(app, tmp_path, as_of=as_of.isoformat())
    attendance = latest_run().summary["coverage"]["tables"]["attendance"]
    assert attendance["data_date"] == max(d for d in days if d <= as_of.isoformat())
    assert attendance["rows"] == len(c.t["attendance"])
    assert attendance["persons"] == len({r["id_number"] for r in c.t["attendance"]})
