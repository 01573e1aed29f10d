"""吃空饷 / 虚报冒领: money paid for work that was not done."""
from __future__ import annotations

from sqlalchemy import and_, exists, func, or_, select, union_all

from models import (
    Death,
    MigrantWork,
    Person,
    Placement,
    Position,
    Post,
    SocialInsurance,
    Workshop,
    WorkshopStaff,
)

from ..rule import PRACTICE, SEED_002, SEED_003, Draft, Param, grouped, rule, ym, yuan

BASIS = f"{SEED_003} 五(三)：严禁吃空饷、虚报冒领"


def _code(ctx, post_id):
    return select(Post.code).where(Post.id == post_id).scalar_subquery()


def _ps01_describe(r, ctx) -> Draft:
    return Draft(
        f"{ym(r['period'])} 在 {r['post_code']} 没有一天出勤（当月考勤记录 {r['days'] or 0} 天，出勤 0 天），"
        f"却发放工资 {yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "days_recorded": r["days"] or 0,
         "days_present": 0, "paid": yuan(r["paid_fen"]), "payments": r["payments"],
         "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("PS01", category="phantom_salary", title="发放工资的月份没有任何出勤", severity="high", basis=BASIS,
      requires=("wages", "attendance"), describe=_ps01_describe)
def ps01(ctx):
    """Paid for a month without a present day on that post. Only posts that keep attendance at all
    are judged (a paid post with no attendance anywhere is a data-quality note, DQ01)."""
    paid_month, attended = ctx.wage_month, ctx.attendance_month
    kept, seen = attended.alias("kept"), attended.alias("seen")
    post_keeps_attendance = paid_month.c.post_id.in_(select(kept.c.post_id).distinct())  # evaluated once
    same = and_(attended.c.person_id == paid_month.c.person_id, attended.c.post_id == paid_month.c.post_id,
                attended.c.month == paid_month.c.period)
    present = exists().where(seen.c.person_id == paid_month.c.person_id,
                             seen.c.post_id == paid_month.c.post_id,
                             seen.c.month == paid_month.c.period, seen.c.present > 0)
    # an anti-join on the paid months (hashed), then the days recorded of the few left: an outer
    # join of every paid month went row by row through the aggregate's index
    return (select(*_paid_columns(paid_month),
                   select(attended.c.days).where(same).scalar_subquery().label("days"),
                   _code(ctx, paid_month.c.post_id).label("post_code"))
            .where(paid_month.c.paid_fen > 0, ~present, post_keeps_attendance,
                   paid_month.c.period <= ctx.as_of_month))


def _ps04_describe(r, ctx) -> Draft:
    return Draft(
        f"此人已于 {r['death_date']} 死亡（民政/公安死亡名单），{ym(r['period'])} 仍在 {r['post_code']} "
        f"发放工资 {yuan(r['paid_fen'])} 元（最后一笔 {r['last_paid_on']}）。",
        {"death_date": r["death_date"], "period": ym(r["period"]), "post": r["post_code"],
         "paid": yuan(r["paid_fen"]), "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("PS04", category="phantom_salary", title="死亡后仍发放工资", severity="high", basis=BASIS,
      requires=("wages", "deaths"), describe=_ps04_describe)
def ps04(ctx):
    """Paid for a month that begins after the person's death date."""
    paid_month, person, death = ctx.wage_month, Person.__table__, Death.__table__
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.last_paid_on, death.c.death_date,
                   _code(ctx, paid_month.c.post_id).label("post_code"))
            .join(person, person.c.id == paid_month.c.person_id)
            .join(death, death.c.id_hash == person.c.id_hash)
            .where(paid_month.c.period > death.c.death_date, paid_month.c.paid_fen > 0))


# ---- shared pieces of PS02–PS07 -------------------------------------------------------------------

def _paid_columns(paid_month):
    """Who was paid on which post for which month, how much, in how many payments, the last one when."""
    return (paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
            paid_month.c.payments, paid_month.c.last_paid_on)


def _unit_key(col):
    """An employer's name for matching: without ASCII or ideographic spaces (the stored names are
    already NFKC-normalised and trimmed by the importer)."""
    return func.replace(func.replace(col, " ", ""), "\u3000", "")


def _overlaps(start_col, end_col, month_col, ctx):
    """A holding [start, end] (empty end = still held) shares at least one day with the month."""
    return and_(start_col <= ctx.month_end(month_col), or_(end_col.is_(None), end_col >= month_col))


# ---- PS02 ---------------------------------------------------------------------------------------

def _ps02_describe(r, ctx) -> Draft:
    excess = r["paid_fen"] - r["due_fen"]
    return Draft(
        f"{ym(r['period'])} 在 {r['post_code']} 出勤 {r['present']} 天（规定 {r['required_days']} 天），"
        f"按月标准 {yuan(r['monthly_wage_fen'])} 元应发 {yuan(r['due_fen'])} 元，"
        f"实发 {yuan(r['paid_fen'])} 元（{r['payments']} 笔），多发 {yuan(excess)} 元。",
        {"period": ym(r["period"]), "post": r["post_code"], "days_present": r["present"],
         "required_days": r["required_days"], "monthly_wage": yuan(r["monthly_wage_fen"]),
         "wage_due": yuan(r["due_fen"]), "paid": yuan(r["paid_fen"]), "payments": r["payments"],
         "excess": yuan(excess), "tolerance": yuan(r["tolerance_fen"])},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=excess)


@rule("PS02", category="phantom_salary", title="出勤不足却足额或超额发放工资", severity="medium", basis=BASIS,
      requires=("wages", "attendance"), public_posts_only=True,
      params=(Param("tolerance_fen", 1, "实发超过应发的容差（分），超过才认定多发", unit="分",
                    reference=PRACTICE),),
      describe=_ps02_describe)
def ps02(ctx):
    """Public posts: paid for a month more than the wage due (月标准 × min(1, 出勤 ÷ 规定天数)) beyond
    the tolerance. Only months with at least one present day (none is PS01's) and only months that
    have ended by the as-of date (the attendance of a running month is not complete)."""
    paid_month, attended, position = ctx.wage_month, ctx.attendance_month, Position.__table__
    due = ctx.wage_due(position.c.monthly_wage_fen, attended.c.present, position.c.required_days)
    tolerance = ctx.param("tolerance_fen", district=position.c.district, township=position.c.township,
                          month=paid_month.c.period)
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.payments, attended.c.present, position.c.required_days,
                   position.c.monthly_wage_fen, due.label("due_fen"), tolerance.label("tolerance_fen"),
                   _code(ctx, paid_month.c.post_id).label("post_code"))
            .join(position, position.c.id == paid_month.c.post_id)
            .join(attended, and_(attended.c.person_id == paid_month.c.person_id,
                                 attended.c.post_id == paid_month.c.post_id,
                                 attended.c.month == paid_month.c.period))
            .where(attended.c.present > 0, ctx.month_end(paid_month.c.period) <= ctx.as_of,
                   paid_month.c.paid_fen - due > tolerance))


# ---- PS03 ---------------------------------------------------------------------------------------

def _ps03_describe(r, ctx) -> Draft:
    where = []
    if r["left_before"] is not None:
        where.append(f"已于 {r['left_before']} 离岗")
    if r["starts_after"] is not None:
        where.append(f"{r['starts_after']} 才上岗")
    roster = "车间花名册" if r["post_kind"] == "workshop" else "安置台账"
    return Draft(
        f"{ym(r['period'])} 整月不在此人于 {r['post_code']} 的任何在岗期间内"
        f"（{roster}：{'，'.join(where)}），"
        f"却发放工资 {yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "ledger": roster, "left_before": r["left_before"],
         "starts_after": r["starts_after"], "paid": yuan(r["paid_fen"]), "payments": r["payments"],
         "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("PS03", category="phantom_salary", title="不在岗期间发放工资（离岗后或上岗前）", severity="high",
      basis=f"{BASIS}；地方做法：人员离岗逾期不报的，视同虚报冒领", requires=("wages", "placements"),
      describe=_ps03_describe)
def ps03(ctx):
    """Paid for a month that shares no day with any holding of that person on that post (placements
    for a position, the roster for a workshop), where the person did hold the post at some time (a
    post never held is DP01's)."""
    paid_month, posts = ctx.wage_month, Post.__table__
    placement, roster = Placement.__table__, WorkshopStaff.__table__
    own_placement = and_(placement.c.person_id == paid_month.c.person_id,
                         placement.c.position_id == paid_month.c.post_id)
    own_roster = and_(roster.c.person_id == paid_month.c.person_id,
                      roster.c.workshop_id == paid_month.c.post_id)
    # every holding of a post, placements and rosters alike (positions and workshops share the post
    # ids): one semi-join and one anti-join, both hashed. NOT (EXISTS … OR EXISTS …) was two index
    # probes for each of a city's 570,000 paid months.
    holdings = union_all(
        select(placement.c.person_id, placement.c.position_id.label("post_id"), placement.c.start_date,
               placement.c.end_date),
        select(roster.c.person_id, roster.c.workshop_id.label("post_id"), roster.c.start_date,
               roster.c.end_date))
    ever, then = holdings.subquery("held_ever"), holdings.subquery("held_then")
    held_ever = exists().where(ever.c.person_id == paid_month.c.person_id,
                               ever.c.post_id == paid_month.c.post_id)
    not_held_then = ~exists().where(then.c.person_id == paid_month.c.person_id,
                                    then.c.post_id == paid_month.c.post_id,
                                    _overlaps(then.c.start_date, then.c.end_date, paid_month.c.period, ctx))
    left_before = func.coalesce(
        select(func.max(placement.c.end_date))
        .where(own_placement, placement.c.end_date < paid_month.c.period).scalar_subquery(),
        select(func.max(roster.c.end_date)).where(own_roster, roster.c.end_date < paid_month.c.period)
        .scalar_subquery())
    month_end = ctx.month_end(paid_month.c.period)
    starts_after = func.coalesce(
        select(func.min(placement.c.start_date)).where(own_placement, placement.c.start_date > month_end)
        .scalar_subquery(),
        select(func.min(roster.c.start_date)).where(own_roster, roster.c.start_date > month_end)
        .scalar_subquery())
    return (select(*_paid_columns(paid_month),
                   posts.c.code.label("post_code"), posts.c.kind.label("post_kind"),
                   left_before.label("left_before"), starts_after.label("starts_after"))
            .join(posts, posts.c.id == paid_month.c.post_id)
            .where(paid_month.c.paid_fen > 0, held_ever, not_held_then))


# ---- PS05 ---------------------------------------------------------------------------------------

def _ps05_describe(r, ctx) -> Draft:
    back = f"{r['away_end']} 返回" if r["away_end"] is not None else f"截至审计日 {ctx.as_of} 未返回"
    place = f"，务工地点 {r['place']}" if r["place"] else ""
    return Draft(
        f"此人 {r['away_start']} 外出务工{place}，{back}；{ym(r['period'])} 整月在外，却在 {r['post_code']} "
        f"发放工资 {yuan(r['paid_fen'])} 元（当月考勤出勤 {r['present'] or 0} 天，"
        f"最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "away_from": r["away_start"],
         "away_until": r["away_end"],
         "place": r["place"], "days_present_recorded": r["present"] or 0, "paid": yuan(r["paid_fen"]),
         "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("PS05", category="phantom_salary", title="外出务工期间仍发放工资", severity="high",
      basis=f"{BASIS}；地方做法：杜绝长期外出务工人员占岗领薪（吉林 2025）",
      requires=("wages", "migrant_work"),
      describe=_ps05_describe)
def ps05(ctx):
    """Paid for a month lying wholly inside one migrant-work spell (an empty return date = still
    away, judged up to the as-of date: the month must have ended by then). Where spells overlap, the
    earliest covering spell is cited."""
    paid_month, attended = ctx.wage_month, ctx.attendance_month
    person, posts = Person.__table__, Post.__table__
    away, cover = MigrantWork.__table__, MigrantWork.__table__.alias("cover")
    month_end = ctx.month_end(paid_month.c.period)
    # every covering spell of every paid month (a join on the person: few people have a spell), the
    # earliest ranked first; a subquery picking it per paid month ran for each of a city's 570,000
    key = (paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period)
    covered = (select(*key, paid_month.c.paid_fen, paid_month.c.last_paid_on, cover.c.id.label("spell_id"),
                      func.row_number().over(partition_by=key, order_by=(cover.c.start_date, cover.c.id))
                      .label("nth"))
               .join(person, person.c.id == paid_month.c.person_id)
               .join(cover, and_(cover.c.id_hash == person.c.id_hash,
                                 cover.c.start_date <= paid_month.c.period,
                                 or_(cover.c.end_date.is_(None), cover.c.end_date >= month_end)))
               .where(paid_month.c.paid_fen > 0, month_end <= ctx.as_of)
               .subquery("covered"))
    month = covered.c
    return (select(month.person_id, month.post_id, month.period, month.paid_fen, month.last_paid_on,
                   attended.c.present, away.c.start_date.label("away_start"),
                   away.c.end_date.label("away_end"), away.c.place, posts.c.code.label("post_code"))
            .select_from(covered)
            .join(away, away.c.id == month.spell_id).join(posts, posts.c.id == month.post_id)
            .outerjoin(attended, and_(attended.c.person_id == month.person_id,
                                      attended.c.post_id == month.post_id, attended.c.month == month.period))
            .where(month.nth == 1))


# ---- PS06 ---------------------------------------------------------------------------------------

def _ps06_combine(rows, ctx):
    for (person_id, post_id, period), rs in grouped(rows, "person_id", "post_id", "period"):
        r = rs[0]
        insured = sorted({(x["insured_by"], x["insured_credit_code"] or "") for x in rs})
        names = "、".join(n for n, _ in insured)
        yield Draft(
            f"{ym(period)} 此人由 {names} 缴纳社会保险，该单位不是此人任何岗位的用工单位或所在车间的经营主体"
            f"（疑在他处就业）；同月在 {r['post_code']}（{r['post_unit']}）"
            f"发放工资 {yuan(r['paid_fen'])} 元。",
            {"period": ym(period), "post": r["post_code"], "post_unit": r["post_unit"],
             "insured_by": [{"employer": n, "credit_code": c or None} for n, c in insured],
             "paid": yuan(r["paid_fen"]), "last_paid_on": r["last_paid_on"]},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=r["paid_fen"])


@rule("PS06", category="phantom_salary", title="在他处就业（他单位缴纳社保）期间仍发放工资", severity="high",
      basis=f"{BASIS}；{SEED_002} 六：及时发现和清退违规在岗人员", requires=("wages", "social_insurance"),
      describe=lambda r, ctx: None, combine=_ps06_combine)
def ps06(ctx):
    """Paid for a month in which social insurance was paid for the person by an employer that is
    none of the employers of the person's positions (any placement, any time) nor the operators of
    the person's workshops (any roster row), matched by name, or by credit code where both sides
    have one. One row per paid post, month and foreign employer; combined per post and month."""
    paid_month, person, posts = ctx.wage_month, Person.__table__, Post.__table__
    insurance = SocialInsurance.__table__
    placement, position = Placement.__table__, Position.__table__
    roster, workshop = WorkshopStaff.__table__, Workshop.__table__
    owner_position, owner_workshop = position.alias("own_pos"), workshop.alias("own_wk")
    paid_position, paid_workshop = position.alias("paid_pos"), workshop.alias("paid_wk")
    insured_code = func.upper(insurance.c.employer_credit_code)
    own_position = (exists()
                    .select_from(placement.join(owner_position,
                                                owner_position.c.id == placement.c.position_id))
                    .where(placement.c.person_id == paid_month.c.person_id,
                           _unit_key(owner_position.c.employer) == _unit_key(insurance.c.employer)))
    own_workshop = (exists()
                    .select_from(roster.join(owner_workshop, owner_workshop.c.id == roster.c.workshop_id))
                    .where(roster.c.person_id == paid_month.c.person_id,
                           or_(_unit_key(owner_workshop.c.operator) == _unit_key(insurance.c.employer),
                               and_(insurance.c.employer_credit_code.is_not(None),
                                    insurance.c.employer_credit_code != "",
                                    owner_workshop.c.credit_code.is_not(None),
                                    owner_workshop.c.credit_code != "",
                                    func.upper(owner_workshop.c.credit_code) == insured_code))))
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.last_paid_on, insurance.c.employer.label("insured_by"),
                   insurance.c.employer_credit_code.label("insured_credit_code"),
                   posts.c.code.label("post_code"),
                   func.coalesce(paid_position.c.employer, paid_workshop.c.operator).label("post_unit"))
            .join(person, person.c.id == paid_month.c.person_id)
            .join(insurance, and_(insurance.c.id_hash == person.c.id_hash,
                                  insurance.c.period == paid_month.c.period))
            .join(posts, posts.c.id == paid_month.c.post_id)
            .outerjoin(paid_position, paid_position.c.id == paid_month.c.post_id)
            .outerjoin(paid_workshop, paid_workshop.c.id == paid_month.c.post_id)
            .where(paid_month.c.paid_fen > 0, ~own_position, ~own_workshop))


# ---- PS07 ---------------------------------------------------------------------------------------

def _ps07_combine(rows, ctx):
    """One finding per group of identical payments; groups of one person, post and month (two
    different payments each paid twice) share the finding's identity, so they are told together."""
    for (person_id, post_id, period), group in grouped(rows, "person_id", "post_id", "period"):
        payments = sorted(group, key=lambda payment: (str(payment["paid_on"]), payment["amount_fen"],
                                                      payment["account_masked"] or ""))
        extra = int(payments[0]["excess_fen"])
        parts = [f"{yuan(payment['amount_fen'])} 元于 {payment['paid_on']} "
                 f"向账户 {payment['account_masked'] or '（未填）'} 重复发放 {payment['copies']} 次"
                 for payment in payments]
        yield Draft(
            f"{ym(period)} 在 {payments[0]['post_code']} 的同一笔工资 {'；'.join(parts)}"
            f"（人员、岗位、月份、金额、日期、账户完全相同），多发 {yuan(extra)} 元。",
            {"period": ym(period), "post": payments[0]["post_code"],
             "payments": [{"amount": yuan(payment["amount_fen"]), "paid_on": payment["paid_on"],
                           "account": payment["account_masked"], "copies": payment["copies"]}
                          for payment in payments],
             "excess": yuan(extra)},
            person_id=person_id, post_id=post_id, periods=[period], amount_fen=extra)


@rule("PS07", category="phantom_salary", title="同一笔工资重复发放", severity="high", basis=BASIS,
      requires=("wages",), describe=lambda r, ctx: None, combine=_ps07_combine)
def ps07(ctx):
    """Two or more payment rows (paid up to the as-of date) identical in person, post, period,
    amount, payment date and account (the same account hash, or both without an account)."""
    wage = ctx.wages
    finding = (wage.c.person_id, wage.c.post_id, wage.c.period)
    # paid too much: every copy but one, over every group of the finding's person, post and month
    excess = func.sum(wage.c.amount_fen * (func.count() - 1)).over(partition_by=finding)
    return (select(wage.c.person_id, wage.c.post_id, wage.c.period, wage.c.amount_fen, wage.c.paid_on,
                   func.max(wage.c.account_masked).label("account_masked"), func.count().label("copies"),
                   _code(ctx, wage.c.post_id).label("post_code"), excess.label("excess_fen"))
            .where(wage.c.paid_on <= ctx.as_of, wage.c.amount_fen > 0)
            .group_by(wage.c.person_id, wage.c.post_id, wage.c.period, wage.c.amount_fen, wage.c.paid_on,
                      wage.c.account_hash)
            .having(func.count() > 1))
