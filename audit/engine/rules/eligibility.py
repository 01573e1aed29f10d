"""安置不符合条件人员: the person should not hold this public post (IP01–IP08).

Every finding concerns one placement (person + position + start date), except IP06 (一户一岗),
whose subject is the household. ``periods`` is always empty (a placement has no month); the
amount at risk is the pay made on that post for months inside the part of the holding that is
irregular (the whole holding unless the rule says otherwise), from the shared ``wage_month``
table, so only payments made by the as-of date count. A holding still open (or ending after the
as-of date) is judged up to the as-of date.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
)

from audit.vocab import CATEGORIES, CATEGORY_ALIASES, CATEGORY_BIT, categories_of
from models import Business, Household, Official, Pension

from ..periods import (
    add_months,
    age_in_months,
    age_text,
    as_date,
    first_month_from,
    held_until,
    last_month_to,
    retirement_age_months,
)
from ..rule import SEED_000, SEED_000_DATE, SEED_003, Draft, Param, rule, yuan
from .placements import (
    agg_text,
    amount_at_risk,
    as_text,
    draft,
    evidence_of,
    finding_columns,
    held_by,
    holding_text,
    joined,
    paid_between,
    paid_text,
    placement_tables,
    split_texts,
)

URBAN = "城镇公益性岗位"  # any other kind (乡村公益性岗位) is judged as rural

BASIS = (f"{SEED_003} 五(三)：托底安置符合就业困难人员条件的弱劳力、半劳力和无法外出、无业可就的脱贫人口，"
         "及时纠正查处安置不符合条件人员")
RETIREMENT_LAW = ("《全国人民代表大会常务委员会关于实施渐进式延迟法定退休年龄的决定》"
                  "（2024年，自2025年1月1日起施行）")
SUBSIDY_RULES = ("《就业补助资金管理办法》（财社〔2017〕164号）：公益性岗位补贴期限最长不超过3年，"
                 "对距法定退休年龄不足5年的就业困难人员可延长至退休")
SUBSIDY_RULES_DATE = dt.date(2017, 10, 13)  # 财社〔2017〕164号 issued
LOCAL = "地方做法（各地公益性岗位管理办法，不同地区不同）"

PENSION_DISQUALIFYING = ("城镇职工基本养老金", "机关事业单位养老金")
BUSINESS_DISQUALIFYING = ("法定代表人", "个体工商户经营者")
NO_LABOUR = ("丧失劳动力", "无劳动力")


# ---- IP01 ---------------------------------------------------------------------------------------

def _mask(words) -> int:
    """A list of 人员类别 (or a ';'-separated string) as a bit mask over ``audit.vocab.CATEGORIES``."""
    if isinstance(words, str):
        words = [word for word in words.replace("；", ";").replace("、", ";").replace(",", ";").split(";")]
    mask = 0
    for word in words:
        word = CATEGORY_ALIASES.get(word.strip(), word.strip())
        if word:
            if word not in CATEGORY_BIT:
                raise ValueError(f"unknown 人员类别 in a qualifying list: {word!r}")
            mask |= CATEGORY_BIT[word]
    return mask


def _ip01_describe(r, ctx) -> Draft:
    have = categories_of(int(r["category_mask"] or 0))
    qualifying = categories_of(int(r["qualifying_mask"]))
    shown = "全部类别" if len(qualifying) == len(CATEGORIES) else "、".join(qualifying)
    who = f"人员类别为 {'、'.join(have)}" if have else "台账未登记任何人员类别"
    return draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），{who}，不属于该类岗位可安置的人员类别"
        f"（{shown}）" + paid_text(r, ctx) + "。"),
        evidence_of(r, ctx, categories=have, qualifying_categories=qualifying))


@rule("IP01", category="ineligible_placement", title="安置人员不属于可安置人员类别", severity="high",
      basis=f"{BASIS}；{SEED_000} 三（服务对象：就业困难人员范围）", requires=("persons", "placements"),
      needs_columns=(("persons", "categories"),),
      params=(Param("qualifying_rural", list(CATEGORIES), "乡村公益性岗位可安置的人员类别", unit="人员类别",
                    reference=f"{SEED_000} 三（服务对象）；{SEED_003} 五(三)", effective_from=SEED_000_DATE),
              Param("qualifying_urban", list(CATEGORIES), "城镇公益性岗位可安置的人员类别", unit="人员类别",
                    reference=f"{SEED_000} 三（服务对象）；{SEED_003} 五(三)", effective_from=SEED_000_DATE)),
      describe=_ip01_describe, public_posts_only=True)
def ip01(ctx):
    """The person has none of the qualifying categories for the post's kind (the lists in force
    for the post's place at the month the placement started)."""
    tables = placement, position, person, posts = placement_tables()
    where = dict(district=position.c.district, township=position.c.township,
                 month=ctx.month(placement.c.start_date), transform=_mask)
    mask = case((position.c.kind == URBAN, ctx.param("qualifying_urban", **where)),
                else_=ctx.param("qualifying_rural", **where))
    have = func.coalesce(person.c.category_mask, 0)
    return (select(*finding_columns(ctx, *tables), have.label("category_mask"),
                   mask.label("qualifying_mask"))
            .select_from(joined(*tables))
            .where(placement.c.start_date <= ctx.as_of, have.op("&")(mask) == 0))


# ---- IP02 ---------------------------------------------------------------------------------------

def _ip02_describe(r, ctx) -> Draft:
    born = as_date(r["birth_date"])
    ev = {"birth_month": f"{born.year:04d}-{born.month:02d}", "sex": r["sex"], "age_at_start": r["age"],
          "age_min": r["age_min"]}
    if r["reason"] == "young":
        text = f"上岗时年龄 {r['age']} 岁，低于最低年龄 {r['age_min']} 岁"
    elif r["kind"] == URBAN:
        retire = add_months(born, int(r["retire_months"]))
        ev.update(retirement_age=age_text(r["retire_months"]), retirement_date=retire,
                  age_at_start_months=age_text(r["age_months"]))
        text = (f"上岗时年龄 {age_text(r['age_months'])}，已达法定退休年龄 {age_text(r['retire_months'])}"
                f"（{'男' if r['sex'] == 'M' else '女'}，{born.year}年{born.month}月出生，{retire} 退休）")
    else:
        ev["age_max"] = r["age_max"]
        text = f"上岗时年龄 {r['age']} 岁，超过乡村公益性岗位最高年龄 {r['age_max']} 岁"
    return draft(r, ctx, f"{r['start_date']} 安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），"
                 f"{text}" + paid_text(r, ctx) + "。", evidence_of(r, ctx, **ev))


@rule("IP02", category="ineligible_placement", title="安置人员年龄不符合条件", severity="high",
      basis=f"{BASIS}；{RETIREMENT_LAW}（城镇公益性岗位：法定退休年龄）", requires=("persons", "placements"),
      params=(Param("age_min", 16, "上岗时的最低年龄（周岁）", unit="岁",
                    reference="《中华人民共和国劳动法》第十五条：禁止用人单位招用未满十六周岁的未成年人",
                    effective_from=dt.date(1995, 1, 1)),
              Param("age_max_rural", 65, "乡村公益性岗位上岗时的最高年龄（周岁，含）", unit="岁",
                    reference=LOCAL)),
      describe=_ip02_describe, public_posts_only=True)
def ip02(ctx):
    """Age at the start below ``age_min``; or, on a rural post, above ``age_max_rural`` (65 allowed,
    66 not); or, on an urban post, a start on or after the day the person reached the statutory
    retirement age (men 60, women 50, as raised by the 2025 gradual reform)."""
    tables = placement, position, person, posts = placement_tables()
    where = dict(district=position.c.district, township=position.c.township,
                 month=ctx.month(placement.c.start_date))
    age_min, age_max = ctx.param("age_min", **where), ctx.param("age_max_rural", **where)
    age = ctx.age(person.c.birth_date, placement.c.start_date)
    months = age_in_months(person.c.birth_date, placement.c.start_date)
    retire = retirement_age_months(person)
    young = age < age_min
    old = or_(and_(position.c.kind == URBAN, months >= retire),
              and_(position.c.kind != URBAN, age > age_max))
    return (select(*finding_columns(ctx, *tables), person.c.birth_date, person.c.sex, age.label("age"),
                   months.label("age_months"), retire.label("retire_months"), age_min.label("age_min"),
                   age_max.label("age_max"), case((young, "young"), else_="old").label("reason"))
            .select_from(joined(*tables))
            .where(placement.c.start_date <= ctx.as_of, or_(young, old)))


# ---- IP03 ---------------------------------------------------------------------------------------

def _ip03_describe(r, ctx) -> Draft:
    pensions = split_texts(r["pensions"])
    part = "安置期内" if r["since"] <= r["start_date"] else f"自领取养老金后（{r['from_month']:%Y-%m} 起）"
    return draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），同时领取{'、'.join(pensions)}，"
        f"属于已领取基本养老金人员" + paid_text(r, ctx, what=part) + "。"),
        evidence_of(r, ctx, pensions=pensions, pension_since=r["since"], counted_from_month=r["from_month"]))


@rule("IP03", category="ineligible_placement", title="安置已领取基本养老金人员", severity="high",
      basis=f"{BASIS}；地方规定（如甘肃）：已领取城镇职工基本养老金或机关事业单位养老金的人员不得安置公益性岗位",
      requires=("persons", "placements", "pensions"), describe=_ip03_describe, public_posts_only=True)
def ip03(ctx):
    """Draws a 城镇职工基本养老金 or 机关事业单位养老金 from a date on or before the end of the holding
    (城乡居民基本养老保险 does not count). Pay at risk: months of the holding from the first month
    that begins on or after the pension's start."""
    tables = placement, position, person, posts = placement_tables()
    pension, hit_placement, hit_person = Pension.__table__, placement.alias("ipl"), person.alias("iper")
    drawn = pension.c.kind + literal("（") + as_text(pension.c.since) + literal("起）")
    hit = (select(hit_placement.c.id.label("placement_id"), func.min(pension.c.since).label("since"),
                  agg_text(ctx, drawn).label("pensions"))
           .select_from(held_by(hit_placement, hit_person, pension))
           .where(pension.c.kind.in_(PENSION_DISQUALIFYING),
                  pension.c.since <= held_until(ctx, hit_placement), hit_placement.c.start_date <= ctx.as_of)
           .group_by(hit_placement.c.id).subquery("pension_hit"))
    from_month = case((hit.c.since > placement.c.start_date, first_month_from(ctx, hit.c.since)),
                      else_=ctx.month(placement.c.start_date))
    paid = paid_between(ctx, placement.c.person_id, placement.c.position_id, from_month,
                 held_until(ctx, placement))
    return (select(*finding_columns(ctx, *tables, paid), hit.c.since, hit.c.pensions,
                   from_month.label("from_month"))
            .select_from(joined(*tables).join(hit, hit.c.placement_id == placement.c.id)))


# ---- IP04 ---------------------------------------------------------------------------------------

def _ip04_describe(r, ctx) -> Draft:
    businesses = split_texts(r["businesses"])
    whole = r["window_from"] <= r["start_date"] and r["window_to"] >= r["held_until"]
    part = "安置期内" if whole else f"担任经营者期间（{r['from_month']:%Y-%m} 至 {r['to_month']:%Y-%m}）"
    return draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），"
        f"安置期间系企业法定代表人或个体工商户经营者：{'；'.join(businesses)}"
        + paid_text(r, ctx, what=part) + "。"),
        evidence_of(r, ctx, businesses=businesses, owner_from=r["window_from"], owner_to=r["window_to"],
                  counted_months={"from": r["from_month"], "to": r["to_month"]}))


@rule("IP04", category="ineligible_placement", title="安置企业法定代表人或个体工商户经营者",
      severity="medium",
      basis=(f"{BASIS}；地方规定（如甘肃）：已登记为企业法定代表人、个体工商户经营者等已就业创业人员"
             "不得安置公益性岗位"),
      requires=("persons", "placements", "businesses"), describe=_ip04_describe, public_posts_only=True)
def ip04(ctx):
    """Is 法定代表人 or 个体工商户经营者 of a business registered on or before the end of the holding
    and not deregistered before it began (a 股东 alone is not). Pay at risk: months of the holding
    wholly inside the time the person ran a business (from the first month beginning on or after
    the registration, to the last month ending on or before the deregistration)."""
    tables = placement, position, person, posts = placement_tables()
    business, hit_placement, hit_person = Business.__table__, placement.alias("ipl"), person.alias("iper")
    hit_until = held_until(ctx, hit_placement)
    registered, deregistered = business.c.registered_on, business.c.deregistered_on
    label = (business.c.company_name + literal("（") + business.c.role + literal("，") + as_text(registered)
             + literal(" 登记")
             + func.coalesce(literal("，") + as_text(deregistered) + literal(" 注销"), literal("，未注销"))
             + literal("）"))
    hit = (select(hit_placement.c.id.label("placement_id"),
                  func.min(case((registered > hit_placement.c.start_date, registered),
                                else_=hit_placement.c.start_date)).label("window_from"),
                  func.max(case((or_(deregistered.is_(None), deregistered >= hit_until), hit_until),
                                else_=deregistered)).label("window_to"),
                  agg_text(ctx, label).label("businesses"))
           .select_from(held_by(hit_placement, hit_person, business))
           .where(business.c.role.in_(BUSINESS_DISQUALIFYING), registered <= hit_until,
                  hit_placement.c.start_date <= ctx.as_of,
                  or_(deregistered.is_(None), deregistered >= hit_placement.c.start_date))
           .group_by(hit_placement.c.id).subquery("business_hit"))
    until = held_until(ctx, placement)
    from_month = case((hit.c.window_from > placement.c.start_date, first_month_from(ctx, hit.c.window_from)),
                      else_=ctx.month(placement.c.start_date))
    to_month = case((hit.c.window_to < until, last_month_to(ctx, hit.c.window_to)), else_=until)
    paid = paid_between(ctx, placement.c.person_id, placement.c.position_id, from_month, to_month)
    return (select(*finding_columns(ctx, *tables, paid), hit.c.window_from, hit.c.window_to,
                   hit.c.businesses,
                   from_month.label("from_month"), to_month.label("to_month"))
            .select_from(joined(*tables).join(hit, hit.c.placement_id == placement.c.id)))


# ---- IP05 ---------------------------------------------------------------------------------------

def _ip05_describe(r, ctx) -> Draft:
    roles = split_texts(r["roles"])
    return draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），本人在干部名单中（{'；'.join(roles)}），"
        f"干部、公职人员占用公益性岗位" + paid_text(r, ctx) + "。"),
        evidence_of(r, ctx, official_roles=roles))


@rule("IP05", category="ineligible_placement", title="干部或公职人员占用公益性岗位", severity="high",
      basis=f"{BASIS}；地方规定（如甘肃）：村干部及其家庭成员、公职人员不得安置公益性岗位",
      requires=("persons", "placements", "officials"), describe=_ip05_describe, public_posts_only=True)
def ip05(ctx):
    """The person holding the post is on the officials list (joined on the ID number's hash)."""
    tables = placement, position, person, posts = placement_tables()
    official, hit_placement, hit_person = Official.__table__, placement.alias("ipl"), person.alias("iper")
    role = official.c.role + func.coalesce(literal("，") + official.c.unit, literal(""))
    hit = (select(hit_placement.c.id.label("placement_id"), agg_text(ctx, role).label("roles"))
           .select_from(held_by(hit_placement, hit_person, official))
           .where(hit_placement.c.start_date <= ctx.as_of)
           .group_by(hit_placement.c.id).subquery("official_hit"))
    return (select(*finding_columns(ctx, *tables), hit.c.roles)
            .select_from(joined(*tables).join(hit, hit.c.placement_id == placement.c.id)))


# ---- IP06 ---------------------------------------------------------------------------------------

def _ip06_combine(rows, ctx):
    """One finding per later placement: the earlier household members it overlaps are listed
    together (they share the finding's identity: household, post)."""
    groups: dict[int, list] = {}
    for r in rows:
        groups.setdefault(r["later_placement"], []).append(r)
    for group in groups.values():
        r = group[0]
        earlier = sorted(({"name": pair["earlier_name"], "id_masked": pair["earlier_id_masked"],
                           "post": pair["earlier_post"], "start": pair["earlier_start"],
                           "end": pair["earlier_end"], "person_id": pair["earlier_person"]}
                          for pair in group),
                         key=lambda member: (member["start"], member["post"], member["id_masked"]))
        others = "；".join(f"{member['name']}（{member['id_masked']}）在 {member['post']}"
                          f"（{member['start']} 至 {member['end'] or '今'}）" for member in earlier)
        amount = amount_at_risk(r, ctx)
        money = ("（无工资发放数据，金额未计）" if amount is None
                 else f"；重叠期间 {r['post_code']} 已发放工资 {yuan(amount)} 元"
                      f"（{r['paid_months'] or 0} 个月）")
        text = (f"户 {r['household']} 的 {r['name']}（{r['id_masked']}）自 {r['start_date']} 起"
                f"在 {r['post_code']} 上岗（{holding_text(r)}），同户 {others}已在公益性岗位，一户多岗"
                + money + "。")
        ev = evidence_of(r, ctx, household=r["household"],
                       later={"name": r["name"], "id_masked": r["id_masked"], "post": r["post_code"],
                              "start": r["start_date"], "end": r["end_date"], "person_id": r["person_id"]},
                       earlier=earlier)
        ev["paid_during_overlap"], ev["paid_months_during_overlap"] = ev.pop("paid"), ev.pop("paid_months")
        # the months of the later holding that overlap an earlier member's holding
        start, until = as_date(r["start_date"]).replace(day=1), as_date(r["held_until"])
        spans = [(max(start, as_date(pair["earlier_start"]).replace(day=1)),
                  min(until, as_date(pair["earlier_end"])
                      if pair["earlier_end"] and as_date(pair["earlier_end"]) <= ctx.as_of else ctx.as_of))
                 for pair in group]
        yield Draft(text, ev, person_id=r["person_id"], post_id=r["post_id"], periods=[], amount_fen=amount,
                    spans=spans,
                    person_ids=sorted({r["person_id"]} | {pair["earlier_person"] for pair in group}),
                    subject_key=r["household"], subject_label=r["household"])


@rule("IP06", category="ineligible_placement", title="一户多人占用公益性岗位（一户一岗）", severity="medium",
      basis=f"{BASIS}；地方规定（如湖北广水）：公益性岗位原则上一户一岗", subject_type="household",
      requires=("persons", "placements"), needs_columns=(("persons", "household_id"),),
      params=(Param("one_post_per_household", True, "一户一岗：同户两人以上同时在公益性岗位即为违规", unit="",
                    reference="地方做法（如湖北广水）：公益性岗位原则上一户一岗"),),
      describe=lambda r, ctx: next(_ip06_combine([r], ctx)), combine=_ip06_combine, public_posts_only=True)
def ip06(ctx):
    """Two members of one household hold public posts at overlapping times: a row per pair (the
    later-starting placement against an earlier one). Pay at risk: the later member's pay on the
    later post for the months of its holding that overlap the holding of an earlier member."""
    tables = placement, position, person, posts = placement_tables()
    earlier, earlier_post = placement.alias("early"), posts.alias("epost")
    earlier_person, household = person.alias("eper"), Household.__table__
    other, other_person = placement.alias("other"), person.alias("oper")
    until, earlier_until = held_until(ctx, placement), held_until(ctx, earlier)
    other_until = held_until(ctx, other)

    def earlier_than_later(member_placement):
        return or_(member_placement.c.start_date < placement.c.start_date,
                   and_(member_placement.c.start_date == placement.c.start_date,
                        member_placement.c.id < placement.c.id))

    wage_month = ctx.wage_month
    overlaps_someone = exists().where(
        other_person.c.id == other.c.person_id, other_person.c.household_id == person.c.household_id,
        other_person.c.id != person.c.id, earlier_than_later(other), other.c.start_date <= until,
        wage_month.c.period >= ctx.month(other.c.start_date), wage_month.c.period <= other_until,
    ).correlate(placement, person, wage_month)  # two levels down: auto-correlation sees only one
    paid = paid_between(ctx, placement.c.person_id, placement.c.position_id,
                        ctx.month(placement.c.start_date), until, overlaps_someone)
    q = (select(*finding_columns(ctx, *tables, paid), placement.c.id.label("later_placement"),
                person.c.id_masked, household.c.code.label("household"),
                earlier.c.person_id.label("earlier_person"), earlier_person.c.name.label("earlier_name"),
                earlier_person.c.id_masked.label("earlier_id_masked"),
                earlier_post.c.code.label("earlier_post"), earlier.c.start_date.label("earlier_start"),
                earlier.c.end_date.label("earlier_end"))
         .select_from(joined(*tables).join(household, household.c.id == person.c.household_id)
                      .join(earlier_person, and_(earlier_person.c.household_id == person.c.household_id,
                                                 earlier_person.c.id != person.c.id))
                      .join(earlier, earlier.c.person_id == earlier_person.c.id)
                      .join(earlier_post, earlier_post.c.id == earlier.c.position_id))
         .where(placement.c.start_date <= ctx.as_of, earlier_than_later(earlier),
                placement.c.start_date <= earlier_until))
    return q if ctx.param_value("one_post_per_household") else q.where(false())


# ---- IP07 ---------------------------------------------------------------------------------------

def _ip07_describe(r, ctx) -> Draft:
    born = as_date(r["birth_date"])
    retire = add_months(born, int(r["retire_months"]))
    text = (f"{r['post_code']}（{r['kind']}）自 {r['start_date']} 安置，在岗至 {r['held_until']}，"
            f"超过安置期限 {r['term_months']} 个月（应于 {r['term_end']} 前退出）；"
            f"上岗时 {age_text(r['age_months'])}，"
            f"距法定退休年龄（{age_text(r['retire_months'])}，{retire} 退休）不少于 {r['near_years']} 年，"
            f"不适用延长至退休")
    text += paid_text(r, ctx, what="期满后") + "。"
    return draft(r, ctx, text, evidence_of(r, ctx, term_months=r["term_months"], term_end=r["term_end"],
                                          age_at_start=age_text(r["age_months"]),
                                          retirement_age=age_text(r["retire_months"]), retirement_date=retire,
                                          near_retirement_years=r["near_years"],
                                          paid_after_term_from=r["from_month"]))


@rule("IP07", category="ineligible_placement", title="公益性岗位安置超过补贴期限", severity="medium",
      basis=f"{SUBSIDY_RULES}；{SEED_003} 五(三)：清退违规在岗人员", requires=("persons", "placements"),
      params=(Param("term_months_urban", 36, "城镇公益性岗位安置期限（月，0 为不限）", unit="个月",
                    reference=SUBSIDY_RULES, effective_from=SUBSIDY_RULES_DATE),
              Param("term_months_rural", 0, "乡村公益性岗位安置期限（月，0 为不限）", unit="个月",
                    reference=LOCAL),
              Param("near_retirement_years", 5, "上岗时距法定退休年龄不足该年数的，可延长至退休", unit="年",
                    reference=SUBSIDY_RULES, effective_from=SUBSIDY_RULES_DATE)),
      describe=_ip07_describe, public_posts_only=True)
def ip07(ctx):
    """A holding still held on the day ``term_months`` after its start (judged up to its end or the
    as-of date), unless at the start the person was less than ``near_retirement_years`` from the
    statutory retirement age (reform-adjusted). Pay at risk: months beginning on or after the day
    the term ran out. Periods are left empty so that the finding keeps its identity as months pass."""
    tables = placement, position, person, posts = placement_tables()
    where = dict(district=position.c.district, township=position.c.township,
                 month=ctx.month(placement.c.start_date))
    term = case((position.c.kind == URBAN, ctx.param("term_months_urban", **where)),
                else_=ctx.param("term_months_rural", **where))
    near = ctx.param("near_retirement_years", **where)
    until, term_end = held_until(ctx, placement), ctx.add_months(placement.c.start_date, term)
    retire = retirement_age_months(person)
    # less than ``near`` years left: the start lies after the day ``near`` years before retirement
    age_the_day_before = age_in_months(person.c.birth_date, ctx.add_days(placement.c.start_date, -1))
    near_retirement = age_the_day_before >= retire - near * 12
    from_month = first_month_from(ctx, term_end)
    paid = paid_between(ctx, placement.c.person_id, placement.c.position_id, from_month, until)
    return (select(*finding_columns(ctx, *tables, paid), person.c.birth_date, term.label("term_months"),
                   term_end.label("term_end"), near.label("near_years"), from_month.label("from_month"),
                   retire.label("retire_months"),
                   age_in_months(person.c.birth_date, placement.c.start_date).label("age_months"))
            .select_from(joined(*tables))
            .where(placement.c.start_date <= ctx.as_of, term > 0, until >= term_end, ~near_retirement))


# ---- IP08 ---------------------------------------------------------------------------------------

def _ip08_describe(r, ctx) -> Draft:
    return draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{holding_text(r)}），"
        f"本人劳动能力登记为“{r['labour_ability']}”，"
        f"无法履行岗位职责" + paid_text(r, ctx) + "。"),
        evidence_of(r, ctx, labour_ability=r["labour_ability"]))


@rule("IP08", category="ineligible_placement", title="安置丧失劳动能力人员", severity="medium",
      basis=f"{BASIS}（托底安置对象为弱劳力、半劳力，不含丧失劳动力、无劳动力人员）",
      requires=("persons", "placements"), needs_columns=(("persons", "labour_ability"),),
      describe=_ip08_describe, public_posts_only=True)
def ip08(ctx):
    """The person's 劳动能力 is 丧失劳动力 or 无劳动力."""
    tables = placement, position, person, posts = placement_tables()
    return (select(*finding_columns(ctx, *tables), person.c.labour_ability)
            .select_from(joined(*tables))
            .where(placement.c.start_date <= ctx.as_of, person.c.labour_ability.in_(NO_LABOUR)))
