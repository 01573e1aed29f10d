"""冒名顶替 (IM01–IM05) and 优亲厚友 (FV01): planted cases and the look-alikes that must not fire."""
from __future__ import annotations

import json

import pytest

from helpers import County, brief

MINE = ("IM01", "IM02", "IM03", "IM04", "IM05", "FV01")
ATTENDANCE_KEYS = ("id_number", "post_code", "work_date", "status", "check_in_time", "method", "device_id",
                   "verified")


@pytest.fixture
def county(people):
    c = County(people)
    for code, wage in (("GW-1", "800.00"), ("GW-2", "900.00"), ("GW-3", "800.00"), ("GW-4", "800.00"),
                       ("GW-5", "800.00"), ("GW-6", "800.00"), ("GW-7", "800.00"), ("GW-8", "800.00"),
                       ("GW-9", "800.00")):
        c.position(code, wage=wage)
    return c


def audit(county: County, app, tmp_path, as_of: str = "2025-06-30") -> list[dict]:
    """Run the audit. Local helper: every attendance row gets every column, because the bundle
    writer takes the CSV header from the first row (a rest day has no check-in columns)."""
    for r in county.t["attendance"]:
        for k in ATTENDANCE_KEYS:
            r.setdefault(k, "")
    return county.audit(app, tmp_path, as_of=as_of)


def mine(found, rule=None):
    """(rule, subject, post, periods, amount) of the findings of this module's rules."""
    return brief([f for f in found if f["rule"] in MINE], rule)


def one(found, rule, subject, post=None):
    [f] = [f for f in found if f["rule"] == rule and f["subject"] == subject
           and (post is None or f["post"] == post)]
    return f


def check_in(county: County, idn: str, post: str, dates: list[str], device: str, method: str = "小程序定位"):
    """Re-record some present days of a person as checked in on ``device``."""
    hit = 0
    for r in county.t["attendance"]:
        if r["id_number"] == idn and r["post_code"] == post and r["work_date"] in dates:
            assert r["status"] == "出勤", r
            r.update(method=method, device_id=device, verified="")
            hit += 1
    assert hit == len(dates)


# ---- IM01 ---------------------------------------------------------------------------------------

def test_im01_face_checks_failed_often_and_in_a_large_share(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d = county.person("张三", "1990-01-01"), county.person("赵四", "1978-04-04")
    e = county.person("钱五", "1970-05-05")
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (c, "GW-3"), (d, "GW-4"), (e, "GW-5")):
        county.place(idn, post, "2025-01-01")
    county.work(a, "GW-1", "2025-04", failed=6)          # planted: 6 of 20 = exactly 30 %
    county.pay(a, "GW-1", "2025-04")
    county.month(a, "GW-1", "2025-05")                   # clean month
    county.work(b, "GW-2", "2025-04", present=4, failed=2)  # look-alike: 2 failures (50 %, but < 3)
    county.pay(b, "GW-2", "2025-04", "180.00")
    county.work(c, "GW-3", "2025-04", present=10, failed=10)  # planted: never paid -> amount None
    county.work(d, "GW-4", "2025-04", failed=3)          # look-alike: 3 failures of 20 (15 %)
    county.pay(d, "GW-4", "2025-04")
    county.work(e, "GW-5", "2025-04", method="指纹", device="ZW-1")  # fingerprint: no face checks
    county.pay(e, "GW-5", "2025-04")
    found = audit(county, app, tmp_path)
    assert mine(found) == sorted([("IM01", a, "GW-1", ["2025-04"], "800.00"),
                                  ("IM01", c, "GW-3", ["2025-04"], None)])
    f = one(found, "IM01", a)
    assert f["category"] == "impersonation"
    assert f["evidence"]["face_checks"] == 20 and f["evidence"]["face_failed"] == 6
    assert ("人脸识别签到 20 次，核验不通过 6 次（30%）" in f["explanation"]
            and "发放工资 800.00 元" in f["explanation"])
    assert "未发放工资" in one(found, "IM01", c)["explanation"]


# ---- IM02 ---------------------------------------------------------------------------------------

def test_im02_one_personal_phone_checks_in_several_people(app, county, tmp_path):
    phone = "13812345678"
    a, b, c, d = (county.person(n, f"19{70 + i}-01-0{i + 1}") for i,
                  n in enumerate(("王大山", "李四", "张三", "赵四")))
    e, f_, g = (county.person(n, f"19{80 + i}-02-0{i + 1}") for i, n in enumerate(("钱五", "孙六", "周七")))
    h, i_, j = (county.person(n, f"19{60 + i}-03-0{i + 1}") for i, n in enumerate(("吴八", "郑九", "冯十")))
    k, l_, m = (county.person(n, f"19{50 + i}-04-0{i + 1}") for i, n in enumerate(("陈一", "褚二", "卫三")))
    county.workshop("CJ-1")
    county.staff("CJ-1", b, "2025-01-01")
    posts = {a: "GW-1", b: "GW-2", c: "GW-3", d: "GW-4", e: "GW-5", f_: "GW-6", g: "GW-7", h: "GW-8",
             i_: "GW-9"}
    for idn, post in posts.items():
        county.place(idn, post, "2025-01-01")
        county.month(idn, post, "2025-04")  # face recognition on the attendance machine KQJ-01
        county.month(idn, post, "2025-05")
    county.month(b, "CJ-1", "2025-04")
    # planted: the phone checks in a, b, c on 04-07, 04-08, 04-09 (3 people, 3 days), and d on 04-09 too;
    # b's workshop day 04-08 goes through it as well (b counts once that day), a second post for b
    days = ["2025-04-07", "2025-04-08", "2025-04-09"]
    for idn in (a, b, c):
        check_in(county, idn, posts[idn], days, phone)
    check_in(county, d, "GW-4", ["2025-04-09"], phone)
    check_in(county, b, "CJ-1", ["2025-04-08"], phone)
    # look-alike: a neighbour's phone used for 2 other people on 2 days
    check_in(county, e, "GW-5", ["2025-04-14", "2025-04-15"], "13900001111")
    check_in(county, f_, "GW-6", ["2025-04-14", "2025-04-15"], "13900001111")
    # look-alike: a phone used by 3 people, but on only 2 days of the month
    for idn in (g, h, i_):
        check_in(county, idn, posts[idn], ["2025-05-05", "2025-05-06"], "13700002222")
    # look-alike: a clerk's register used for the whole village every day (手工登记)
    for code in ("GW-10", "GW-11", "GW-12", "GW-13"):
        county.position(code)
    for idn, post in ((j, "GW-10"), (k, "GW-11"), (l_, "GW-12"), (m, "GW-13")):
        county.place(idn, post, "2025-01-01")
        county.work(idn, post, "2025-04", method="手工登记", device="白帝村登记簿")
        county.pay(idn, post, "2025-04")
    # look-alike: a 12-digit serial that starts like a phone number is a fixed terminal
    for idn, post in ((j, "GW-10"), (k, "GW-11"), (l_, "GW-12")):
        check_in(county, idn, post, ["2025-04-21", "2025-04-22", "2025-04-23"], "138123456789", method="指纹")
    found = audit(county, app, tmp_path)
    assert mine(found) == sorted([("IM02", a, "GW-1", ["2025-04"], "800.00"),
                                  ("IM02", b, "GW-2", ["2025-04"], "900.00"),
                                  ("IM02", b, "CJ-1", ["2025-04"], "2500.00"),
                                  ("IM02", c, "GW-3", ["2025-04"], "800.00"),
                                  ("IM02", d, "GW-4", ["2025-04"], "800.00")])
    f = one(found, "IM02", d)
    assert f["category"] == "impersonation"
    [dev] = f["evidence"]["devices"]
    assert dev["device"] == "138****5678"
    assert dev["busy_days"] == "4月7日–4月9日"
    # the co-signers: who else the phone checked in, by name and masked ID, with their days as ranges
    assert sorted((o["name"], o["id_masked"], o["days"]) for o in dev["co_signers"]) == sorted([
        ("王大山", a[:6] + "********" + a[-4:],
         "4月7日–4月9日"), ("李四", b[:6] + "********" + b[-4:], "4月7日–4月9日"),
        ("张三", c[:6] + "********" + c[-4:], "4月7日–4月9日")])
    assert f["evidence"]["own_days"] == "4月9日"
    assert ("个人手机 138****5678 当月有 3 天（4月7日–4月9日）每天为 3–4 人签到（3 人以上即为异常）"
            in f["explanation"])
    assert ("同一手机还为 " in f["explanation"] and "王大山（" in f["explanation"]
            and "其中 1 天（4月9日）" in f["explanation"])
    b_ws = one(found, "IM02", b, "CJ-1")
    assert b_ws["evidence"]["own_days"] == "4月8日"
    # not their own co-signer
    assert "李四" not in [o["name"] for o in b_ws["evidence"]["devices"][0]["co_signers"]]
    assert "赵四" in [o["name"] for o in b_ws["evidence"]["devices"][0]["co_signers"]]
    assert phone not in json.dumps([x["evidence"] for x in found], ensure_ascii=False)
    assert all(phone not in x["explanation"] for x in found)


# ---- IM03 ---------------------------------------------------------------------------------------

def test_im03_paid_to_an_account_in_another_name(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d = county.person("张三", "1990-01-01"), county.person("赵四", "1978-04-04")
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (c, "GW-3"), (d, "GW-4")):
        county.place(idn, post, "2025-01-01")
        county.work(idn, post, "2025-04")
    county.pay(a, "GW-1", "2025-04", account_name="王 大山")      # look-alike: a space typed in the name
    county.pay(b, "GW-2", "2025-04", account_name="李\u3000小花")  # look-alike: a full-width space
    county.pay(c, "GW-3", "2025-04", "500.00", account="6217000099998888", account_name="刘会计")  # planted
    county.pay(c, "GW-3", "2025-04", "300.00")                    # the rest to their own account
    county.pay(d, "GW-4", "2025-04", account="6217000011112222", account_name="")  # no name: not judged
    found = audit(county, app, tmp_path)
    assert mine(found) == [("IM03", c, "GW-3", ["2025-04"], "500.00")]
    f = one(found, "IM03", c)
    assert f["category"] == "impersonation" and f["evidence"]["person_name"] == "张三"
    [acct] = f["evidence"]["accounts"]
    assert acct["account_name"] == "刘会计" and acct["account"] == "6217********8888"
    assert "6217000099998888" not in json.dumps(f["evidence"]) + f["explanation"]
    assert "户名与本人姓名（张三）不符" in f["explanation"] and "刘会计" in f["explanation"]


# ---- IM04 ---------------------------------------------------------------------------------------

def test_im04_one_account_collects_for_several_people(app, county, tmp_path):
    a, b = county.person("王大山"), county.person("李小花", "1985-02-03", False)
    c, d, e = county.person("张三", "1990-01-01"), county.person("赵四", "1978-04-04"), county.person("钱五")
    for idn, post in ((a, "GW-1"), (b, "GW-2"), (c, "GW-3"), (d, "GW-4"), (e, "GW-5")):
        county.place(idn, post, "2025-01-01")
        county.work(idn, post, "2025-04")
        county.month(idn, post, "2025-05")
    shared = "6217000055556666"
    county.pay(a, "GW-1", "2025-04", account=shared)  # planted: both paid into one account in April
    county.pay(b, "GW-2", "2025-04", account=shared)
    county.pay(c, "GW-3", "2025-04", "400.00")        # look-alike: one person paid twice, own account
    county.pay(c, "GW-3", "2025-04", "400.00", paid_on="2025-05-20")
    county.pay(d, "GW-4", "2025-04")                  # look-alike: different people, different accounts
    county.pay(e, "GW-5", "2025-04")
    found = audit(county, app, tmp_path)
    assert mine(found) == sorted([("IM04", a, "GW-1", ["2025-04"], "800.00"),
                                  ("IM04", b, "GW-2", ["2025-04"], "900.00")])
    f = one(found, "IM04", a)
    assert f["category"] == "impersonation" and f["persons"] == sorted([a, b])
    [acct] = f["evidence"]["accounts"]
    assert acct["account"] == "6217********6666"
    assert [(o["id"], o["name"]) for o in acct["others"]] == [(b[:6] + "********" + b[-4:], "李小花")]
    assert "同月还收到 李小花" in f["explanation"]
    assert shared not in json.dumps([x["evidence"] for x in found]) and b not in json.dumps(f["evidence"])


# ---- IM05 ---------------------------------------------------------------------------------------

def test_im05_present_days_after_death(app, county, tmp_path):
    a, b = county.person("王大山", "1950-01-01"), county.person("赵老汉", "1952-01-01")
    county.place(a, "GW-1", "2025-01-01")
    county.place(b, "GW-2", "2025-01-01")
    county.month(a, "GW-1", "2025-04")       # planted: present 04-16 … 04-28 after dying on 04-15
    county.work(a, "GW-1", "2025-05")        # planted: a whole month, not paid
    county.month(b, "GW-2", "2025-04")       # look-alike: died on his last present day; rest days after
    county.t["deaths"] += [{"id_number": a, "death_date": "2025-04-15"},
                           {"id_number": b, "death_date": "2025-04-28"}]
    found = audit(county, app, tmp_path)
    assert mine(found) == sorted([("IM05", a, "GW-1", ["2025-04"], "800.00"),
                                  ("IM05", a, "GW-1", ["2025-05"], None)])
    april = next(f for f in found if f["rule"] == "IM05" and f["periods"] == ["2025-04"])
    assert april["category"] == "impersonation"
    assert april["evidence"]["dates"] == ["2025-04-16", "2025-04-17", "2025-04-18", "2025-04-21",
                                          "2025-04-22",
                                          "2025-04-23", "2025-04-24", "2025-04-25", "2025-04-28"]
    assert "已于 2025-04-15 死亡" in april["explanation"] and "仍记录出勤 9 天" in april["explanation"]


# ---- FV01 ---------------------------------------------------------------------------------------

def official(county: County, idn: str, name: str, household: str, role: str = "村党组织书记",
             unit: str = "白帝村党支部") -> None:
    county.t["officials"].append({"id_number": idn, "name": name, "role": role, "unit": unit,
                                  "district": "奉节县",
                                  "township": "白帝镇", "village": "白帝村", "household_id": household})


def test_fv01_a_cadres_household_member_holds_a_public_post(app, county, people, tmp_path):
    secretary, cadre = people.id("1968-02-02"), people.id("1972-03-03", False)
    official(county, secretary, "赵书记", "H-ZHAO")
    official(county, cadre, "赵干部", "H-ZHAO", role="乡镇干部", unit="白帝镇人民政府")
    sister = county.person("赵小妹", "1985-02-03", False, household="H-ZHAO")      # planted
    county.place(sister, "GW-1", "2025-01-01")
    for m in ("2025-01", "2025-02", "2025-03", "2025-04"):
        county.month(sister, "GW-1", m)
    county.month(sister, "GW-1", "2025-05")  # paid on 06-10 …
    county.t["wages"][-1]["paid_on"] = "2025-07-10"  # … no: paid after the as-of date, not counted
    # look-alike: the official holds a post themself (IP05's business, not FV01)
    qian = county.person("钱主任", "1975-06-06", household="H-QIAN")
    official(county, qian, "钱主任", "H-QIAN", role="村委会主任", unit="白帝村村民委员会")
    county.place(qian, "GW-2", "2025-01-01")
    county.month(qian, "GW-2", "2025-01")
    # look-alike: a household member of the cadre who holds no public post (a workshop job only)
    brother = county.person("赵大哥", "1965-07-07", household="H-ZHAO")
    county.workshop("CJ-1")
    county.staff("CJ-1", brother, "2025-01-01")
    county.month(brother, "CJ-1", "2025-01")
    # look-alike: same village as the cadre, another household
    neighbour = county.person("孙邻居", "1980-08-08", household="H-SUN")
    county.place(neighbour, "GW-3", "2025-01-01")
    county.month(neighbour, "GW-3", "2025-01")
    # a placement that starts after the as-of date is not judged yet
    nephew = county.person("赵小弟", "1995-09-09", household="H-ZHAO")
    county.place(nephew, "GW-4", "2025-09-01")
    found = audit(county, app, tmp_path, as_of="2025-06-30")
    assert mine(found) == [("FV01", sister, "GW-1", [], "3200.00")]
    f = one(found, "FV01", sister)
    assert f["category"] == "favouritism"
    assert [{k: v for k, v in o.items() if k != "official_id"}
            for o in f["evidence"]["officials"]] == sorted([
        {"id": secretary[:6] + "********" + secretary[-4:], "name": "赵书记", "role": "村党组织书记",
         "unit": "白帝村党支部"},
        {"id": cadre[:6] + "********" + cadre[-4:], "name": "赵干部", "role": "乡镇干部",
         "unit": "白帝镇人民政府"}],
        key=lambda o: o["id"])
    assert f["evidence"]["household"] == "H-ZHAO"
    assert "赵小妹 与干部名单上的" in f["explanation"] and "同属一户（户编号 H-ZHAO）" in f["explanation"]
    assert "已发放工资 3,200.00 元" in f["explanation"]
    assert secretary not in json.dumps(f["evidence"]) + f["explanation"]
    # a later audit sees the late payment and the nephew's placement (not yet paid: amount None)
    found = audit(county, app, tmp_path / "later", as_of="2025-12-31")
    assert mine(found, "FV01") == sorted([("FV01", sister, "GW-1", [], "4000.00"),
                                          ("FV01", nephew, "GW-4", [], None)])


# ---- parameters: a local value from its effective date ---------------------------------------------

def test_im01_im02_thresholds_follow_local_overrides_from_their_effective_date(app, county, tmp_path):
    import datetime as dt

    from models import RuleParameter, db

    d = county.person("赵四", "1978-04-04")
    county.place(d, "GW-4", "2025-01-01")
    for m in ("2025-04", "2025-05"):
        county.work(d, "GW-4", m, failed=3)  # 3 of 20 = 15 %: below 30 %, above a local 15 % from May
        county.pay(d, "GW-4", m)
    g, h, i_ = (county.person(n, f"19{60 + k}-03-0{k + 1}") for k, n in enumerate(("吴八", "郑九", "冯十")))
    for idn, post in ((g, "GW-7"), (h, "GW-8"), (i_, "GW-9")):
        county.place(idn, post, "2025-01-01")
        county.month(idn, post, "2025-04")
        county.month(idn, post, "2025-05")
        # 3 people on 2 days a month: below 3 days, enough under a local 2 days from May
        check_in(county, idn, post, ["2025-04-07", "2025-04-08"], "13700002222")
        check_in(county, idn, post, ["2025-05-05", "2025-05-06"], "13700002222")
    db.session.add_all([
        RuleParameter(rule="IM01", name="face_fail_ratio", value=0.15, effective_from=dt.date(2025, 5, 1),
                      district="奉节县", township="白帝镇"),
        RuleParameter(rule="IM02", name="device_days_min", value=2, effective_from=dt.date(2025, 5, 1),
                      district="奉节县"),
        RuleParameter(rule="IM02", name="device_people_min", value=2, effective_from=dt.date(2025, 5, 1),
                      district="巫山县")])  # another district: no effect here
    db.session.commit()
    found = audit(county, app, tmp_path)
    assert mine(found) == sorted([("IM01", d, "GW-4", ["2025-05"], "800.00"),
                                  ("IM02", g, "GW-7", ["2025-05"], "800.00"),
                                  ("IM02", h, "GW-8", ["2025-05"], "800.00"),
                                  ("IM02", i_, "GW-9", ["2025-05"], "800.00")])
    assert "≥ 15% 的标准" in one(found, "IM01", d)["explanation"]
    assert one(found, "IM02", g)["evidence"]["device_days_min"] == 2
