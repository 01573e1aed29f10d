"""B13 (issue 13): a number too large for the database — in a path, a query string or a form —
answers 400 or 404 with a page in Chinese, never 500."""
from __future__ import annotations

import pytest

from web_helpers import login, post

HUGE = "99999999999999999999"
HUGER = "9" * 5000  # beyond Python's own limit on the digits of int()


@pytest.mark.parametrize("path", [
    f"/persons/{HUGE}", f"/positions/{HUGE}", f"/workshops/{HUGE}", f"/imports/{HUGE}", f"/runs/{HUGE}",
    f"/notices/{HUGE}", f"/notices/1/files/{HUGE}", f"/reports/{HUGE}/download", f"/uploads/{HUGE}",
    f"/uploads/{HUGE}.json", f"/uploads/{HUGE}/errors.csv", f"/admin/users/{HUGE}", f"/persons/{HUGER}",
    "/persons/2147483648",
])
def test_a_huge_id_in_the_path(app, web, path):
    c = app.test_client()
    login(c, "admin" if path.startswith("/admin") else "auditor_fj")
    r = c.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "系统错误" not in r.get_data(as_text=True)


@pytest.mark.parametrize("query", [
    f"/findings/?page={HUGE}", f"/findings/?page=-{HUGE}", f"/persons?page={HUGE}", f"/positions?page={HUGE}",
    f"/workshops?page={HUGE}", f"/imports?page={HUGE}", f"/runs?page={HUGE}", f"/notices/?page={HUGE}",
    f"/admin/log?page={HUGE}", f"/findings/?person={HUGE}", f"/findings/?page={HUGER}",
])
def test_a_huge_number_in_the_query_string(app, web, query):
    c = app.test_client()
    login(c, "admin" if query.startswith("/admin") else "auditor_fj")
    r = c.get(query)
    assert r.status_code in (200, 400, 404), (query, r.status_code)
    assert "系统错误" not in r.get_data(as_text=True)


def test_a_huge_number_in_a_form(app, web):
    c = app.test_client()
    login(c, "auditor_fj")
    r = post(c, "/uploads/run-audit", {"after": HUGE})
    assert r.status_code in (400, 404), r.status_code
    r = post(c, "/findings/bulk", {"action": "confirm", "ids": [HUGE]})
    assert r.status_code in (303, 400, 403, 404), r.status_code


def test_ordinary_numbers_still_work(app, web):
    c = app.test_client()
    login(c, "auditor_fj")
    assert c.get(f"/persons/{web.person_id['王大山']}").status_code == 200
    assert c.get("/findings/?page=1").status_code == 200
    assert c.get("/persons?page=2").status_code == 200
