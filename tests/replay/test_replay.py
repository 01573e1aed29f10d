"""审计回放 (issue 14): an audit as of an earlier date, shown and exported, that changes nothing of the
current findings — their states, money, history and notices; a normal run at an earlier date is
refused; the web's replay within the user's scope, downloaded as Excel."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, select

from audit.engine.runner import EarlierAsOfError, run_audit
from audit.findings.services import review
from audit.rectification import services as rect
from audit.replay.services import replay
from models import AuditRun, ChangeLog, Finding, Job, ReplayFinding, ReplayRun, RuleParameter, db

import web_helpers as wh
from helpers import County, findings, snapshot
from web_helpers import login, post

LIVE, EARLIER = "2025-06-30", "2025-05-15"
REPLAY_TABLES = ("replay_runs", "replay_findings", "replay_money")


def absent(c: County, idn: str, post_code: str, month: str, **pay) -> None:
    """A month with no present day, paid in full (PS01)."""
    c.work(idn, post_code, month, present=0, other="缺勤")
    c.pay(idn, post_code, month, **pay)


@pytest.fixture
def county(people):
    """王大山: absent and paid in February (paid 03-10) and May (paid 06-10). 李小花: absent and paid
    in March (paid 04-10). 张三: worked March, paid on 05-20, after its due date 04-30 (WA01: unpaid
    as of 05-15, paid late as of 06-30). 赵老汉 died on 02-03 and was paid for February and March
    with no attendance (PS01, and PS04 on the same March wages)."""
    c = County(people)
    c.position("GW-1")
    c.position("GW-2", wage="900.00", title="护林员")
    c.position("GW-3")
    c.position("GW-4", title="巡河员")
    c.ids = {"王大山": c.person("王大山"), "李小花": c.person("李小花", "1985-02-03", False),
             "张三": c.person("张三", "1990-07-15")}
    a, b, e = c.ids["王大山"], c.ids["李小花"], c.ids["张三"]
    c.place(a, "GW-1", "2025-01-01")
    c.place(b, "GW-2", "2025-01-01")
    c.place(e, "GW-4", "2025-01-01")
    for m in ("2025-01", "2025-03", "2025-04"):
        c.month(a, "GW-1", m)
    absent(c, a, "GW-1", "2025-02")
    absent(c, a, "GW-1", "2025-05")
    for m in ("2025-01", "2025-02", "2025-04", "2025-05"):
        c.month(b, "GW-2", m)
    absent(c, b, "GW-2", "2025-03")
    for m in ("2025-01", "2025-02", "2025-04"):
        c.month(e, "GW-4", m)
    c.work(e, "GW-4", "2025-03")
    c.pay(e, "GW-4", "2025-03", paid_on="2025-05-20")
    c.ids["赵老汉"] = c.dead_but_paid("赵老汉", "GW-3", "2025-02-03", worked=["2025-01"],
                                    paid=["2025-02", "2025-03"])
    return c


def one(found: list[dict], rule: str, name: str, period: str, ids: dict) -> dict:
    [f] = [f for f in found if f["rule"] == rule and f["subject"] == ids[name] and f["periods"] == [period]]
    return f


def replayed(replay_id: int) -> dict[str, ReplayFinding]:
    db.session.rollback()
    rows = db.session.scalars(select(ReplayFinding).where(ReplayFinding.replay_id == replay_id))
    return {f.id: f for f in rows}


def log_rows() -> list[tuple]:
    db.session.rollback()
    return [(e.id, e.action, e.table_name, e.row_ref, repr(e.old), repr(e.new), e.hash)
            for e in db.session.scalars(select(ChangeLog).order_by(ChangeLog.id))]


def live_state(engine) -> dict[str, list]:
    """Every table but the replays' own and the log (whose earlier entries are compared apart)."""
    snap = snapshot(engine)
    return {t: rows for t, rows in snap.items() if t not in (*REPLAY_TABLES, "change_log", "jobs")}


@pytest.fixture
def worked(app, county, tmp_path):
    """The county audited as of 2025-06-30, then reviewed: 王大山's February confirmed, 李小花's March
    dismissed with a reason, and a notice issued to their unit on 赵老汉's findings."""
    found = county.audit(app, tmp_path, as_of=LIVE)
    ids = county.ids
    feb = db.session.get(Finding, one(found, "PS01", "王大山", "2025-02", ids)["id"])
    review(feb, "confirm", "", by="auditor_fj")
    mar = db.session.get(Finding, one(found, "PS01", "李小花", "2025-03", ids)["id"])
    review(mar, "dismiss", "三月为汛期停工，经乡镇批准照发", by="auditor_fj")
    db.session.commit()
    dead = [f["id"] for f in found if f["subject"] == ids["赵老汉"] and f["rule"] in ("PS01", "PS04")]
    rect.issue(wh.BAIDI, dead, dt.date.today() + dt.timedelta(days=30), by="auditor_fj",
               scope_clause=Finding.id.is_not(None), today=dt.date.today())
    db.session.commit()
    return findings(app)


def test_a_replay_finds_what_the_earlier_date_shows_and_changes_nothing_live(app, county, worked):
    ids = county.ids
    before, log_before = live_state(db.engine), log_rows()
    runs_before = db.session.scalar(select(func.count()).select_from(AuditRun))

    r = replay(db.engine, as_of=dt.date.fromisoformat(EARLIER), actor="auditor_fj")
    got = replayed(r.replay_id)
    live = {f["id"]: f for f in worked}

    # months paid by 05-15 are found as they are today, with the same ids and amounts
    for rule, name, period in (("PS01", "王大山", "2025-02"), ("PS01", "李小花", "2025-03"),
                               ("PS01", "赵老汉", "2025-03"), ("PS04", "赵老汉", "2025-03")):
        f = one(worked, rule, name, period, ids)
        assert f["id"] in got, (rule, name, period)
        assert f"{got[f['id']].amount_at_risk_fen / 100:.2f}" == live[f["id"]]["amount"]
    # May's wages of 王大山 were paid on 06-10: on 05-15 there was nothing to find yet
    may = one(worked, "PS01", "王大山", "2025-05", ids)
    assert may["id"] not in got
    # 张三's March: today paid late (0.00 owed); on 05-15 still unpaid, 800.00 owed
    wa = one(worked, "WA01", "张三", "2025-03", ids)
    assert wa["amount"] == "0.00" and got[wa["id"]].amount_at_risk_fen == 80000
    assert "应于 2025-04-30 前发放" in got[wa["id"]].explanation

    # money counted once: 赵老汉's March wages are claimed by PS01 and PS04, counted once
    phantom = r.amount_by_category["phantom_salary"]
    assert phantom == 80000 + 90000 + 80000 + 80000  # 王大山 Feb, 李小花 Mar, 赵老汉 Feb and Mar
    claimed = sum(f.amount_at_risk_fen or 0 for f in got.values() if f.category == "phantom_salary")
    assert claimed > phantom
    run = db.session.get(ReplayRun, r.replay_id)
    assert run.summary["amount_by_category_fen"]["phantom_salary"] == phantom
    assert run.as_of == dt.date(2025, 5, 15)

    # nothing of the present changed: findings, their states, money, notices, runs — byte for byte
    assert live_state(db.engine) == before
    assert db.session.scalar(select(func.count()).select_from(AuditRun)) == runs_before
    after = log_rows()
    assert after[:len(log_before)] == log_before
    assert [(e[1], e[3]) for e in after[len(log_before):]] == [("audit.replay", EARLIER)]

    # the next normal run keeps every state as the reviews left it
    run_audit(db.engine, as_of=dt.date.fromisoformat(LIVE), actor="test")
    now = {f["id"]: f["status"] for f in findings(app)}
    assert now == {f["id"]: f["status"] for f in worked}
    assert now[one(worked, "PS01", "王大山", "2025-02", ids)["id"]] == "confirmed"
    assert now[one(worked, "PS01", "李小花", "2025-03", ids)["id"]] == "dismissed"
    assert now[may["id"]] == "open"


def test_a_replay_at_the_live_date_sums_up_as_the_live_run(app, county, tmp_path):
    county.audit(app, tmp_path, as_of=LIVE)
    live = db.session.get(AuditRun, county.run.run_id)
    r = replay(db.engine, as_of=dt.date.fromisoformat(LIVE), actor="test")
    assert r.total == live.summary["total"]
    assert dict(r.by_category) == live.summary["by_category"]
    assert {k: v for k, v in r.amount_by_category.items() if v} == \
        {k: v for k, v in live.summary["amount_by_category_fen"].items() if v}


def test_a_normal_run_at_an_earlier_date_is_refused(app, runner, county, worked):
    before, log_before = live_state(db.engine), log_rows()
    with pytest.raises(EarlierAsOfError) as refused:
        run_audit(db.engine, as_of=dt.date.fromisoformat(EARLIER), actor="test")
    assert f"基准日 {EARLIER} 早于最近一次审计运行" in str(refused.value)
    assert f"audit run --as-of {EARLIER} --replay" in str(refused.value)
    out = runner.invoke("run", "--as-of", EARLIER)
    assert out.exit_code != 0
    assert "按较早的日期运行会改写当前审计发现的状态，本次未运行" in out.output and "--replay" in out.output
    assert live_state(db.engine) == before and log_rows() == log_before
    # the same date, or a later one, runs
    assert runner.invoke("run", "--as-of", LIVE).exit_code == 0


def test_the_command_line_replay_prints_the_summary_and_exports(app, runner, county, worked, tmp_path):
    ids = county.ids
    before = live_state(db.engine)
    path = tmp_path / "replay.jsonl"
    out = runner.invoke("run", "--as-of", EARLIER, "--replay", "--format", "jsonl", "--output", str(path))
    assert out.exit_code == 0, out.output
    assert f"基准日 {EARLIER}" in out.output and "未改动当前的审计发现及其状态" in out.output
    line = next(x for x in out.output.splitlines() if x.startswith("吃空饷"))
    assert line.split()[-2:] == ["5", "3,300.00"]  # PS01 ×4 and PS04, 3,300.00 counted once
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    feb = next(x for x in lines if x["rule"] == "PS01" and x["periods"] == ["2025-02"]
               and x["subject"] == ids["王大山"])  # JSON Lines: full ID numbers
    assert feb["status"] == "confirmed" and feb["as_of"] == EARLIER and feb["amount_at_risk"] == "800.00"
    assert not any(x["periods"] == ["2025-05"] for x in lines)

    csv_path = tmp_path / "replay.csv"
    out = runner.invoke("run", "--as-of", EARLIER, "--replay", "--output", str(csv_path))
    assert out.exit_code == 0, out.output
    text = csv_path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert "当前状态" in rows[0] and len(rows) == len(lines) + 1
    assert all(idn not in text for idn in ids.values())  # CSV: masked only
    assert f"{ids['王大山'][:6]}********{ids['王大山'][-4:]}" in text
    status = rows[0].index("当前状态")
    assert {r[status] for r in rows[1:]} >= {"已确认", "已排除"}

    assert live_state(db.engine) == before
    actions = [e[1] for e in log_rows() if e[1] in ("audit.replay", "replay.export")]
    assert actions == ["audit.replay", "replay.export", "audit.replay", "replay.export"]
    assert "--format" in runner.invoke("run", "--as-of", EARLIER, "--format", "csv").output  # replays only


def test_a_replay_uses_the_parameters_in_force_on_its_date(app, county, worked):
    """WA01's due date: one month after the month worked by default, two with 奉节县's override. An
    override that takes effect after the replay's date is not a parameter of that replay (nor
    recorded as one); once it is in force it applies from the months it names."""
    wa = one(worked, "WA01", "张三", "2025-03", county.ids)
    db.session.add(RuleParameter(rule="WA01", name="pay_due_months", value=2, district="奉节县",
                                 effective_from=dt.date(2025, 5, 16)))
    db.session.commit()
    early = replay(db.engine, as_of=dt.date.fromisoformat(EARLIER), actor="test")
    assert wa["id"] in replayed(early.replay_id)  # due on 04-30, unpaid on 05-15
    assert early.rules["WA01"]["params"] == {"pay_due_months": 1}
    later = replay(db.engine, as_of=dt.date(2025, 5, 20), actor="test")
    assert later.rules["WA01"]["params"]["pay_due_months:overrides"] == [
        {"value": 2, "from": "2025-05-16", "district": "奉节县", "township": None}]

    db.session.execute(RuleParameter.__table__.update().values(effective_from=dt.date(2025, 3, 1)))
    db.session.commit()
    after = replay(db.engine, as_of=dt.date.fromisoformat(EARLIER), actor="test")
    assert wa["id"] not in replayed(after.replay_id)  # in force from March: due on 05-31, not yet due


# ---- the web ---------------------------------------------------------------------------------------

def _mask(idn: str) -> str:
    return f"{idn[:6]}********{idn[-4:]}"


def _text(resp) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def _replay_on_web(client, day: str) -> int:
    from audit.uploads import jobs

    resp = post(client, "/replay/", {"as_of": day})
    assert resp.status_code == 303, resp.status_code
    job_id = int(re.search(r"/replay/jobs/(\d+)$", resp.headers["Location"]).group(1))
    jobs.wait(job_id)
    done = client.get(f"/replay/jobs/{job_id}")
    assert done.status_code == 303, _text(done)
    return int(re.search(r"/replay/(\d+)$", done.headers["Location"]).group(1))


def test_an_auditor_replays_on_the_web_and_downloads_it(web, app):
    from openpyxl import load_workbook

    fj, ws = app.test_client(), app.test_client()
    login(fj, "auditor_fj")
    login(ws, "auditor_ws")
    before = live_state(db.engine)
    page = _text(fj.get("/runs"))
    assert "审计回放：查看较早日期的审计结果" in page
    assert "按较早的基准日回放审计" in _text(fj.get("/replay/"))

    # on 03-15: the February wages (paid 03-10) were paid for no work; March's (paid 04-10) not yet paid
    rid = _replay_on_web(fj, "2025-03-15")
    page = _text(fj.get(f"/replay/{rid}"))
    wang, masked = "王大山", _mask(web.ids["王大山"])
    assert "审计回放：基准日 2025-03-15" in page
    assert "PS01 发放工资的月份没有任何出勤" in page and f"{wang} {masked}" in page
    assert "白帝镇白帝村村民委员会" in page and "2025-02" in page and "800.00" in page
    assert "PS02" not in page  # March: not paid by 03-15
    assert "刘一" not in page  # 巫山县's finding is not the 奉节县 auditor's
    assert re.search(r"吃空饷 / 虚报冒领 1 800\.00", page)
    assert "待复核" in page  # the same finding's current state

    resp = fj.get(f"/replay/{rid}.xlsx")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    rows = list(wb["回放发现"].values)
    head = rows[0]
    body = [dict(zip(head, r, strict=False)) for r in rows[1:]]
    assert [(r["规则"], r["对象"], r["所属月份"], r["涉及金额(元)"]) for r in body] == [
        ("PS01", masked, "2025-02", "800.00")]
    notes = [r for r in wb["说明"].values]
    assert ("审计基准日", "2025-03-15", None) in notes
    assert all(web.ids["王大山"] not in str(v) for r in rows for v in r)

    # the 巫山县 auditor opening the same replay reads only 巫山县
    page = _text(ws.get(f"/replay/{rid}"))
    assert "刘一" in page and wang not in page and masked not in page
    wb = load_workbook(io.BytesIO(ws.get(f"/replay/{rid}.xlsx").data))
    assert [r[5] for r in list(wb["回放发现"].values)[1:]] == [_mask(web.ids["刘一"])]
    # another user's replay job is not theirs to follow
    jid = db.session.scalar(select(func.max(Job.id)).where(Job.kind == "audit.replay"))
    assert fj.get(f"/replay/jobs/{jid}").status_code == 303
    assert ws.get(f"/replay/jobs/{jid}").status_code == 404

    # the dashboard's latest audit is still the live run, never the replay
    assert "最近一次审计：第 1 次，基准日 2025-06-30" in _text(fj.get("/dashboard/"))
    assert live_state(db.engine) == before
    entries = [e[1] for e in log_rows() if e[1] in ("audit.replay", "replay.export")]
    assert entries == ["audit.replay", "replay.export", "replay.export"]
    admin = app.test_client()
    login(admin, "admin")
    log = _text(admin.get("/admin/log"))
    assert f"回放审计（回放 #{rid}，基准日 2025-03-15，全部规则，不改动当前的审计发现）：完成" in log
    assert f"导出审计回放 #{rid}（基准日 2025-03-15）的 1 条审计发现为 XLSX 文件（证件号、账号已脱敏）" in log


def test_who_may_replay_and_what_a_date_must_be(web, app):
    inspector, auditor = app.test_client(), app.test_client()
    login(inspector, "inspector_fj")
    assert inspector.get("/replay/").status_code == 403
    assert post(inspector, "/replay/", {"as_of": "2025-03-15"}).status_code == 403
    login(auditor, "auditor_fj")
    resp = post(auditor, "/replay/", {"as_of": "2025-13-01"}, follow_redirects=True)
    assert "请按 YYYY-MM-DD 填写" in _text(resp)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert "不能晚于" in _text(post(auditor, "/replay/", {"as_of": tomorrow}, follow_redirects=True))
    no_token = auditor.post("/replay/", data={"as_of": "2025-03-15"})
    assert no_token.status_code in (400, 403)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ReplayRun)) == 0
