"""The audit log reads as sentences: who did what to what, in Chinese, with the changed fields as a
small table and the address, browser and the entry's hash in columns of their own."""
from __future__ import annotations

import re

from sqlalchemy import select

from audit.admin import logtext
from audit.money import yuan
from models import ChangeLog, Notice, db

import web_helpers as wh
from web_helpers import RequestClient

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def text(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def rows_text(resp) -> str:
    """The visible text of the log table's body only."""
    html = resp.get_data(as_text=True)
    body = html[html.index('<table class="table log-table">'):]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body[:body.index("</tbody>")]))


def test_the_log_reads_as_sentences_after_a_confirmation_and_a_notice(web, app):
    from audit.auth.services import create_user
    from models import User

    u = db.session.scalars(select(User).where(User.username == "auditor_fj")).one()
    u.display_name = "王审计"
    db.session.commit()
    create_user("admin_log", "admin", wh.PASSWORD, by="test", display_name="李管理")
    db.session.commit()

    auditor = RequestClient(app)
    auditor.environ_base["HTTP_USER_AGENT"] = UA
    wh.login(auditor, "auditor_fj")
    ps02, ps01 = web.finding("奉节县", "PS02"), web.finding("奉节县", "PS01")
    r = wh.post(auditor, f"/findings/{ps02.id}/review", {"action": "confirm", "note": "核实属实"})
    assert r.status_code == 303
    r = wh.post(auditor, "/notices/new", {"unit": wh.BAIDI, "ids": [ps01.id],
                                          f"act-{ps01.id}": ["recover"], "deadline": "2099-12-31"})
    assert r.status_code == 303, text(r)[:2000]
    db.session.rollback()
    notice = db.session.scalars(select(Notice)).one()

    admin = RequestClient(app)
    wh.login(admin, "admin_log")
    resp = admin.get("/admin/log")
    page, body = text(resp), rows_text(resp)
    # each entry a sentence naming the actor by role and name, the object by its name
    assert "审计人员 王审计 确认问题「PS02 出勤不足却足额或超额发放工资」" in page
    assert "意见：核实属实" in page
    assert (f"审计人员 王审计 向 白帝镇白帝村村民委员会 下发整改通知书 {notice.number}（1 条问题，"
            f"应追回 {yuan(notice.amount_to_recover_fen)} 元") in page
    assert "审计人员 王审计 登录系统" in page
    # the changed fields as a small table: field in Chinese, old, new
    assert "状态 待复核 已确认" in body
    # no raw action codes, no key dumps
    for code in ("finding.confirm", "notice.issue", "auth.login", "recover_fen", "'status'", '"status"'):
        assert code not in body, code
    # the address, the browser and the entry's hash each in their own column
    html = resp.get_data(as_text=True)
    entry = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "notice.issue")).one()
    assert f'title="{UA}"' in html  # the whole user agent kept, its short form shown
    assert f'title="{entry.hash}"' in html and entry.hash[:12] in body
    head = html[html.index('<table class="table log-table">'):html.index("</thead>")]
    assert [h for h in re.findall(r"<th>([^<]+)</th>", head)] == ["时间", "事件", "IP 地址", "浏览器",
                                                                   "记录摘要"]


def test_every_recorded_action_has_a_sentence():
    """Every action the code writes to the log is in the table (grep of record(…) / "action": …)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "audit"
    found = set()
    for path in root.rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"""record(?:_now)?\(\s*f?["']([a-z_]+\.[a-z_{}]+)["']""", src))
        found |= set(re.findall(r"""["']action["']:\s*["']([a-z_]+\.[a-z_]+)["']""", src))
        found |= set(re.findall(r"""^[A-Z_]+ = ["']([a-z]+\.[a-z_]+)["']""", src, re.M))
        for a, b, c in re.findall(r"""^[A-Z_, ]+= ["']([a-z]+\.[a-z_]+)["'], ["']([a-z]+\.[a-z_]+)["']"""
                                  r"""(?:, ["']([a-z]+\.[a-z_]+)["'])?""", src, re.M):
            found |= {x for x in (a, b, c) if x}
    # f-strings: auth.{reason} (logout, timeout) and finding.{action} (the review transitions)
    found = {a for a in found if "{" not in a} | {"auth.logout", "auth.timeout", "finding.confirm",
                                                   "finding.dismiss", "finding.reopen"}
    assert {"notice.issue", "finding.close", "audit.run", "import.commit"} <= found
    assert not found - set(logtext.SENTENCES), sorted(found - set(logtext.SENTENCES))


def test_an_unknown_action_still_reads_as_a_sentence(web, app):
    from audit.auditlog import record

    record("something.new", table="notices", ref="渝奉人社审〔2026〕9号", who="auditor_fj")
    db.session.commit()
    admin = RequestClient(app)
    wh.login(admin, "admin")
    body = rows_text(admin.get("/admin/log"))
    assert "审计人员 auditor_fj 进行了一项操作，对象：整改通知书 渝奉人社审〔2026〕9号" in body


def test_the_browser_reads_as_name_version_and_system_with_the_whole_string_kept():
    from audit.admin.logtext import browser

    assert browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/120.0 Safari/537.36 Edg/120.0") == "Edge 120 · Windows"
    assert browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                   "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1") == "Safari 17 · iOS"
    assert browser(None) == "—"
