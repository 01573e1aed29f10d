"""A notice goes to one unit: its evidence names nobody outside that unit (IM04: the other people
paid into the same account, of another district)."""
from __future__ import annotations

import datetime as dt
import re
import subprocess

from sqlalchemy import select

from models import Finding, db

from web_helpers import load, share_account, two_districts


def test_the_notice_names_no_one_outside_the_unit_it_goes_to(app, people, tmp_path):
    from audit.rectification.services import issue
    from reports.notice import build_notice
    from reports.render import render_pdf

    t = two_districts(people)
    d = t.ids["刘一"]
    share_account(t, "王大山", "刘一", "2025-02")  # 刘一 (巫山县) is paid into 王大山's account (奉节县)
    load(t, app, tmp_path / "bundle")
    db.session.rollback()
    im04 = db.session.scalars(select(Finding).where(Finding.rule == "IM04",
                                                    Finding.person_id == t.person_id["王大山"])).one()
    assert "刘一" in im04.explanation  # the stored finding names both
    notice = issue(im04.unit, [im04.id], dt.date.today() + dt.timedelta(days=30), by="auditor",
                   scope_clause=Finding.id.is_not(None))
    db.session.commit()
    path = tmp_path / "n.pdf"
    path.write_bytes(render_pdf(build_notice(notice.id).html))
    text = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                            check=True).stdout)
    assert "王大山" in text
    assert "刘一" not in text and (d[:6] + "********" + d[-4:]) not in text
    assert "另有1人不在贵单位范围，未列出" in text


def test_the_operators_grid_names_no_one_outside_the_unit(app, people, quick_hashes, tmp_path):
    import web_helpers as wh
    from web_helpers import create_users

    t = two_districts(people)
    d = t.ids["刘一"]
    share_account(t, "王大山", "刘一", "2025-02")  # 刘一 (巫山县) is paid into 王大山's account (奉节县)
    load(t, app, tmp_path / "bundle")
    create_users(app)
    client = app.test_client()
    wh.login(client, "operator_bd")
    page = client.get("/attendance/grid?kind=employer&unit=奉节县/白帝镇/白帝村村民委员会&month=2025-02")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "同一账户领取多人工资" in html and "王大山" in html
    assert "刘一" not in html and (d[:6] + "********" + d[-4:]) not in html


def test_the_web_export_names_no_one_outside_the_readers_scope(app, people, quick_hashes, tmp_path):
    import web_helpers as wh
    from web_helpers import create_users

    t = two_districts(people)
    d = t.ids["刘一"]
    share_account(t, "王大山", "刘一", "2025-02")
    load(t, app, tmp_path / "bundle")
    create_users(app)
    client = app.test_client()
    wh.login(client, "auditor_fj")
    body = client.get("/findings/export.csv?rule=IM04").get_data(as_text=True)
    a = t.ids["王大山"]
    assert "同一账户领取多人工资" in body and (a[:6] + "********" + a[-4:]) in body
    assert "刘一" not in body and (d[:6] + "********" + d[-4:]) not in body
