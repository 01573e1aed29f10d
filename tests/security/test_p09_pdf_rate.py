"""P9: PDF generation is limited per user: PDF_PER_MINUTE (default 10) within a minute, counted in the
database (the archive's rows), so the limit holds across web workers. The next one answers 429 with
Retry-After and a Chinese message, renders nothing, and is logged once; another user is not affected;
the limit lifts when the oldest PDF leaves the minute."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from models import ChangeLog, ReportFile, db

from web_helpers import login, post


def client_of(app, name: str):
    c = app.test_client()
    login(c, name)
    return c


def reports(by: str | None = None) -> int:
    db.session.rollback()
    q = select(func.count()).select_from(ReportFile)
    return db.session.scalar(q.where(ReportFile.created_by == by) if by else q)


def refusals_logged(by: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ChangeLog).where(
        ChangeLog.action == "report.rate_limited", ChangeLog.row_ref == by))


def test_the_eleventh_pdf_within_a_minute_is_refused_and_another_user_is_not(app, web):
    assert app.config["PDF_PER_MINUTE"] == 10
    ins = client_of(app, "inspector_fj")
    for _ in range(10):
        assert post(ins, "/reports/ledger", {"district": "奉节县"}).status_code == 303
    assert reports("inspector_fj") == 10

    resp = post(ins, "/reports/ledger", {"district": "奉节县"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert ("一分钟内最多生成 10 份 PDF 报告" in page
            and f"请约 {resp.headers['Retry-After']} 秒后再试" in page)
    # the other kind of report counts against the same limit; nothing was rendered or archived
    assert (post(ins, "/reports/summary", {"district": "奉节县", "period": "2025-01:2025-06"})
            .status_code == 429)
    assert reports("inspector_fj") == 10
    assert refusals_logged("inspector_fj") == 1  # once a minute, however many refusals

    # another user of the same district is not affected
    au = client_of(app, "auditor_fj")
    assert post(au, "/reports/ledger", {"district": "奉节县"}).status_code == 303
    assert reports("auditor_fj") == 1

    # a minute later (the oldest PDF out of the window) the first user may generate again
    db.session.execute(ReportFile.__table__.update().where(ReportFile.created_by == "inspector_fj")
                       .values(created_at=dt.datetime.now() - dt.timedelta(seconds=61)))
    db.session.commit()
    assert post(ins, "/reports/ledger", {"district": "奉节县"}).status_code == 303
    assert reports("inspector_fj") == 11


def test_the_limit_is_a_setting_and_archived_pdfs_stay_downloadable(app, web):
    app.config["PDF_PER_MINUTE"] = 1
    ins = client_of(app, "inspector_fj")
    assert post(ins, "/reports/ledger", {"district": "奉节县"}).status_code == 303
    resp = post(ins, "/reports/ledger", {"district": "奉节县"})
    assert resp.status_code == 429 and "一分钟内最多生成 1 份 PDF 报告" in resp.get_data(as_text=True)
    db.session.rollback()
    rid = db.session.scalar(select(ReportFile.id))
    assert ins.get(f"/reports/{rid}/download").data[:4] == b"%PDF"  # a download renders nothing: not counted
    app.config["PDF_PER_MINUTE"] = 0  # off
    assert post(ins, "/reports/ledger", {"district": "奉节县"}).status_code == 303
