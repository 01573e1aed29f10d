"""冒名顶替: someone else works, signs in or collects in the person's name."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, cast, func, literal, select, true, tuple_

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
    attended, paid_month = ctx.attendance_month, ctx.wage_month
    district, township = _place(attended.c.post_id)
    fail_min = ctx.param("face_fail_min", district=district, township=township, month=attended.c.month)
    ratio = ctx.param("face_fail_ratio", district=district, township=township, month=attended.c.month,
                      transform=lambda x: round(float(x) * 10000))
    return (select(attended.c.person_id, attended.c.post_id, attended.c.month, attended.c.face,
                   attended.c.face_failed, attended.c.present, paid_month.c.paid_fen,
                   fail_min.label("fail_min"), ratio.label("ratio_x10000"),
                   _code(ctx, attended.c.post_id).label("post_code"))
            .outerjoin(paid_month, and_(paid_month.c.person_id == attended.c.person_id,
                                        paid_month.c.post_id == attended.c.post_id,
                                        paid_month.c.period == attended.c.month))
            .where(attended.c.face_failed > 0, attended.c.face_failed >= fail_min,
                   attended.c.face_failed * 10000 >= ratio * attended.c.face))


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
    if ctx.sqlite:
        # SQLite has no such index (maintaining one cost the import more than it saved here): one scan
        # copies these check-ins to a temporary table, which the three passes below read instead of
        # scanning every check-in three times (0.9 s -> 0.5 s of CPU for a district's 1.7 million)
        a = ctx.materialize("run_phone_checkins", select(a.c.device_id, a.c.work_date, a.c.person_id,
                                                         a.c.post_id, a.c.work_month).where(on_phone))
        on_phone = true()
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
    same_phone_day = (ranked.c.device_id, ranked.c.work_date)
    counted = (select(ranked.c.person_id, ranked.c.post_id, ranked.c.device_id, ranked.c.work_date,
                      ranked.c.month, func.max(ranked.c.person_rank).over(partition_by=same_phone_day)
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
                _joined(ctx, _as_text(busy_days.c.work_date) + ":" + _as_text(busy_days.c.people))
                .label("own_days"))
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
    """One finding per person, post and month (its total summed by the query), the accounts listed."""
    for (person_id, post_id, period), group in grouped(rows, "person_id", "post_id", "period"):
        first = group[0]
        total = int(first["total_fen"])
        accounts = [{"account": row["account_masked"], "account_name": row["account_name"],
                     "paid": yuan(row["paid_fen"]), "payments": row["payments"],
                     "last_paid_on": row["last_paid_on"]}
                    for row in sorted(group,
                                      key=lambda row: (str(row["account_masked"]), row["account_name"]))]
        to = "、".join(f"{account['account']}（户名 {account['account_name']}）{account['paid']} 元"
                      for account in accounts)
        yield Draft(
            f"{ym(period)} 在 {first['post_code']} 的工资发入户名与本人姓名（{first['name']}）不符的账户："
            f"{to}，合计 {yuan(total)} 元，可能由他人代领。",
            {"period": ym(period), "post": first["post_code"], "person_name": first["name"],
             "accounts": accounts, "paid": yuan(total)},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=total)


@rule("IM03", category="impersonation", title="工资发入户名不符的账户", severity="high", basis=BASIS,
      requires=("wages",), needs_columns=(("wages", "account_name"),), combine=_im03_combine,
      describe=lambda r, ctx: None)
def im03(ctx):
    """A payment (up to the as-of date) to an account whose holder's name does not match the
    person's name (both compared after NFKC and removing white space); an empty account name is
    not judged. One row per person, post, period and account; amount: what that account received."""
    wage, person = ctx.wages, Person.__table__
    finding = (wage.c.person_id, wage.c.post_id, wage.c.period)
    return (select(wage.c.person_id, wage.c.post_id, wage.c.period, wage.c.account_masked,
                   wage.c.account_name, person.c.name, func.sum(wage.c.amount_fen).label("paid_fen"),
                   func.count().label("payments"), func.max(wage.c.paid_on).label("last_paid_on"),
                   _code(ctx, wage.c.post_id).label("post_code"),
                   func.sum(func.sum(wage.c.amount_fen)).over(partition_by=finding).label("total_fen"))
            .join(person, person.c.id == wage.c.person_id)
            .where(wage.c.paid_on <= ctx.as_of, wage.c.account_name_key.is_not(None),
                   wage.c.account_name_key != "", wage.c.account_name_key != person.c.name_key)
            .group_by(wage.c.person_id, wage.c.post_id, wage.c.period, wage.c.account_hash,
                      wage.c.account_masked, wage.c.account_name, person.c.name))


# ---- IM04 ---------------------------------------------------------------------------------------

def _im04_combine(rows, ctx):
    """One finding per person, post and month (its total summed by the query), each shared account
    listed with the other people it paid that month."""
    members: dict[tuple, dict[int, dict]] = {}
    for row in rows:
        members.setdefault((row["account_hash"], row["period"]), {})[row["person_id"]] = {
            "id": row["id_masked"], "name": row["name"], "person_id": row["person_id"]}
    for (person_id, post_id, period), group in grouped(rows, "person_id", "post_id", "period"):
        first = group[0]
        total = int(first["total_fen"])
        accounts, everyone = [], {person_id}
        for row in sorted(group, key=lambda row: str(row["account_masked"])):
            sharing = members[(row["account_hash"], period)]
            everyone |= set(sharing)
            others = sorted((member for member_id, member in sharing.items() if member_id != person_id),
                            key=lambda member: member["id"])
            accounts.append({"account": row["account_masked"], "paid": yuan(row["paid_fen"]),
                             "payments": row["payments"], "others": others})
        text = "；".join(
            f"账户 {account['account']} 收到此人 {account['paid']} 元，同月还收到 "
            + "、".join(f"{other['name']}（{other['id']}）" for other in account["others"]) + " 的工资"
            for account in accounts)
        yield Draft(
            f"{ym(period)} 在 {first['post_code']} 的工资：{text}；"
            f"多人工资进入同一账户，可能由他人集中代领。",
            {"period": ym(period), "post": first["post_code"], "accounts": accounts, "paid": yuan(total)},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=total,
            person_ids=sorted(everyone))


@rule("IM04", category="impersonation", title="同一账户领取多人工资", severity="high", basis=BASIS,
      requires=("wages",), needs_columns=(("wages", "account_number"),), combine=_im04_combine,
      describe=lambda r, ctx: None)
def im04(ctx):
    """One account number receives payments (up to the as-of date) for two or more different people
    for the same period: each of them, per post and period; amount: what that account received for
    that person. One row per account, person, post and period."""
    wage, person = ctx.wages, Person.__table__
    shared_wage, account_wage = wage.alias("w2"), wage.alias("w3")
    # two or more people: the smallest and the largest person differ (hashed; COUNT(DISTINCT) sorts
    # every payment of a city). The accounts that ever paid two people first (one group per account),
    # then their months: grouping every payment by account and month spilled to disk.
    several = (select(account_wage.c.account_hash)
               .where(account_wage.c.account_hash.is_not(None), account_wage.c.paid_on <= ctx.as_of)
               .group_by(account_wage.c.account_hash)
               .having(func.min(account_wage.c.person_id) != func.max(account_wage.c.person_id)))
    shared = (select(shared_wage.c.account_hash, shared_wage.c.period)
              .where(shared_wage.c.account_hash.in_(several), shared_wage.c.paid_on <= ctx.as_of)
              .group_by(shared_wage.c.account_hash, shared_wage.c.period)
              .having(func.min(shared_wage.c.person_id) != func.max(shared_wage.c.person_id))
              .subquery("shared"))
    finding = (wage.c.person_id, wage.c.post_id, wage.c.period)
    return (select(wage.c.account_hash, wage.c.account_masked, wage.c.period, wage.c.person_id,
                   wage.c.post_id, person.c.id_masked, person.c.name,
                   func.sum(wage.c.amount_fen).label("paid_fen"),
                   func.count().label("payments"), _code(ctx, wage.c.post_id).label("post_code"),
                   func.sum(func.sum(wage.c.amount_fen)).over(partition_by=finding).label("total_fen"))
            .join(shared, and_(shared.c.account_hash == wage.c.account_hash,
                               shared.c.period == wage.c.period))
            .join(person, person.c.id == wage.c.person_id)
            .where(wage.c.paid_on <= ctx.as_of)
            .group_by(wage.c.account_hash, wage.c.account_masked, wage.c.period, wage.c.person_id,
                      wage.c.post_id, person.c.id_masked, person.c.name))


# ---- IM05 ---------------------------------------------------------------------------------------

def _im05_describe(r, ctx) -> Draft:
    dates = _dates(r["dates"])
    return Draft(
        f"此人已于 {r['death_date']} 死亡（民政/公安死亡名单），{ym(r['month'])} 在 {r['post_code']} "
        f"仍记录出勤 {len(dates)} 天（{'、'.join(d[5:] for d in dates)}），考勤系由他人代签或虚记；"
        f"当月{_paid(r['paid_fen'])}。",
        {"death_date": r["death_date"], "month": ym(r["month"]), "post": r["post_code"],
         "days_present_after_death": len(dates), "dates": dates,
         "paid": yuan(r["paid_fen"]) if r["paid_fen"] is not None else None},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["month"]], amount_fen=r["paid_fen"])


def _of_the_dead(ctx, attendance, person, death) -> list:
    """SQLite: the join again, as a filter on the attendance's first key column (it changes no row).
    Without statistics of the deaths table SQLite took it for a large one and scanned every
    check-in, probing a person and a death for each (0.35 s for a district); with the filter it
    reads the check-ins of the few dead people by primary key. PostgreSQL plans from statistics."""
    if not ctx.sqlite:
        return []
    dead = select(person.c.id).join(death, death.c.id_hash == person.c.id_hash).correlate(None)
    return [attendance.c.person_id.in_(dead)]


@rule("IM05", category="impersonation", title="死亡后仍有出勤记录", severity="high", basis=BASIS,
      requires=("attendance", "deaths"), describe=_im05_describe)
def im05(ctx):
    """A present day (up to the as-of date) after the person's death date: one row per person, post
    and month, with the dates; amount: what was paid for that person, post and month (None if nothing)."""
    attendance, person, death = Attendance.__table__, Person.__table__, Death.__table__
    paid_month = ctx.wage_month
    month = ctx.month(attendance.c.work_date)
    after_death = (select(attendance.c.person_id, attendance.c.post_id, month.label("month"),
                          death.c.death_date, _joined(ctx, _as_text(attendance.c.work_date)).label("dates"))
                   .join(person, person.c.id == attendance.c.person_id)
                   .join(death, death.c.id_hash == person.c.id_hash)
                   .where(attendance.c.status == "出勤", attendance.c.work_date > death.c.death_date,
                          attendance.c.work_date <= ctx.as_of, *_of_the_dead(ctx, attendance, person, death))
                   .group_by(attendance.c.person_id, attendance.c.post_id, month, death.c.death_date)
                   .subquery("g"))
    return (select(after_death, paid_month.c.paid_fen, _code(ctx, after_death.c.post_id).label("post_code"))
            .outerjoin(paid_month, and_(paid_month.c.person_id == after_death.c.person_id,
                                        paid_month.c.post_id == after_death.c.post_id,
                                        paid_month.c.period == after_death.c.month)))

