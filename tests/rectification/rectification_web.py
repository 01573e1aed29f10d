"""What the web tests of 整改 (tests/rectification/) do and read: issue a notice, answer it, override an
item, and the rows stored."""
from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import func, select

from models import (
    Finding,
    Notice,
    NoticeFinding,
    db,
)

import web_helpers as wh
from web_helpers import login, post, text

UNIT = wh.BAIDI
UNIT_NAME = "白帝镇白帝村村民委员会"  # how people read it: its township before its name
PDF = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
       b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
ANSWER = "已清退王大山，追回 2025 年 2 月、3 月违规发放的工资 1200 元，并更正考勤台账。"


def user(app, name: str):
    c = app.test_client()
    login(c, name)
    return c


def issue(app, web, who: str = "auditor_fj", **change) -> int:
    """auditor_fj issues a notice for 白帝村村民委员会 with its two findings; the notice's id."""
    c = user(app, who)
    ps01, ps02 = web.finding("奉节县", "PS01"), web.finding("奉节县", "PS02")
    data = {"unit": UNIT, "ids": [ps01.id, ps02.id], f"act-{ps01.id}": ["dismiss_person", "recover"],
            f"act-{ps02.id}": ["recover", "correct_ledger"],
            "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            "requirements": "请附缴款凭证。"}
    data.update(change)
    r = post(c, "/notices/new", data)
    assert r.status_code == 303, text(r)[:600]
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def items(nid: int) -> dict[str, int]:
    """The notice's item ids by rule."""
    db.session.rollback()
    return {db.session.get(Finding, i.finding_id).rule: i.id
            for i in db.session.scalars(select(NoticeFinding).where(NoticeFinding.notice_id == nid))}


def answer(c, nid: int, files=None, body: str = ANSWER, per_item: dict | None = None, do: str = "submit"):
    """The unit answers every item still to answer (by rule: a dict of field -> value; default
    已清退 for PS01 and 已更正台账 for PS02), with the overall text and files."""
    files = [(io.BytesIO(PDF), "追回工资缴款凭证.pdf")] if files is None else files
    data = {"text": body, "files": files, "do": do}
    chosen = {"PS01": {"action": "dismissed"}, "PS02": {"action": "ledger_corrected"}}
    chosen.update(per_item or {})
    for rule, iid in items(nid).items():
        for k, v in chosen.get(rule, {}).items():
            data[f"a-{iid}-{k}"] = v
    return post(c, f"/notices/{nid}/answer", data, content_type="multipart/form-data")


def override(c, nid: int, rule: str, reason: str = "经实地核实已整改到位，准予销号"):
    return post(c, f"/notices/{nid}/items/{items(nid)[rule]}/override", {"reason": reason})


def notice(nid: int) -> Notice:
    db.session.rollback()
    return db.session.get(Notice, nid)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))
