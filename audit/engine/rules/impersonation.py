"""冒名顶替: someone else works, signs in or collects in the person's name."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, cast, func, literal, select, tuple_

from models import Attendance, Death, Person, Position, Post, Workshop

from ..rule import PRACTICE, SEED_003, Draft, Param, grouped, rule, ym, yuan

BASIS = (f"{SEED_003} 五(三)：及时纠正查处冒名顶替等违规行为，清退违规在岗人员；"
         "各地公益性岗位管理办法：顶岗、替岗、岗在人不在的，解除岗位协议")


def _code(ctx, post_id):
    return select(Post.code).where(Post.id == post_id).scalar_subquery()


def _place(post_id):
    """The district and township of a post (a position or a workshop), for the parameters in force."""
    pos, ws = Position.__table__, Workshop.__table__
    district = func.coalesce(select(pos.c.district).where(pos.c.id == post_id).scalar_subquery(),
                             select(ws.c.district).where(ws.c.id == post_id).scalar_subquery())
    township = func.coalesce(select(pos.c.township).where(pos.c.id == post_id).scalar_subquery(),
                             select(ws.c.township).where(ws.c.id == post_id).scalar_subquery())
    return district, township


def _joined(ctx, expr):
    """A comma-separated list of a text expression over a group (the order is restored in Python)."""
    return func.group_concat(expr, ",") if ctx.sqlite else func.string_agg(expr, ",")


def _as_text(col):
    return cast(col, String)


def _dates(joined: str | None) -> list[str]:
    return sorted({d[:10] for d in (joined or "").split(",") if d})


def _mask_phone(device: str) -> str:
    """A mobile number for display: ``13812345678`` -> ``138****5678``."""
    return f"{device[:3]}****{device[-4:]}"


def _paid(fen) -> str:
    """How a month's pay reads in an explanation."""
    return f"发放工资 {yuan(fen)} 元" if fen is not None else "未发放工资"


# ---- IM01 ---------------------------------------------------------------------------------------

def _im01_describe(r, ctx) -> Draft:
    pct = r["face_failed"] * 100 / r["face"]
    min_pct = r["ratio_x10000"] / 100
    return Draft(
        f"{ym(r['month'])} 在 {r['post_code']} 人脸识别签到 {r['face']} 次，核验不通过 {r['face_failed']} 次"
        f"（{pct:.0f}%），达到不通过 ≥ {r['fail_min']} 次且 ≥ {min_pct:g}% 的标准，签到人可能并非本人；"
        f"当月{_paid(r['paid_fen'])}。",
        {"month": ym(r["month"]), "post": r["post_code"], "face_checks": r["face"],
         "face_failed": r["face_failed"], "failed_share": f"{pct:.1f}%", "days_present": r["present"],
         "face_fail_min": r["fail_min"], "face_fail_ratio": r["ratio_x10000"] / 10000,
         "paid": yuan(r["paid_fen"]) if r["paid_fen"] is not None else None},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["month"]], amount_fen=r["paid_fen"])


@rule("IM01", category="impersonation", title="人脸识别核验多次不通过", severity="medium", basis=BASIS,
      requires=("attendance",), needs_columns=(("attendance", "method"), ("attendance", "verified")),
      params=(Param("face_fail_min", 3, "一个月内人脸识别核验不通过的最少次数", unit="次",
                    reference=PRACTICE),
              Param("face_fail_ratio", 0.3, "一个月内人脸识别核验不通过占人脸识别签到次数的最低比例",
                    unit="比例", reference=PRACTICE)),
      describe=_im01_describe)
def im01(ctx):
    """In a month, failed face checks ≥ ``face_fail_min`` and ≥ ``face_fail_ratio`` of that month's
    face check-ins (the ratio compared in integer ten-thousandths, so 6 of 20 is exactly 30 %).
    Amount: what was paid for that person, post and month (None if nothing)."""
    a, w = ctx.attendance_month, ctx.wage_month
    district, township = _place(a.c.post_id)
    fail_min = ctx.param("face_fail_min", district=district, township=township, month=a.c.month)
    ratio = ctx.param("face_fail_ratio", district=district, township=township, month=a.c.month,
                      transform=lambda x: round(float(x) * 10000))
    return (select(a.c.person_id, a.c.post_id, a.c.month, a.c.face, a.c.face_failed, a.c.present, w.c.paid_fen,
                   fail_min.label("fail_min"), ratio.label("ratio_x10000"),
                   _code(ctx, a.c.post_id).label("post_code"))
            .outerjoin(w, and_(w.c.person_id == a.c.person_id, w.c.post_id == a.c.post_id,
                               w.c.period == a.c.month))
            .where(a.c.face_failed > 0, a.c.face_failed >= fail_min,
                   a.c.face_failed * 10000 >= ratio * a.c.face))


# ---- IM02 ---------------------------------------------------------------------------------------

PHONE_REGEX = "^1[0-9]{10}$"  # also the predicate of the partial index ix_attendance_phone (migration 0017)


def _const(value):
    """A constant written into the statement (not a bound parameter): PostgreSQL uses a partial index
    only where the query repeats its predicate with the same constants."""
    return literal(value, literal_execute=True)


def _personal_phone(ctx, col):
    """An 11-digit mobile number starting with 1; attendance machines, registers and any other
    device id are shared by design and never judged."""
    if ctx.sqlite:
        return col.op("GLOB")("1[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]")
    return col.op("~")(_const(PHONE_REGEX))


def _day_counts(joined: str | None) -> set[tuple[str, int]]:
    """``"2025-04-07:3,2025-04-08:4"`` -> {(date, people), ...}."""
    return {(d.split(":")[0][:10], int(d.split(":")[1])) for d in (joined or "").split(",") if d}


def day_ranges(days) -> str:
    """ISO dates as runs of consecutive days: 「3月2日–3月6日、3月9日」."""
    ds = sorted({dt.date.fromisoformat(str(d)[:10]) for d in days})
    runs: list[list[dt.date]] = []
    for d in ds:
        if runs and (d - runs[-1][-1]).days == 1:
            runs[-1].append(d)
        else:
            runs.append([d])

    def md(d: dt.date) -> str:
        return f"{d.month}月{d.day}日"

    return "、".join(md(r[0]) if len(r) == 1 else f"{md(r[0])}–{md(r[-1])}" for r in runs)


def _head_counts(days: list[dict]) -> str:
    """How many people a phone checked in per day: 「3」 or 「3–5」."""
    counts = [d["people"] for d in days]
    lo, hi = min(counts), max(counts)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _im02_combine(rows, ctx):
    """One finding per person, post and month; the phone's busy days (with their head counts) are the
    union of the days of every person it checked in that month (each of them is among the rows), and
    those people (but the finding's own) are its co-signers, each with the days it checked them in."""
    phone_days: dict[tuple, set] = {}
    signed: dict[tuple, dict[int, dict]] = {}  # (phone, month, threshold) -> person -> name, mask, days
    for r in rows:
        key = (r["device_id"], r["month"], r["people_min"])
        phone_days.setdefault(key, set()).update(_day_counts(r["own_days"]))
        who = signed.setdefault(key, {}).setdefault(r["person_id"], {
            "name": r["name"], "id_masked": r["id_masked"], "person_id": r["person_id"], "days": set()})
        who["days"] |= {d for d, _ in _day_counts(r["own_days"])}
    for (person_id, post_id, month), group in grouped(rows, "person_id", "post_id", "month"):
        first = group[0]
        devices = []
        for r in sorted(group, key=lambda r: r["device_id"]):
            key = (r["device_id"], month, r["people_min"])
            days = sorted(phone_days[key])
            others = sorted((o for pid, o in signed[key].items() if pid != person_id),
                            key=lambda o: (min(o["days"]), o["id_masked"]))
            devices.append({
                "device": _mask_phone(r["device_id"]),
                "days": [{"date": d, "people": n} for d, n in days],
                "busy_days": day_ranges(d for d, _ in days),
                "own_days": sorted(d for d, _ in _day_counts(r["own_days"])),
                "co_signers": [{"name": o["name"], "id_masked": o["id_masked"], "days": day_ranges(o["days"]),
                                "person_id": o["person_id"]} for o in others]})
        own = sorted({d for dev in devices for d in dev["own_days"]})
        parts = "；".join(
            f"个人手机 {dev['device']} 当月有 {len(dev['days'])} 天（{dev['busy_days']}）每天为 "
            f"{_head_counts(dev['days'])} 人签到（{first['people_min']} 人以上即为异常），同一手机还为 "
            + "、".join(f"{o['name']}（{o['id_masked']}）{o['days']}" for o in dev["co_signers"]) + " 签到"
            for dev in devices)
        for dev in devices:
            dev["own_days"] = day_ranges(dev["own_days"])
            del dev["days"]  # the ranges say it; the head counts are in the explanation
        yield Draft(
            f"{ym(month)} {parts}；其中 {len(own)} 天（{day_ranges(own)}）用该手机为此人在 "
            f"{first['post_code']} 签到，可能为代签到；当月{_paid(first['paid_fen'])}。",
            {"month": ym(month), "post": first["post_code"], "devices": devices, "own_days": day_ranges(own),
             "device_people_min": first["people_min"], "device_days_min": first["days_min"],
             "paid": yuan(first["paid_fen"]) if first["paid_fen"] is not None else None},
            person_id=person_id, post_id=post_id, periods=[month], amount_fen=first["paid_fen"])


@rule("IM02", category="impersonation", title="同一个人手机为多人代签到", severity="medium", basis=BASIS,
      requires=("attendance",), needs_columns=(("attendance", "device_id"),),
      params=(Param("device_people_min", 3, "同一部个人手机一天内签到的不同人数下限", unit="人",
                    reference=PRACTICE),
              Param("device_days_min", 3, "同一部个人手机一个月内达到人数下限的天数下限", unit="天",
                    reference=PRACTICE)),
      combine=_im02_combine, describe=lambda r, ctx: None)
def im02(ctx):
    """A personal phone that checks in ≥ ``device_people_min`` different people on one day, on ≥
    ``device_days_min`` days of a month: each person it checked in on one of those days, per post
    and month (one row per device; ``combine`` merges the devices of one finding). Present days
    only, up to the as-of date; the thresholds are those in force for the post's place and month.
    Amount: what was paid for that person, post and month (None if nothing)."""
    a, w = Attendance.__table__, ctx.wage_month
    # present check-ins on phones: on PostgreSQL the partial index ix_attendance_phone holds exactly these
    # rows (a tenth of the attendance), so the two passes below read it instead of every check-in
    on_phone = and_(a.c.status == _const("出勤"), a.c.device_id.is_not(None),
                    _personal_phone(ctx, a.c.device_id), a.c.work_date <= ctx.as_of)
    # Prefilter: only phone-days that reach the smallest threshold in force anywhere can matter; the
    # windows below then see a handful of rows, not every phone check-in. Such a phone checked in at
    # least that many people in the whole period: the phones found by grouping (phone, person) pairs
    # first (tens of thousands of groups, hashed; a COUNT(DISTINCT) per phone-day sorted every phone
    # check-in of a city on disk), then their days by rows (a superset, made exact by the windows).
    floor = min(ctx.param_values("device_people_min"))
    pairs = (select(a.c.device_id, a.c.person_id).where(on_phone)
             .group_by(a.c.device_id, a.c.person_id).subquery("pairs"))
    shared_phones = select(pairs.c.device_id).group_by(pairs.c.device_id).having(func.count() >= floor)
    busy_candidates = (select(a.c.device_id, a.c.work_date).where(on_phone, a.c.device_id.in_(shared_phones))
                       .group_by(a.c.device_id, a.c.work_date)
                       .having(func.count() >= floor))
    # Window functions only (no self-join of attendance): a distinct count over a window is the
    # largest dense rank in it.
    day = (a.c.device_id, a.c.work_date)
    ranked = (select(a.c.person_id, a.c.post_id, a.c.device_id, a.c.work_date, a.c.work_month.label("month"),
                     func.dense_rank().over(partition_by=day, order_by=a.c.person_id).label("person_rank"))
              .where(on_phone, tuple_(a.c.device_id, a.c.work_date).in_(busy_candidates)).subquery("ranked"))
    district, township = _place(ranked.c.post_id)
    people_min = ctx.param("device_people_min", district=district, township=township, month=ranked.c.month)
    days_min = ctx.param("device_days_min", district=district, township=township, month=ranked.c.month)
    counted = (select(ranked.c.person_id, ranked.c.post_id, ranked.c.device_id, ranked.c.work_date, ranked.c.month,
                      func.max(ranked.c.person_rank).over(partition_by=(ranked.c.device_id, ranked.c.work_date))
                      .label("people"),
                      people_min.label("people_min"), days_min.label("days_min"))
               .subquery("counted"))
    # the check-ins on days the phone checked in enough people, and how many such days its month had
    phone_month = (counted.c.device_id, counted.c.month, counted.c.people_min)
    busy = (select(counted, func.dense_rank().over(partition_by=phone_month, order_by=counted.c.work_date)
                   .label("day_rank"))
            .where(counted.c.people >= counted.c.people_min)
            .subquery("busy"))
    busy_days = (select(busy, func.max(busy.c.day_rank).over(partition_by=(busy.c.device_id, busy.c.month,
                                                                           busy.c.people_min)).label("busy_days"))
                 .subquery("busy_days"))
    g = (select(busy_days.c.person_id, busy_days.c.post_id, busy_days.c.device_id, busy_days.c.month,
                busy_days.c.people_min, busy_days.c.days_min,
                _joined(ctx, _as_text(busy_days.c.work_date) + ":" + _as_text(busy_days.c.people)).label("own_days"))
         .where(busy_days.c.busy_days >= busy_days.c.days_min)
         .group_by(busy_days.c.person_id, busy_days.c.post_id, busy_days.c.device_id, busy_days.c.month,
                   busy_days.c.people_min, busy_days.c.days_min)
         .subquery("g"))
    p = Person.__table__
    return (select(g, w.c.paid_fen, _code(ctx, g.c.post_id).label("post_code"), p.c.name, p.c.id_masked)
            .join(p, p.c.id == g.c.person_id)
            .outerjoin(w, and_(w.c.person_id == g.c.person_id, w.c.post_id == g.c.post_id,
                               w.c.period == g.c.month)))


# ---- IM03 ---------------------------------------------------------------------------------------

def _im03_combine(rows, ctx):
    for (person_id, post_id, period), group in grouped(rows, "person_id", "post_id", "period"):
        first = group[0]
        total = sum(int(r["paid_fen"]) for r in group)
        accounts = [{"account": r["account_masked"], "account_name": r["account_name"], "paid": yuan(r["paid_fen"]),
                     "payments": r["payments"], "last_paid_on": r["last_paid_on"]}
                    for r in sorted(group, key=lambda r: (str(r["account_masked"]), r["account_name"]))]
        to = "、".join(f"{a['account']}（户名 {a['account_name']}）{a['paid']} 元" for a in accounts)
        yield Draft(
            f"{ym(period)} 在 {first['post_code']} 的工资发入户名与本人姓名（{first['name']}）不符的账户：{to}，"
            f"合计 {yuan(total)} 元，可能由他人代领。",
            {"period": ym(period), "post": first["post_code"], "person_name": first["name"], "accounts": accounts,
             "paid": yuan(total)},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=total)


@rule("IM03", category="impersonation", title="工资发入户名不符的账户", severity="high", basis=BASIS,
      requires=("wages",), needs_columns=(("wages", "account_name"),), combine=_im03_combine,
      describe=lambda r, ctx: None)
def im03(ctx):
    """A payment (up to the as-of date) to an account whose holder's name does not match the
    person's name (both compared after NFKC and removing white space); an empty account name is
    not judged. One row per person, post, period and account; amount: what that account received."""
    w, p = ctx.wages, Person.__table__
    return (select(w.c.person_id, w.c.post_id, w.c.period, w.c.account_masked, w.c.account_name, p.c.name,
                   func.sum(w.c.amount_fen).label("paid_fen"), func.count().label("payments"),
                   func.max(w.c.paid_on).label("last_paid_on"), _code(ctx, w.c.post_id).label("post_code"))
            .join(p, p.c.id == w.c.person_id)
            .where(w.c.paid_on <= ctx.as_of, w.c.account_name_key.is_not(None), w.c.account_name_key != "",
                   w.c.account_name_key != p.c.name_key)
            .group_by(w.c.person_id, w.c.post_id, w.c.period, w.c.account_hash, w.c.account_masked,
                      w.c.account_name, p.c.name))


# ---- IM04 ---------------------------------------------------------------------------------------

def _im04_combine(rows, ctx):
    members: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        members.setdefault((r["account_hash"], r["period"]), {})[r["person_id"]] = {
            "id": r["id_masked"], "name": r["name"], "person_id": r["person_id"]}
    for (person_id, post_id, period), group in grouped(rows, "person_id", "post_id", "period"):
        first = group[0]
        total = sum(int(r["paid_fen"]) for r in group)
        accounts, everyone = [], {person_id}
        for r in sorted(group, key=lambda r: str(r["account_masked"])):
            others = members[(r["account_hash"], period)]
            everyone |= set(others)
            accounts.append({"account": r["account_masked"], "paid": yuan(r["paid_fen"]), "payments": r["payments"],
                             "others": sorted((o for pid, o in others.items() if pid != person_id),
                                              key=lambda o: o["id"])})
        text = "；".join(
            f"账户 {a['account']} 收到此人 {a['paid']} 元，同月还收到 "
            + "、".join(f"{o['name']}（{o['id']}）" for o in a["others"]) + " 的工资"
            for a in accounts)
        yield Draft(
            f"{ym(period)} 在 {first['post_code']} 的工资：{text}；多人工资进入同一账户，可能由他人集中代领。",
            {"period": ym(period), "post": first["post_code"], "accounts": accounts, "paid": yuan(total)},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=total, person_ids=sorted(everyone))


@rule("IM04", category="impersonation", title="同一账户领取多人工资", severity="high", basis=BASIS,
      requires=("wages",), needs_columns=(("wages", "account_number"),), combine=_im04_combine,
      describe=lambda r, ctx: None)
def im04(ctx):
    """One account number receives payments (up to the as-of date) for two or more different people
    for the same period: each of them, per post and period; amount: what that account received for
    that person. One row per account, person, post and period."""
    w, p = ctx.wages, Person.__table__
    w2, w3 = w.alias("w2"), w.alias("w3")
    # two or more people: the smallest and the largest person differ (hashed; COUNT(DISTINCT) sorts
    # every payment of a city). The accounts that ever paid two people first (one group per account),
    # then their months: grouping every payment by account and month spilled to disk.
    several = (select(w3.c.account_hash)
               .where(w3.c.account_hash.is_not(None), w3.c.paid_on <= ctx.as_of)
               .group_by(w3.c.account_hash)
               .having(func.min(w3.c.person_id) != func.max(w3.c.person_id)))
    shared = (select(w2.c.account_hash, w2.c.period)
              .where(w2.c.account_hash.in_(several), w2.c.paid_on <= ctx.as_of)
              .group_by(w2.c.account_hash, w2.c.period)
              .having(func.min(w2.c.person_id) != func.max(w2.c.person_id))
              .subquery("shared"))
    return (select(w.c.account_hash, w.c.account_masked, w.c.period, w.c.person_id, w.c.post_id, p.c.id_masked,
                   p.c.name, func.sum(w.c.amount_fen).label("paid_fen"), func.count().label("payments"),
                   _code(ctx, w.c.post_id).label("post_code"))
            .join(shared, and_(shared.c.account_hash == w.c.account_hash, shared.c.period == w.c.period))
            .join(p, p.c.id == w.c.person_id)
            .where(w.c.paid_on <= ctx.as_of)
            .group_by(w.c.account_hash, w.c.account_masked, w.c.period, w.c.person_id, w.c.post_id,
                      p.c.id_masked, p.c.name))


# ---- IM05 ---------------------------------------------------------------------------------------

def _im05_describe(r, ctx) -> Draft:
    dates = _dates(r["dates"])
    return Draft(
        f"此人已于 {r['death_date']} 死亡（民政/公安死亡名单），{ym(r['month'])} 在 {r['post_code']} 仍记录出勤 "
        f"{len(dates)} 天（{'、'.join(d[5:] for d in dates)}），考勤系由他人代签或虚记；"
        f"当月{_paid(r['paid_fen'])}。",
        {"death_date": r["death_date"], "month": ym(r["month"]), "post": r["post_code"],
         "days_present_after_death": len(dates), "dates": dates,
         "paid": yuan(r["paid_fen"]) if r["paid_fen"] is not None else None},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["month"]], amount_fen=r["paid_fen"])


@rule("IM05", category="impersonation", title="死亡后仍有出勤记录", severity="high", basis=BASIS,
      requires=("attendance", "deaths"), describe=_im05_describe)
def im05(ctx):
    """A present day (up to the as-of date) after the person's death date: one row per person, post
    and month, with the dates; amount: what was paid for that person, post and month (None if nothing)."""
    a, p, d, w = Attendance.__table__, Person.__table__, Death.__table__, ctx.wage_month
    month = ctx.month(a.c.work_date)
    g = (select(a.c.person_id, a.c.post_id, month.label("month"), d.c.death_date,
                _joined(ctx, _as_text(a.c.work_date)).label("dates"))
         .join(p, p.c.id == a.c.person_id).join(d, d.c.id_hash == p.c.id_hash)
         .where(a.c.status == "出勤", a.c.work_date > d.c.death_date, a.c.work_date <= ctx.as_of)
         .group_by(a.c.person_id, a.c.post_id, month, d.c.death_date)
         .subquery("g"))
    return (select(g, w.c.paid_fen, _code(ctx, g.c.post_id).label("post_code"))
            .outerjoin(w, and_(w.c.person_id == g.c.person_id, w.c.post_id == g.c.post_id, w.c.period == g.c.month)))

