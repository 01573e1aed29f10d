"""考勤填报, filling the working days: the dead are skipped and named, nothing is overwritten, and a
day after a death is refused by the server."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from models import Finding, Placement, db

from attendance_web import (
    APRIL,
    attendance_count,
    bd_grid,
    grid_url,
    masked,
    rows_of,
    selected,
    text,
    weekdays,
)
from helpers import write_bundle
from web_helpers import login, post

# ---- filling the working days --------------------------------------------------------------------

def form_of(page: str) -> dict[str, str]:
    """What the browser sends with the grid's form: every open cell with the value it shows."""
    out = {}
    for name, body in re.findall(r'<select name="(c-[\d-]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        out[name] = chosen.group(1) if chosen else ""
    return out


def skipped_lines(page: str) -> list[str]:
    m = re.search(r'<ul class="att-skipped">(.*?)</ul>', page, re.S)
    return [re.sub(r"<[^>]+>", "", li).strip()
            for li in re.findall(r"<li>(.*?)</li>", m.group(1), re.S)] if m else []


def load_more(app, tmp_path, tables: dict) -> None:
    """Import a few more ledger rows (the deaths list, a wage) as an auditor would."""
    from audit.ledger.importer import import_bundle

    result = import_bundle(write_bundle(tmp_path / "more", tables), engine=db.engine,
                           pii=app.extensions["pii"])
    assert result.ok, [str(e) for e in result.errors]


@pytest.fixture
def li_died(web, app, tmp_path):
    """李小花 (GW-A2 of 白帝村) is on the deaths list: she died on Friday 11 April 2025; April was paid."""
    load_more(app, tmp_path, {
        "deaths": [{"id_number": web.ids["李小花"], "death_date": "2025-04-11"}],
        "wages": [{"id_number": web.ids["李小花"], "post_code": "GW-A2", "period": "2025-04",
                   "amount": "800.00", "paid_on": "2025-05-10"}]})
    return dt.date(2025, 4, 11)


def findings_of(web, name: str, month: str) -> list[str]:
    db.session.rollback()
    return [f.rule for f in db.session.scalars(select(Finding).where(
        Finding.person_id == web.person_id[name], Finding.status.in_(("open", "confirmed"))))
        if month in f.periods]


def test_fill_all_skips_the_dead_and_says_so_then_the_audit_finds_nothing(web, client, li_died):
    login(client, "operator_bd")
    page = text(client.get(grid_url()))
    li, gw2 = web.person_id["李小花"], web.post_id["GW-A2"]
    wang, gw1 = web.person_id["王大山"], web.post_id["GW-A1"]
    assert "此人已于 2025-04-11 死亡" in page  # the cells after the death say so

    before = attendance_count()
    resp = post(client, "/attendance/grid/fill", {**bd_grid(), **form_of(page), "fill": "all"})
    assert resp.status_code == 200
    page = text(resp)
    assert attendance_count() == before  # nothing saved yet
    assert "尚未保存" in page
    lines = skipped_lines(page)
    assert f"李小花（{masked('李小花')}） · 岗位 GW-A2：4 月 11 日死亡（死亡名单），4 月 14 日起未填" in lines
    assert not [x for x in lines if "王大山" in x]
    april = weekdays(APRIL)
    assert all(selected(page, wang, gw1, d.day) == "出勤" for d in april)
    assert all(selected(page, li, gw2, d.day) == ("出勤" if d <= li_died else "") for d in april)
    assert all(selected(page, wang, gw1, d) == "" for d in (5, 6, 12, 13))  # weekends stay blank

    # the operator saves what the fill left, and the audit that follows finds nothing on her
    page = text(post(client, "/attendance/grid", {**bd_grid(), **form_of(page)}, follow_redirects=True))
    assert "审计已完成" in page
    stored = rows_of(web, "李小花", "GW-A2", APRIL)
    assert sorted(stored) == [d for d in april if d <= li_died]
    # no PS01 (paid, no present day) and no IM05 (present after death); the full month's pay for
    # nine days of work remains a PS02 (paid more than due), as it should
    assert not {"PS01", "IM05"} & set(findings_of(web, "李小花", "2025-04"))


def test_fill_never_overwrites_and_names_days_off_the_post(web, client):
    # 李小花 also takes GW-A1 from 16 April; 王大山 has typed 请假 on the 2nd (not saved yet)
    db.session.add(Placement(person_id=web.person_id["李小花"], position_id=web.post_id["GW-A1"],
                             start_date=dt.date(2025, 4, 16)))
    db.session.commit()
    login(client, "operator_bd")
    li, gw1, gw2 = web.person_id["李小花"], web.post_id["GW-A1"], web.post_id["GW-A2"]
    wang = web.person_id["王大山"]
    form = form_of(text(client.get(grid_url())))
    form[f"c-{wang}-{gw1}-2"] = "请假"
    page = text(post(client, "/attendance/grid/fill", {**bd_grid(), **form, "fill": "all"}))
    lines = skipped_lines(page)
    assert f"王大山（{masked('王大山')}） · 岗位 GW-A1：已登记请假 1 天，未覆盖" in lines
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A1：4 月 1 日至 15 日未在岗"
            "（在岗期间：2025-04-16 至 今）") in lines
    assert selected(page, wang, gw1, 2) == "请假" and selected(page, wang, gw1, 3) == "出勤"
    assert selected(page, li, gw1, 15) is None and selected(page, li, gw1, 16) == "出勤"

    # one row's button fills that row only
    page = text(post(client, "/attendance/grid/fill", {**bd_grid(), **form, "fill": f"{li}-{gw2}"}))
    assert selected(page, li, gw2, 1) == "出勤" and selected(page, wang, gw1, 1) == ""
    assert f"已把 {len(weekdays(APRIL))} 个空白工作日填为“出勤”" in page


def test_a_present_day_after_death_is_refused_by_the_server(web, client, li_died):
    login(client, "operator_bd")
    li, gw2 = web.person_id["李小花"], web.post_id["GW-A2"]
    before = attendance_count()
    resp = post(client, "/attendance/grid",
                {**bd_grid(), f"c-{li}-{gw2}-11": "出勤", f"c-{li}-{gw2}-14": "出勤"})
    assert resp.status_code == 422
    page = text(resp)
    assert (f"李小花（{masked('李小花')}） · 岗位 GW-A2 · 2025-04-14：此人已于 2025-04-11 死亡（民政/公安死"
            "亡名单），"
            "死亡之后不能登记出勤") in page
    assert "2025-04-11：" not in page  # the day of death itself may be a working day
    assert attendance_count() == before
    # absence after the death may be recorded (it corrects a wrong 出勤)
    page = text(post(client, "/attendance/grid", {**bd_grid(), f"c-{li}-{gw2}-14": "缺勤"},
                     follow_redirects=True))
    assert "已保存 1 条考勤" in page
