"""发放前校验 (issue 17, shared/docs/precheck.md): a generated county imported without April's wages;
April's wage rows are the draft payroll. The rows the planted cases of the pre-check's rules cover
are held or rejected with those rules, every other row passes, and checking changes nothing in the
database; the CLI's JSON Lines, exit codes and masked XLSX; a bad file names its row."""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, func, select

from audit.demo.generator import generate_bundle
from audit.demo.plant import plant_cases
from audit.ledger.importer import import_bundle
from audit.precheck import verdicts as V
from audit.precheck.reader import read_draft
from audit.precheck.services import check
from models import Attendance, ChangeLog, Person, Post, Precheck, PrecheckRow, db

from helpers import snapshot

START, MONTHS, SEED = dt.date(2025, 1, 1), 12, 11
MONTH = "2025-04"  # the month with the most planted cases
CHECK_DAY = dt.date(2025, 5, 10)  # April is over: judged on its whole attendance
HEADER = ["id_number", "post_code", "period", "amount", "account_number", "account_name", "batch"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, list[dict], list[list[str]]]:
    """The county without April's wages, its manifest, and April's wage rows (without paid_on)."""
    folder = tmp_path_factory.mktemp("precheck") / "county"
    generate_bundle(folder, persons=400, start=START, months=MONTHS, seed=SEED)
    manifest = plant_cases(folder, start=START, months=MONTHS, seed=SEED)
    with open(folder / "wages.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    head, data = rows[0], rows[1:]
    paid_on = head.index("paid_on")
    draft = [[c for i, c in enumerate(r) if i != paid_on] for r in data if r[2] == MONTH]
    with open(folder / "wages.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head] + [r for r in data if r[2] != MONTH])
    assert [h for h in head if h != "paid_on"] == HEADER
    return folder, manifest, draft


@pytest.fixture
def county(app, bundle):
    folder, manifest, draft = bundle
    result = import_bundle(folder, engine=db.engine, pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors[:10]]
    return manifest, draft


def write_csv(path: Path, rows: list[list], header=HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)
    return path


def expected(manifest: list[dict], draft: list[list[str]]) -> dict[tuple[str, str], set[str]]:
    """(ID number, post) -> the rules whose planted cases cover that person's April pay on that post:
    a case of April, or one over the whole holding (IP*, FV01: no months named)."""
    drafted = {(r[0], r[1]) for r in draft}
    out: dict[tuple[str, str], set[str]] = {}
    for m in manifest:
        if m["rule"] not in V.RULES or not (MONTH in m["periods"] or not m["periods"]):
            continue
        # a household's case (IP06) is about the person paid on its post
        for key in drafted if m["subject"].startswith("HZ") else [(m["subject"], m["post"])]:
            if key in drafted and key[1] == m["post"]:
                out.setdefault(key, set()).add(m["rule"])
    return out


def worst(rules: set[str]) -> str:
    return max((V.VERDICTS[r][0] for r in rules), key=V.SEVERITY.__getitem__)


def test_planted_cases_are_held_or_rejected_others_pass_and_nothing_changes(app, county, tmp_path):
    manifest, draft = county
    want = expected(manifest, draft)
    # the month's planted cases of the pre-check's rules, at least one of each kind of verdict
    planted = set().union(*want.values())
    assert {"PS02", "PS04", "DP01", "IM02", "IM03", "IP01", "FV01", "PS05", "PS06"} <= planted

    before = snapshot(db.engine)
    result = check(db.engine, read_draft(write_csv(tmp_path / "工资发放表.csv", draft)), as_of=CHECK_DAY,
                   pii=app.extensions["pii"])
    assert snapshot(db.engine) == before  # the draft, the rules' tables: all rolled back

    assert not result.errors and len(result.rows) == len(draft)
    got = {(r.draft.id_number, r.draft.post_code): r for r in result.rows if r.verdict != V.PASS}
    assert {k: set(r.rules) for k, r in got.items()} == want
    for key, r in got.items():
        assert r.verdict == worst(want[key]), (key, r.rules)
        assert len(r.reasons) == len(r.rules) and all(r.reasons)
    for r in result.rows:
        if r.verdict == V.PASS:
            assert r.allowed_fen == r.draft.amount_fen and r.rules == [] and r.reasons == []
        if r.verdict == V.REJECT:
            assert r.allowed_fen == 0

    # PS02 alone: the wage due for the days worked (810.50 × 15 ÷ 20) is what may be paid
    short = next(r for r in got.values() if r.rules == ["PS02"])
    assert (short.draft.amount_fen, short.allowed_fen) == (81050, 60788)
    assert "出勤不足却足额或超额发放工资" in short.reasons[0] and "出勤 15 天" in short.reasons[0]
    # death: rejected with the death date in the reason; IM01's look-alike in April (5 failures, < 30 %)
    # passes
    dead = next(r for r in got.values() if "PS04" in r.rules and "IM05" not in r.rules)
    assert dead.verdict == V.REJECT and "死亡" in dead.reasons[dead.rules.index("PS04")]
    im01 = {(m["subject"], m["post"]) for m in manifest if m["rule"] == "IM01"}
    assert not im01 & set(got) and im01 & {(r[0], r[1]) for r in draft}


def test_cli_jsonl_exit_codes_stored_precheck_and_duplicates(app, county, runner, tmp_path):
    manifest, draft = county
    want = expected(manifest, draft)
    clean = [r for r in draft if (r[0], r[1]) not in want]
    # a clean row twice, and a March payment already made drafted again: PS07
    twice = clean[0]
    march = _paid_row(app, clean[1], "2025-03")
    rows = clean[:30] + [twice, march]
    out = tmp_path / "out.jsonl"
    res = runner.invoke("precheck", str(write_csv(tmp_path / "村工资表.csv", rows)),
                        "--as-of", CHECK_DAY.isoformat(), "--output", str(out))
    assert res.exit_code == 3, res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["row"] for x in lines] == list(range(2, 2 + len(rows)))
    first = lines[0]
    assert set(first) == {"row", "id_number", "post_code", "period", "amount", "verdict", "allowed", "rules",
                          "reasons"}
    assert first["id_number"] == clean[0][0] and first["period"] == MONTH  # full identifiers
    assert first["amount"] == f"{float(clean[0][3]):.2f}" and first["verdict"] == "pass"
    assert first["allowed"] == first["amount"] and first["rules"] == [] and first["reasons"] == []
    copy = lines[30]  # the second of two identical rows: a repeat of row 2
    assert (copy["verdict"], copy["allowed"], copy["rules"]) == ("reject", "0.00", ["PS07"])
    assert "同一笔工资重复发放" in copy["reasons"][0] and "本表第 2 行" in copy["reasons"][0]
    again = lines[31]  # March, paid already with the same amount and account
    assert (again["verdict"], again["rules"], again["period"]) == ("reject", ["PS07"], "2025-03")
    assert "已发放" in again["reasons"][0]
    assert all(x["verdict"] == "pass" for x in lines[:30])
    assert "可发放 30 行" in res.output and "不予发放 2 行" in res.output

    # stored as a draft pre-check with its rows, logged
    db.session.rollback()
    pc = db.session.scalars(select(Precheck)).one()
    assert (pc.status, pc.as_of, pc.file_name, pc.approved_by) == ("draft", CHECK_DAY, "村工资表.csv", None)
    assert pc.units and pc.periods == ["2025-03", MONTH] and pc.summary["reject"]["rows"] == 2
    stored = db.session.scalars(select(PrecheckRow).order_by(PrecheckRow.row_no)).all()
    assert [(s.row_no, s.verdict, s.rules, s.allowed_fen) for s in stored][30:] == [
        (32, "reject", ["PS07"], 0), (33, "reject", ["PS07"], 0)]
    assert stored[0].id_masked != clean[0][0] and "*" in stored[0].id_masked
    log = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "precheck.create")).one()
    assert log.row_id == pc.id and log.new["reject"] == 2
    from audit.admin.logtext import SENTENCES

    assert SENTENCES["precheck.create"](log, None) == (
        f"发放前校验工资发放表「村工资表.csv」（第 {pc.id} 号，校验日 2025-05-10）：共 32 行，可发放 30 行"
        "、暂缓发放 0 行、"
        "不予发放 2 行")

    # every row passes: exit 0
    res = runner.invoke("precheck", str(write_csv(tmp_path / "干净.csv", clean[:20])), "--as-of",
                        CHECK_DAY.isoformat(), "--output", str(out))
    assert res.exit_code == 0, res.output
    assert {json.loads(x)["verdict"] for x in out.read_text(encoding="utf-8").splitlines()} == {"pass"}


def _paid_row(app, row: list[str], period: str) -> list[str]:
    """The draft row of ``row``'s person and post for ``period`` as it was paid (amount, account)."""
    from models import Wage

    pii = app.extensions["pii"]
    w = db.session.execute(select(Wage).join(Person, Person.id == Wage.person_id)
                           .join(Post, Post.id == Wage.post_id)
                           .where(Person.id_hash == pii.digest(row[0]), Post.code == row[1],
                                  Wage.period == dt.date.fromisoformat(period + "-01"))).scalars().first()
    account = pii.decrypt(w.account_enc) if w.account_enc else ""
    return [row[0], row[1], period, f"{w.amount_fen / 100:.2f}", account, w.account_name or "", w.batch or ""]


def test_xlsx_output_is_masked_with_the_verdict_coloured(app, county, runner, tmp_path):
    manifest, draft = county
    want = expected(manifest, draft)
    held = [r for r in draft if (r[0], r[1]) in want]
    rows = [r for r in draft if (r[0], r[1]) not in want][:3] + held[:5]
    # the draft as an official's workbook: a title row above the header, Chinese headers
    wb = Workbook()
    ws = wb.active
    ws.title = "4月工资"
    ws.append(["2025年4月公益性岗位工资发放表"])
    ws.append(["身份证号", "岗位或车间编号", "所属月份", "发放金额（元）", "收款账号", "收款户名",
               "发放批次"])
    for r in rows:
        ws.append(r)
    src = tmp_path / "四月.xlsx"
    wb.save(src)
    out = tmp_path / "结果.xlsx"
    res = runner.invoke("precheck", str(src), "--as-of", CHECK_DAY.isoformat(), "--format", "xlsx",
                        "--output", str(out))
    assert res.exit_code == 3, res.output
    sheet = load_workbook(out).active
    header = [c.value for c in sheet[2]]
    assert header[:1] == ["行号"] and "校验结果" in header and "原因" in header
    body = [[c for c in row] for row in sheet.iter_rows(min_row=3, max_row=2 + len(rows))]
    text = "\n".join(str(c.value) for row in body for c in row if c.value is not None)
    for r in rows:
        assert r[0] not in text and (not r[4] or r[4] not in text)  # ID and account numbers masked
    verdict_col = header.index("校验结果")
    colours = {row[verdict_col].value: row[verdict_col].fill.fgColor.rgb[-6:] for row in body}
    assert colours["可发放"] == "C6EFCE"
    assert (set(colours) - {"可发放"}
            and all(colours[v] in ("FFEB9C", "FFC7CE") for v in set(colours) - {"可发放"}))
    assert [row[0].value for row in body] == list(range(3, 3 + len(rows)))  # rows as Excel numbers them


def test_a_bad_file_names_its_rows_and_judges_nothing(app, county, runner, tmp_path):
    _, draft = county
    before = snapshot(db.engine)
    bad_id = list(draft[1])
    bad_id[0] = bad_id[0][:-1] + ("0" if bad_id[0][-1] != "0" else "1")  # check character wrong
    bad_amount = list(draft[2])
    bad_amount[3] = "八百"
    stranger = list(draft[3])
    stranger[1] = "GW999999-0001"
    path = write_csv(tmp_path / "错.csv", [draft[0], bad_id, bad_amount, stranger])
    res = runner.invoke("precheck", str(path), "--as-of", CHECK_DAY.isoformat())
    assert res.exit_code not in (0, 3), res.output
    assert "第3行 [身份证号]" in res.output and "校验码" in res.output
    assert "第4行 [发放金额]" in res.output
    assert "校验未进行" in res.output
    # a missing required column is named with the header row
    path = write_csv(tmp_path / "缺列.csv", [r[:2] + r[3:] for r in draft[:2]],
                     header=[h for h in HEADER if h != "period"])
    res = runner.invoke("precheck", str(path))
    assert res.exit_code not in (0, 3) and "缺少必填列「所属月份」" in res.output and "第1行" in res.output
    # a workbook of two sheets: the one named 工资发放 is read; else both are named and nothing is read
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为 4 月工资"])
    sheet = wb.create_sheet("工资发放表")
    sheet.append(HEADER)
    sheet.append(bad_amount)
    wb.save(tmp_path / "两表.xlsx")
    res = runner.invoke("precheck", str(tmp_path / "两表.xlsx"))
    assert (res.exit_code not in (0, 3) and "两表.xlsx「工资发放表」）" in res.output
            and "第2行 [发放金额]" in res.output)
    wb["工资发放表"].title = "四月"
    wb.save(tmp_path / "两表.xlsx")
    res = runner.invoke("precheck", str(tmp_path / "两表.xlsx"))
    assert res.exit_code not in (0, 3) and "有 2 个工作表（「说明」、「四月」）" in res.output
    # an unknown post: the row, after the cells are good
    res = runner.invoke("precheck", str(write_csv(tmp_path / "岗.csv", [draft[0], stranger])))
    assert res.exit_code not in (0, 3) and "第3行 [岗位或车间编号]" in res.output
    db.session.rollback()
    assert snapshot(db.engine) == before
    assert db.session.scalar(select(func.count()).select_from(Precheck)) == 0


def test_a_month_not_over_is_judged_on_days_so_far_and_the_remaining_working_days(app, county, tmp_path):
    """Checked on 15 April (a Tuesday): the days after it are not yet recorded. A row of someone who
    worked every working day so far passes (they can still make the month); one of someone with no
    present day so far is held under PS02 with the wage of the 11 working days left (16–30 April)."""
    manifest, draft = county
    want = expected(manifest, draft)
    day = dt.date(2025, 4, 15)
    with db.engine.begin() as conn:  # what the database holds on 15 April
        conn.execute(delete(Attendance).where(Attendance.work_date > day))
    pii = app.extensions["pii"]
    clean = [r for r in draft if (r[0], r[1]) not in want and r[1].startswith("GW")]
    worker, idle = clean[0], clean[1]
    idle_person = db.session.scalar(select(Person.id).where(Person.id_hash == pii.digest(idle[0])))
    with db.engine.begin() as conn:
        conn.execute(delete(Attendance).where(Attendance.person_id == idle_person,
                                              Attendance.work_month == dt.date(2025, 4, 1)))
    before = snapshot(db.engine)
    result = check(db.engine, read_draft(write_csv(tmp_path / "月中.csv", [worker, idle])), as_of=day,
                   pii=pii)
    assert snapshot(db.engine) == before
    assert result.judged_as_of == dt.date(2025, 4, 30)
    ok, short = result.rows
    assert (ok.verdict, ok.rules) == (V.PASS, [])
    assert (short.verdict, short.rules) == (V.HOLD, ["PS02"]), short.reasons
    assert "出勤 11 天" in short.reasons[0]
    assert 0 < short.allowed_fen < short.draft.amount_fen
