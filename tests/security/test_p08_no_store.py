"""P8 (issue 13): whatever a signed-in user is sent — pages, JSON, CSV, XLSX and PDF downloads —
carries ``Cache-Control: no-store``: no browser or proxy keeps a copy of personal data, not even
one to revalidate ("no-cache" would)."""
from __future__ import annotations

from helpers import base_tables, write_bundle
from web_helpers import login, upload_zip, zip_folder


def no_store(resp) -> bool:
    return resp.headers.get("Cache-Control") == "no-store"


def test_every_download_and_page_of_a_signed_in_user_is_no_store(app, web, people, tmp_path):
    auditor = app.test_client()
    login(auditor, "auditor_fj")
    # a refused upload, for its errors CSV and its JSON state
    tables = base_tables(people)
    tables["persons"][0]["categories"] = "不是类别"
    folder = tmp_path / "bad"
    write_bundle(folder, tables)
    data = zip_folder(folder)
    job = upload_zip(auditor, data, "bundle.zip")
    from audit.uploads import jobs

    jobs.wait(job)

    for path in ("/dashboard/", "/findings/", f"/findings/{web.finding('奉节县', 'PS01').id}",
                 f"/persons/{web.person_id['王大山']}", "/findings/export.csv", "/findings/export.xlsx",
                 f"/uploads/{job}.json", f"/uploads/{job}/errors.csv", "/uploads/templates.zip",
                 "/findings/no-such-finding"):
        resp = auditor.get(path)
        assert resp.status_code in (200, 404), (path, resp.status_code)
        assert no_store(resp), (path, resp.headers.get("Cache-Control"))
        assert "ETag" not in resp.headers and "Last-Modified" not in resp.headers, path

    operator = app.test_client()
    login(operator, "operator_bd")
    resp = operator.get("/attendance/sheet.xlsx?kind=employer&unit=奉节县/白帝镇/白帝村村民委员会"
                        "&month=2025-04")
    assert resp.status_code == 200 and no_store(resp), resp.headers.get("Cache-Control")


def test_the_sign_in_page_and_static_files_may_be_cached_as_before(app, web):
    c = app.test_client()
    assert not no_store(c.get("/login"))  # nothing personal on it
    css = c.get("/static/css/app.css")
    assert css.status_code == 200 and not no_store(css)
