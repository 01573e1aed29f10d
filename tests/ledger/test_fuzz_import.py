"""Fuzzed bundles at the importer and at the web upload: random bytes, CSV with a right header and
wrong cells, workbooks with cells of any type, damaged workbooks and odd zips. Whatever arrives,
the answer is a refusal whose every reason is in Chinese: never an exception, never an HTTP 500,
and the database is exactly as it was (a valid bundle is loaded first, so that "as it was" is
something).

Every generated bundle is made to be refused: each table carries a row with a cell no parser takes
(in a CSV also a cell beyond the header), and the damaged workbooks hold only rows that are wrong.
So a bundle that loads is itself a failure of the test."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_bundles import (
    FEW,
    FUZZ,
    assert_refused,
    clear,
    csv_bundles,
    fresh,
    ledger_snapshot,
    post_files,
    random_bytes,
    shown_reasons,
    write_out,
)
from fuzz_workbooks import damaged_xlsx, odd_zips, xlsx_bundles
from web_helpers import login

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the zips made so on purpose


# ---- the importer ------------------------------------------------------------------------------------

@FUZZ
@given(bundle=random_bytes())
def test_random_bytes_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=csv_bundles())
def test_csv_with_fuzzed_cells_is_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=xlsx_bundles())
def test_workbooks_with_cells_of_any_type_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


@FUZZ
@given(bundle=damaged_xlsx())
def test_damaged_workbooks_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded, may_be_empty=True)


@FUZZ
@given(bundle=odd_zips())
def test_odd_zips_are_refused_in_chinese(app, loaded, tmp_path, bundle):
    assert_refused(write_out(bundle, fresh(tmp_path)), loaded)


# ---- the web upload ------------------------------------------------------------------------------------

@FEW
@given(bundle=st.one_of(random_bytes(), csv_bundles(), xlsx_bundles(), damaged_xlsx(), odd_zips()))
def test_fuzzed_uploads_are_refused_on_the_page_and_change_nothing(client, web, bundle):
    if client.get("/uploads/").status_code != 200:  # the first example signs in; the others are signed in
        login(client, "auditor_fj")
    before = ledger_snapshot()
    resp = post_files(client, bundle)
    assert resp.status_code == 303, resp.status_code
    where = resp.headers["Location"]
    resp = client.get(where)
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    if where.rstrip("/").endswith("/uploads"):  # refused as it arrived (e.g. one table twice)
        reasons = shown_reasons(html)
    else:
        if "正在检查台账" in html:  # a large upload is checked in the background
            from audit.uploads import jobs

            jobs.wait(int(where.rsplit("/", 1)[1]))
            html = client.get(where).get_data(as_text=True)
        failed = re.findall(r"检查未能完成：[^<]*", html)
        assert not failed, failed
        assert "导入被拒绝" in html and "数据库未做任何更改" in html
        assert "确认导入" not in html
        reasons = shown_reasons(html)
    assert reasons and all(clear(r) for r in reasons), reasons
    assert ledger_snapshot() == before
