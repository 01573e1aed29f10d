"""账实不符 / 账账不符 / 数字就业: the figures a workshop reported upward, against its roster, its
attendance and its payroll; and the 不低于上年底 target (informational).

The computed figures follow the metric definitions of ledger-format.md: the roster on the last
day of the month (``workshop_staff`` start ≤ day ≤ end, empty end = still on it); poverty staff =
category 脱贫人口 or 防止返贫监测对象; the subsidy = ``subsidy_per_person`` × poverty staff on the roster
on every day of the month and of the two months before it. Reported values are
``reports.value_x100`` (headcounts × 100, money in fen).
"""
from __future__ import annotations

from sqlalchemy import and_, case, distinct, exists, func, or_, select, union

from audit.vocab import POVERTY_MASK
from models import Person, Post, Report, Workshop, WorkshopStaff

from ..rule import PRACTICE, SEED_001, SEED_001_DATE, SEED_003, SEED_003_DATE, Draft, Param, rule, ym, yuan

BASIS = f"{SEED_003} 五(四)：严防“数字就业”，确保账实相符、账账相符"
BASIS_SUBSIDY = (f"{BASIS}；{SEED_001} 二(一)2：对吸纳困难人员稳定就业三个月以上的，"
                 f"按规定以每人500元/月的标准给予带动就业示范奖补")
BASIS_TARGET = f"{SEED_003} 五(四)：确保车间吸纳脱贫人口人数不低于上年底"

SUBSIDY = Param("subsidy_per_person", 50_000, "带动就业奖补标准（分/人/月），吸纳脱贫人口稳定就业三个月以上",
                unit="分/人/月", reference=f"{SEED_001} 二(一)2：每人500元/月", effective_from=SEED_001_DATE)
TOLERANCE = Param("tolerance_fen", 1, "上报金额与核实金额允许的差额（分）", unit="分", reference=PRACTICE)
PAY_DUE = Param("pay_due_months", 1, "工资应在所属月份之后第几个月的月末前发放（到期后才核对工资总额）",
                unit="个月",
                reference=f"{SEED_003} 五(三)：按时足额发放工资报酬（次月月末前发放为审计实务的期限）",
                effective_from=SEED_003_DATE)


# ---- shared pieces ------------------------------------------------------------------------------

def _on_roster(roster, day):
    return and_(roster.c.start_date <= day, or_(roster.c.end_date.is_(None), roster.c.end_date >= day))


def _poverty(person):
    return person.c.category_mask.op("&")(POVERTY_MASK) != 0


def headcount(ctx, workshop_id, month, *, poverty: bool = False, stable: bool = False):
    """Distinct staff of a workshop on the roster on the last day of ``month`` (poverty staff only,
    or poverty staff on the roster on every day of the month and of the two months before it)."""
    roster, person = WorkshopStaff.__table__.alias("hc_staff"), Person.__table__.alias("hc_person")
    end = ctx.month_end(month)
    count = select(func.count(distinct(roster.c.person_id))).where(roster.c.workshop_id == workshop_id)
    if stable:  # start ≤ first day of month−2 and still on the roster on the month's last day
        count = count.where(roster.c.start_date <= ctx.add_months(month, -2),
                    or_(roster.c.end_date.is_(None), roster.c.end_date >= end))
    else:
        count = count.where(_on_roster(roster, end))
    if poverty or stable:
        count = count.join_from(roster, person, person.c.id == roster.c.person_id).where(_poverty(person))
    return count.scalar_subquery()


def _reported(ctx, metric: str, *columns, where=()):
    """The reports of one metric for months that are over by the as-of date, with the workshop's
    code and region and the given computed columns; a subquery, to compare in the outer query."""
    report, workshop, posts = Report.__table__, Workshop.__table__, Post.__table__
    return (select(report.c.workshop_id.label("post_id"), posts.c.code.label("post_code"), report.c.period,
                   ctx.month_end(report.c.period).label("month_end"), report.c.value_x100.label("reported"),
                   *columns)
            .join(workshop, workshop.c.id == report.c.workshop_id)
            .join(posts, posts.c.id == report.c.workshop_id)
            .where(report.c.metric == metric, ctx.month_end(report.c.period) <= ctx.as_of, *where)
            .subquery("reported"))


def _count(x100) -> str:
    """A headcount reported × 100, shown as a number (whole numbers without decimals)."""
    x100 = int(x100)
    return str(x100 // 100) if x100 % 100 == 0 else f"{x100 / 100:.2f}"


def _subject(r) -> dict:
    return {"post_id": r["post_id"], "subject_key": r["post_code"], "subject_label": r["post_code"]}


# ---- LM01 / LM02: headcounts ----------------------------------------------------------------------

def _headcount_describe(metric: str, counted: str, r) -> Draft:
    reported, computed = int(r["reported"]), int(r["computed"])
    diff = reported - computed * 100
    text = (f"{r['post_code']} 上报 {ym(r['period'])} {metric} {_count(reported)} 人，"
            f"按花名册月末（{r['month_end']}）{counted} {computed} 人，"
            f"{'多报' if diff > 0 else '少报'} {_count(abs(diff))} 人。")
    return Draft(text, {"period": ym(r["period"]), "workshop": r["post_code"], "month_end": r["month_end"],
                        "reported": _count(reported), "computed": computed, "difference": _count(diff)},
                 periods=[r["period"]], **_subject(r))


def _lm01_describe(r, ctx) -> Draft:
    return _headcount_describe("吸纳脱贫人口数", "在册脱贫人口（含防止返贫监测对象）", r)


@rule("LM01", category="ledger_mismatch", title="上报吸纳脱贫人口数与花名册不符", severity="medium",
      basis=BASIS,
      subject_type="workshop", requires=("reports", "workshop_staff"),
      needs_columns=(("persons", "categories"),), describe=_lm01_describe)
def lm01(ctx):
    """Reported poverty_headcount ≠ the poverty staff on the roster on the month's last day."""
    report = Report.__table__
    computed = headcount(ctx, report.c.workshop_id, report.c.period, poverty=True)
    figures = _reported(ctx, "poverty_headcount", computed.label("computed"))
    return select(figures).where(figures.c.reported != figures.c.computed * 100)


def _lm02_describe(r, ctx) -> Draft:
    return _headcount_describe("用工总人数", "在册用工", r)


@rule("LM02", category="ledger_mismatch", title="上报用工总人数与花名册不符", severity="medium", basis=BASIS,
      subject_type="workshop", requires=("reports", "workshop_staff"), describe=_lm02_describe)
def lm02(ctx):
    """Reported total_headcount ≠ all staff on the roster on the month's last day."""
    report = Report.__table__
    computed = headcount(ctx, report.c.workshop_id, report.c.period)
    figures = _reported(ctx, "total_headcount", computed.label("computed"))
    return select(figures).where(figures.c.reported != figures.c.computed * 100)


# ---- LM03: wages total ------------------------------------------------------------------------------

def _lm03_describe(r, ctx) -> Draft:
    reported, paid = int(r["reported"]), int(r["paid_fen"])
    text = (f"{r['post_code']} 上报 {ym(r['period'])} 工资发放总额 {yuan(reported)} 元，"
            f"截至审计日 {ctx.as_of} 实际发放该月工资 {yuan(paid)} 元"
            f"（{r['payments']} 笔、{r['people']} 人），"
            f"{'多报' if reported > paid else '少报'} {yuan(abs(reported - paid))} 元。")
    return Draft(text, {"period": ym(r["period"]), "workshop": r["post_code"], "reported": yuan(reported),
                        "paid": yuan(paid), "difference": yuan(reported - paid), "payments": r["payments"],
                        "people_paid": r["people"], "pay_due_date": r["due_date"], "as_of": ctx.as_of},
                 periods=[r["period"]], **_subject(r))


@rule("LM03", category="ledger_mismatch", title="上报工资发放总额与实际发放不符", severity="medium",
      basis=BASIS,
      subject_type="workshop", requires=("reports", "wages"), params=(TOLERANCE, PAY_DUE),
      describe=_lm03_describe)
def lm03(ctx):
    """Reported wages_total ≠ the sum of the workshop's payments for that period made up to the as-of
    date (beyond ``tolerance_fen``). Judged once the month's pay is due (the last day of the month
    ``pay_due_months`` later is on or before the as-of date): before that, pay still to come is no
    mismatch."""
    report, workshop, wage = Report.__table__, Workshop.__table__, ctx.wages
    mine = and_(wage.c.post_id == report.c.workshop_id, wage.c.period == report.c.period,
                wage.c.paid_on <= ctx.as_of)
    due_months = ctx.param("pay_due_months", district=workshop.c.district, township=workshop.c.township,
                           month=report.c.period)
    due = ctx.month_end(ctx.add_months(report.c.period, due_months))
    figures = _reported(ctx, "wages_total",
                  func.coalesce(select(func.sum(wage.c.amount_fen)).where(mine).scalar_subquery(), 0)
                  .label("paid_fen"),
                  select(func.count()).where(mine).scalar_subquery().label("payments"),
                  select(func.count(distinct(wage.c.person_id))).where(mine).scalar_subquery().label("people"),
                  due.label("due_date"),
                  ctx.param("tolerance_fen", district=workshop.c.district, township=workshop.c.township,
                            month=report.c.period).label("tolerance"),
                  where=(due <= ctx.as_of,))
    return select(figures).where(func.abs(figures.c.reported - figures.c.paid_fen) > figures.c.tolerance)


# ---- LM04: subsidy claimed --------------------------------------------------------------------------

def _lm04_describe(r, ctx) -> Draft:
    claimed, standard, n = int(r["reported"]), int(r["standard"]), int(r["eligible"])
    computed = standard * n
    over = claimed - computed
    text = (f"{r['post_code']} 申领 {ym(r['period'])} 带动就业奖补 {yuan(claimed)} 元；按花名册，"
            f"{r['window_start']} 至 {r['month_end']} 每天在册的脱贫人口（含防止返贫监测对象）{n} 人，"
            f"按 {yuan(standard)} 元/人/月应为 {yuan(computed)} 元，"
            + (f"多申领 {yuan(over)} 元。" if over > 0 else f"少申领 {yuan(-over)} 元。"))
    return Draft(text, {"period": ym(r["period"]), "workshop": r["post_code"], "claimed": yuan(claimed),
                        "eligible_staff": n, "standard_per_person": yuan(standard),
                        "computed": yuan(computed), "difference": yuan(over),
                        "on_roster_from": r["window_start"], "to": r["month_end"]},
                 periods=[r["period"]], amount_fen=over if over > 0 else None, **_subject(r))


@rule("LM04", category="ledger_mismatch", title="申领带动就业奖补与核定金额不符", severity="high",
      basis=BASIS_SUBSIDY, subject_type="workshop", requires=("reports", "workshop_staff"),
      needs_columns=(("persons", "categories"),),
      params=(SUBSIDY, TOLERANCE), describe=_lm04_describe)
def lm04(ctx):
    """Reported subsidy_claimed ≠ subsidy_per_person × poverty staff on the roster on every day of
    the month and of the two months before it (beyond ``tolerance_fen``). The amount at risk is the
    over-claim; an under-claim is shown with no amount."""
    report, workshop = Report.__table__, Workshop.__table__
    place = {"district": workshop.c.district, "township": workshop.c.township, "month": report.c.period}
    figures = _reported(ctx, "subsidy_claimed",
                  headcount(ctx, report.c.workshop_id, report.c.period, stable=True).label("eligible"),
                  ctx.param("subsidy_per_person", **place).label("standard"),
                  ctx.param("tolerance_fen", **place).label("tolerance"),
                  ctx.add_months(report.c.period, -2).label("window_start"))
    computed = figures.c.standard * figures.c.eligible
    return select(figures).where(func.abs(figures.c.reported - computed) > figures.c.tolerance)


# ---- LM05: 数字就业 -----------------------------------------------------------------------------------

def _lm05_combine(rows, ctx):
    """One finding per workshop and month, naming its people (a person on the roster twice that
    month is named once, counted for the subsidy if either row counts)."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = groups.setdefault((row["post_id"], row["month"]), {"r": row, "people": {}})
        person = group["people"].setdefault(row["person_id"], dict(row))
        person["counts"] = bool(person.get("counts")) or bool(row["poverty"] and row["stable"])
    for (post_id, month), group in sorted(groups.items(), key=lambda kv: (kv[1]["r"]["post_code"],
                                                                          str(kv[0][1]))):
        r = group["r"]
        people = sorted(group["people"].values(), key=lambda person: person["person_id"])
        counted = sum(1 for person in people if person["counts"])
        claimed = None if r["claimed"] is None else int(r["claimed"])
        amount = min(claimed, counted * int(r["standard"])) if claimed and counted else None
        names = "、".join(f"{person['name']}（{person['id_masked']}"
                         + (f"，考勤记录 {person['days']} 天均非出勤" if person["days"] else "") + "）"
                         for person in people[:10]) + ("等" if len(people) > 10 else "")
        text = (f"{r['post_code']} {ym(month)} 月末（{r['month_end']}）花名册在册的 {len(people)} 人"
                f"当月没有一天出勤、也没有发放该月工资：{names}；该车间当月有考勤记录，这些人的用工仅见于花名册。")
        if amount:
            text += (f"其中 {counted} 人计入当月申领的带动就业奖补（申领 {yuan(claimed)} 元），"
                     f"按 {yuan(r['standard'])} 元/人/月涉及 {yuan(amount)} 元。")
        evidence = {
            "period": ym(month), "workshop": r["post_code"], "month_end": r["month_end"],
            "people_count": len(people),
            "people": [{"id_masked": person["id_masked"], "name": person["name"],
                        "days_recorded": person["days"] or 0, "days_present": 0, "paid": "0.00",
                        "counts_for_subsidy": person["counts"], "person_id": person["person_id"]}
                       for person in people],
            "subsidy_claimed": yuan(claimed) if claimed is not None else None,
            "subsidy_standard": yuan(r["standard"]), "counted_for_subsidy": counted}
        yield Draft(text, evidence, post_id=post_id, periods=[month], amount_fen=amount,
                    person_ids=[person["person_id"] for person in people], subject_key=r["post_code"],
                    subject_label=r["post_code"])


@rule("LM05", category="ledger_mismatch", title="数字就业：在册人员当月无出勤、无工资", severity="high",
      basis=BASIS,
      subject_type="workshop", requires=("workshop_staff", "attendance", "wages"), params=(SUBSIDY,),
      uses_columns=(("persons", "categories"),),  # only for the subsidy the people carried
      describe=lambda r, ctx: next(_lm05_combine([r], ctx)), combine=_lm05_combine)
def lm05(ctx):
    """Staff on the roster on a month's last day with no present day on that workshop that month and
    no payment for that month (made up to the as-of date); one row per person, combined into one
    finding per workshop and month. Judged for months that are over by the as-of date and in which
    the workshop kept attendance (at least one attendance row that month): a month with no
    attendance for anyone is a gap in the data, not proof of paper-only staff. The amount is the
    subsidy those people carried: subsidy_per_person × the named poverty staff on the roster for the
    three months, at most the subsidy claimed for that month; none when no subsidy was claimed."""
    attended, paid_month = ctx.attendance_month, ctx.wage_month
    roster, person, workshop = WorkshopStaff.__table__, Person.__table__, Workshop.__table__
    posts, report = Post.__table__, Report.__table__
    # the months of workshops only, not of public posts
    kept, kept_workshop = attended.alias("kept"), workshop.alias("kept_ws")
    months = (select(kept.c.post_id, kept.c.month).distinct()
              .join(kept_workshop, kept_workshop.c.id == kept.c.post_id)
              .where(ctx.month_end(kept.c.month) <= ctx.as_of).subquery("kept_months"))
    end = ctx.month_end(months.c.month)
    paid = exists().where(paid_month.c.person_id == roster.c.person_id,
                          paid_month.c.post_id == roster.c.workshop_id,
                          paid_month.c.period == months.c.month)
    claimed = (select(report.c.value_x100)
               .where(report.c.workshop_id == roster.c.workshop_id, report.c.period == months.c.month,
                      report.c.metric == "subsidy_claimed").scalar_subquery())
    return (select(months.c.post_id, posts.c.code.label("post_code"), months.c.month, end.label("month_end"),
                   roster.c.person_id, person.c.id_masked, person.c.name, attended.c.days,
                   case((_poverty(person), 1), else_=0).label("poverty"),
                   case((roster.c.start_date <= ctx.add_months(months.c.month, -2), 1), else_=0)
                   .label("stable"),
                   claimed.label("claimed"),
                   ctx.param("subsidy_per_person", district=workshop.c.district, township=workshop.c.township,
                             month=months.c.month).label("standard"))
            .distinct()
            .select_from(months)
            .join(roster, and_(roster.c.workshop_id == months.c.post_id, _on_roster(roster, end)))
            .join(workshop, workshop.c.id == roster.c.workshop_id)
            .join(posts, posts.c.id == roster.c.workshop_id)
            .join(person, person.c.id == roster.c.person_id)
            .outerjoin(attended, and_(attended.c.person_id == roster.c.person_id,
                                      attended.c.post_id == roster.c.workshop_id,
                               attended.c.month == months.c.month))
            .where(func.coalesce(attended.c.present, 0) == 0, ~paid))


# ---- TS01: 不低于上年底 (informational) ----------------------------------------------------------------

def _ts01_describe(r, ctx) -> Draft:
    baseline, computed = int(r["baseline"]), int(r["computed"])
    return Draft(
        f"{r['post_code']} {ym(r['month'])} 月末（{r['month_end']}）在册脱贫人口（含防止返贫监测对象）"
        f"{computed} 人，"
        f"低于上年末基数 {baseline} 人，差 {baseline - computed} 人。",
        {"period": ym(r["month"]), "workshop": r["post_code"], "month_end": r["month_end"],
         "baseline": baseline, "computed": computed, "shortfall": baseline - computed},
        periods=[r["month"]], post_id=r["post_id"], subject_key=r["post_code"], subject_label=r["post_code"])


@rule("TS01", category="target_shortfall", title="吸纳脱贫人口数低于上年末基数", severity="low",
      basis=BASIS_TARGET,
      subject_type="workshop", requires=("workshop_staff",),
      needs_columns=(("workshops", "baseline_poverty_headcount"), ("persons", "categories")),
      describe=_ts01_describe)
def ts01(ctx):
    """A workshop's poverty staff on the roster at a month's end below its
    ``baseline_poverty_headcount`` (workshops without a baseline are skipped: DQ02). The months
    judged are those in which the workshop shows activity in the ledgers — a report filed for it or
    attendance kept — before the as-of month; months are never generated from a calendar, and the
    roster's start dates alone (which reach back years before the baseline's year) are not used."""
    report, attended = Report.__table__, ctx.attendance_month
    workshop, posts = Workshop.__table__, Post.__table__
    kept = workshop.alias("kept")  # the attendance of workshops only: public posts are most of its months
    months = union(select(report.c.workshop_id.label("post_id"), report.c.period.label("month")),
                   select(attended.c.post_id, attended.c.month).join(kept, kept.c.id == attended.c.post_id)
                   ).subquery("active_months")
    judged = (select(months.c.post_id, posts.c.code.label("post_code"), months.c.month,
                ctx.month_end(months.c.month).label("month_end"),
                workshop.c.baseline_poverty_headcount.label("baseline"),
                headcount(ctx, months.c.post_id, months.c.month, poverty=True).label("computed"))
         .select_from(months).join(workshop, workshop.c.id == months.c.post_id)
         .join(posts, posts.c.id == months.c.post_id)
         .where(workshop.c.baseline_poverty_headcount.is_not(None), months.c.month < ctx.as_of_month)
         .subquery("ts"))
    return select(judged).where(judged.c.computed < judged.c.baseline)

