"""The findings export from the web: the list's filters within the user's scope, masked numbers,
logged; with ``report_period`` the same findings the 审计报告 counts for that region and period."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter

from sqlalchemy import select

from models import ChangeLog, db

from web_helpers import login


def _rows(resp) -> list[dict]:
    assert resp.status_code == 200, resp.status_code
    assert "attachment" in resp.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_web_export_is_the_users_scope_masked_and_logged(web, client):
    login(client, "auditor_fj")
    rows = _rows(client.get("/findings/export.csv?status=all"))
    assert rows and {r["区县"] for r in rows} == {"奉节县"}  # nothing of 巫山县
    text = "".join(",".join(r.values()) for r in rows)
    for number in web.ids.values():
        assert number not in text  # ID numbers masked
    entry = db.session.scalars(select(ChangeLog).where(ChangeLog.action == "findings.export")
                               .order_by(ChangeLog.id.desc())).first()
    assert entry is not None and entry.actor == "auditor_fj"
    assert client.get("/findings/export.pdf").status_code == 404


def test_the_export_for_a_report_period_counts_what_the_report_counts(web, client):
    from reports.summary import figures

    login(client, "auditor_fj")
    rows = _rows(client.get("/findings/export.csv?status=all&district=奉节县&report_period=2025-01:2025-06"))
    by_cat = Counter(r["类别"] for r in rows)
    assert sum(by_cat.values()) >= 2
    fig = figures("奉节县", [f"2025-{m:02d}" for m in range(1, 7)], today=dt.date.today())
    for c in fig["categories"] + fig["info_categories"]:
        assert by_cat.get(c["name"], 0) == c["all"], c["name"]
    assert client.get("/findings/export.csv?report_period=2025-13").status_code == 400


def test_the_findings_list_offers_its_own_export(web, client):
    login(client, "auditor_fj")
    html = client.get("/findings/?category=phantom_salary").get_data(as_text=True)
    assert "每笔发放只计一次" in html
    link = re.search(r'href="([^"]*export\.xlsx[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "category=phantom_salary" in link
    resp = client.get(link)
    assert resp.status_code == 200 and resp.data[:2] == b"PK"  # an xlsx workbook
    rows = _rows(client.get(link.replace("export.xlsx", "export.csv")))
    assert rows and {r["类别"] for r in rows} == {"吃空饷 / 虚报冒领"}
