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
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    literal,
    or_,
    select,
)

from audit.vocab import CATEGORIES, CATEGORY_ALIASES, CATEGORY_BIT, categories_of
from models import Business, Household, Official, Pension, Person, Placement, Position, Post

from ..rule import SEED_000, SEED_000_DATE, SEED_003, SEED_003_DATE, Draft, Param, rule, yuan

URBAN = "城镇公益性岗位"  # any other kind (乡村公益性岗位) is judged as rural

BASIS = f"{SEED_003} 五(三)：托底安置符合就业困难人员条件的弱劳力、半劳力和无法外出、无业可就的脱贫人口，及时纠正查处安置不符合条件人员"
RETIREMENT_LAW = "《全国人民代表大会常务委员会关于实施渐进式延迟法定退休年龄的决定》（2024年，自2025年1月1日起施行）"
SUBSIDY_RULES = "《就业补助资金管理办法》（财社〔2017〕164号）：公益性岗位补贴期限最长不超过3年，对距法定退休年龄不足5年的就业困难人员可延长至退休"
SUBSIDY_RULES_DATE = dt.date(2017, 10, 13)  # 财社〔2017〕164号 issued
LOCAL = "地方做法（各地公益性岗位管理办法，不同地区不同）"

# 法定退休年龄 (national law, not a local threshold): the original age in months, and the 2025 gradual
# reform — people born from ``from_year``-01 retire 1 month later for every ``step`` months of birth
# after December of the year before, up to ``cap`` months. Men: 60 → 63; women (50 group): 50 → 55.
STATUTORY_RETIREMENT = {"M": {"base_months": 60 * 12, "from_year": 1965, "step": 4, "cap": 36},
                        "F": {"base_months": 50 * 12, "from_year": 1975, "step": 2, "cap": 60}}

PENSION_DISQUALIFYING = ("城镇职工基本养老金", "机关事业单位养老金")
BUSINESS_DISQUALIFYING = ("法定代表人", "个体工商户经营者")
NO_LABOUR = ("丧失劳动力", "无劳动力")


# ---- shared pieces ------------------------------------------------------------------------------

def _tables():
    return Placement.__table__, Position.__table__, Person.__table__, Post.__table__


def _until(ctx, pl):
    """The last day of the holding judged: its end date, or the as-of date when it is still open
    (or ends after the as-of date)."""
    return case((or_(pl.c.end_date.is_(None), pl.c.end_date > ctx.as_of), literal(ctx.as_of, Date)),
                else_=pl.c.end_date)


def _first_month_from(ctx, day):
    """The first month that begins on or after ``day`` (a month partly before it is not counted)."""
    return ctx.add_months(ctx.month(ctx.add_days(day, -1)), 1)


def _last_month_to(ctx, day):
    """The last month that ends on or before ``day``."""
    return ctx.add_months(ctx.month(ctx.add_days(day, 1)), -1)


def _paid(ctx, person_id, post_id, from_month, to_month, *extra):
    """Pay made (by the as-of date) on a post for the months ``from_month`` … ``to_month``
    (a month counts when its first day is in that range): the sum in fen and the number of months."""
    w = ctx.wage_month
    cond = and_(w.c.person_id == person_id, w.c.post_id == post_id, w.c.period >= from_month,
                w.c.period <= to_month, *extra)
    return (select(func.sum(w.c.paid_fen)).where(cond).scalar_subquery(),
            select(func.count()).where(cond, w.c.paid_fen > 0).scalar_subquery())


def _columns(ctx, pl, pos, per, posts, paid=None):
    """The columns every placement finding shows: who, which post, the holding and the pay in it."""
    until = _until(ctx, pl)
    fen, months = paid or _paid(ctx, pl.c.person_id, pl.c.position_id, ctx.month(pl.c.start_date), until)
    return [pl.c.person_id, pl.c.position_id.label("post_id"), pl.c.start_date, pl.c.end_date,
            until.label("held_until"), posts.c.code.label("post_code"), pos.c.kind, per.c.name,
            fen.label("paid_fen"), months.label("paid_months")]


def _placements(pl, pos, per, posts):
    return (pl.join(pos, pos.c.id == pl.c.position_id).join(posts, posts.c.id == pl.c.position_id)
            .join(per, per.c.id == pl.c.person_id))


def _agg_text(ctx, expr):
    """The distinct texts of a group, joined with '；' (GROUP_CONCAT / STRING_AGG)."""
    if ctx.sqlite:
        return func.group_concat(expr, "；")
    return func.string_agg(expr, literal("；"))


def _text(value):
    return cast(value, String)


def _holding(r) -> str:
    return f"{r['start_date']} 至 {r['end_date'] or '今'}"


def _amount(r, ctx, key="paid_fen"):
    """The pay at risk; None when the county has no wages table at all (unknown, not zero)."""
    if not ctx.has("wages"):
        return None
    return int(r[key] or 0)


def _paid_text(r, ctx, key="paid_fen", months_key="paid_months", what="安置期内") -> str:
    amount = _amount(r, ctx, key)
    if amount is None:
        return "（无工资发放数据，金额未计）"
    return f"；{what}在该岗位已发放工资 {yuan(amount)} 元（{r[months_key] or 0} 个月）"


def _evidence(r, ctx, **more) -> dict:
    ev = {"post": r["post_code"], "post_kind": r["kind"],
          "holding": {"start": r["start_date"], "end": r["end_date"], "judged_until": r["held_until"]},
          "paid": None if _amount(r, ctx) is None else yuan(_amount(r, ctx)),
          "paid_months": r["paid_months"] or 0}
    ev.update(more)
    return ev


def _span(r) -> tuple[dt.date, dt.date]:
    """The months whose pay the finding's amount is: from the first month counted (``from_month``,
    else the holding's first month) to ``to_month`` (else the last day judged)."""
    first = _as_date(r["from_month"]) if "from_month" in r else _as_date(r["start_date"]).replace(day=1)
    return first, _as_date(r["to_month"] if "to_month" in r else r["held_until"])


def _draft(r, ctx, text, evidence, *, key="paid_fen") -> Draft:
    return Draft(text, evidence, person_id=r["person_id"], post_id=r["post_id"], periods=[],
                 amount_fen=_amount(r, ctx, key), spans=[_span(r)])


def _split(text: str | None) -> list[str]:
    return sorted({t for t in (text or "").split("；") if t})


# ---- dates of birth, ages, retirement ------------------------------------------------------------

def _ymd(col):
    return (cast(extract("year", col), Integer), cast(extract("month", col), Integer),
            cast(extract("day", col), Integer))


def _age_months(birth, at):
    """Whole months of age at a date (the same day-of-month rule as ``ctx.age``)."""
    yb, mb, db = _ymd(birth)
    ya, ma, da = _ymd(at)
    return (ya - yb) * 12 + (ma - mb) - case((da < db, 1), else_=0)


def _retirement_months(per):
    """The statutory retirement age of a person, in months, after the 2025 gradual reform."""
    y, m, _ = _ymd(per.c.birth_date)

    def reformed(s):
        k = (y - s["from_year"]) * 12 + m  # 1 = January of the first year concerned
        delay = (k + (s["step"] - 1)) // s["step"]
        return s["base_months"] + case((k <= 0, 0), (delay > s["cap"], s["cap"]), else_=delay)

    return case((per.c.sex == "F", reformed(STATUTORY_RETIREMENT["F"])),
                else_=reformed(STATUTORY_RETIREMENT["M"]))


def _add_months(day: dt.date, months: int) -> dt.date:
    """``day`` + ``months``; a day that month lacks moves to the 1st of the next (as ``_age_months``)."""
    y, m = divmod(day.month - 1 + months, 12)
    y, m = day.year + y, m + 1
    try:
        return dt.date(y, m, day.day)
    except ValueError:
        return dt.date(y + (m == 12), m % 12 + 1, 1)


def _age_text(months: int) -> str:
    y, m = divmod(int(months), 12)
    return f"{y}岁{m}个月" if m else f"{y}岁"


def _as_date(d) -> dt.date:
    return d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])


# ---- IP01 ---------------------------------------------------------------------------------------

def _mask(words) -> int:
    """A list of 人员类别 (or a ';'-separated string) as a bit mask over ``audit.vocab.CATEGORIES``."""
    if isinstance(words, str):
        words = [w for w in words.replace("；", ";").replace("、", ";").replace(",", ";").split(";")]
    mask = 0
    for w in words:
        w = CATEGORY_ALIASES.get(w.strip(), w.strip())
        if w:
            if w not in CATEGORY_BIT:
                raise ValueError(f"unknown 人员类别 in a qualifying list: {w!r}")
            mask |= CATEGORY_BIT[w]
    return mask


def _ip01_describe(r, ctx) -> Draft:
    have = categories_of(int(r["category_mask"] or 0))
    qualifying = categories_of(int(r["qualifying_mask"]))
    shown = "全部类别" if len(qualifying) == len(CATEGORIES) else "、".join(qualifying)
    who = f"人员类别为 {'、'.join(have)}" if have else "台账未登记任何人员类别"
    return _draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），{who}，不属于该类岗位可安置的人员类别"
        f"（{shown}）" + _paid_text(r, ctx) + "。"),
        _evidence(r, ctx, categories=have, qualifying_categories=qualifying))


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
    pl, pos, per, posts = _tables()
    where = dict(district=pos.c.district, township=pos.c.township, month=ctx.month(pl.c.start_date),
                 transform=_mask)
    mask = case((pos.c.kind == URBAN, ctx.param("qualifying_urban", **where)),
                else_=ctx.param("qualifying_rural", **where))
    have = func.coalesce(per.c.category_mask, 0)
    return (select(*_columns(ctx, pl, pos, per, posts), have.label("category_mask"),
                   mask.label("qualifying_mask"))
            .select_from(_placements(pl, pos, per, posts))
            .where(pl.c.start_date <= ctx.as_of, have.op("&")(mask) == 0))


# ---- IP02 ---------------------------------------------------------------------------------------

def _ip02_describe(r, ctx) -> Draft:
    born = _as_date(r["birth_date"])
    ev = {"birth_month": f"{born.year:04d}-{born.month:02d}", "sex": r["sex"], "age_at_start": r["age"],
          "age_min": r["age_min"]}
    if r["reason"] == "young":
        text = f"上岗时年龄 {r['age']} 岁，低于最低年龄 {r['age_min']} 岁"
    elif r["kind"] == URBAN:
        retire = _add_months(born, int(r["retire_months"]))
        ev.update(retirement_age=_age_text(r["retire_months"]), retirement_date=retire,
                  age_at_start_months=_age_text(r["age_months"]))
        text = (f"上岗时年龄 {_age_text(r['age_months'])}，已达法定退休年龄 {_age_text(r['retire_months'])}"
                f"（{'男' if r['sex'] == 'M' else '女'}，{born.year}年{born.month}月出生，{retire} 退休）")
    else:
        ev["age_max"] = r["age_max"]
        text = f"上岗时年龄 {r['age']} 岁，超过乡村公益性岗位最高年龄 {r['age_max']} 岁"
    return _draft(r, ctx, f"{r['start_date']} 安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），{text}"
                  + _paid_text(r, ctx) + "。", _evidence(r, ctx, **ev))


@rule("IP02", category="ineligible_placement", title="安置人员年龄不符合条件", severity="high",
      basis=f"{BASIS}；{RETIREMENT_LAW}（城镇公益性岗位：法定退休年龄）", requires=("persons", "placements"),
      params=(Param("age_min", 16, "上岗时的最低年龄（周岁）", unit="岁",
                    reference="《中华人民共和国劳动法》第十五条：禁止用人单位招用未满十六周岁的未成年人",
                    effective_from=dt.date(1995, 1, 1)),
              Param("age_max_rural", 65, "乡村公益性岗位上岗时的最高年龄（周岁，含）", unit="岁", reference=LOCAL)),
      describe=_ip02_describe, public_posts_only=True)
def ip02(ctx):
    """Age at the start below ``age_min``; or, on a rural post, above ``age_max_rural`` (65 allowed,
    66 not); or, on an urban post, a start on or after the day the person reached the statutory
    retirement age (men 60, women 50, as raised by the 2025 gradual reform)."""
    pl, pos, per, posts = _tables()
    where = dict(district=pos.c.district, township=pos.c.township, month=ctx.month(pl.c.start_date))
    age_min, age_max = ctx.param("age_min", **where), ctx.param("age_max_rural", **where)
    age = ctx.age(per.c.birth_date, pl.c.start_date)
    months, retire = _age_months(per.c.birth_date, pl.c.start_date), _retirement_months(per)
    young = age < age_min
    old = or_(and_(pos.c.kind == URBAN, months >= retire), and_(pos.c.kind != URBAN, age > age_max))
    return (select(*_columns(ctx, pl, pos, per, posts), per.c.birth_date, per.c.sex, age.label("age"),
                   months.label("age_months"), retire.label("retire_months"), age_min.label("age_min"),
                   age_max.label("age_max"), case((young, "young"), else_="old").label("reason"))
            .select_from(_placements(pl, pos, per, posts))
            .where(pl.c.start_date <= ctx.as_of, or_(young, old)))


# ---- IP03 ---------------------------------------------------------------------------------------

def _ip03_describe(r, ctx) -> Draft:
    pensions = _split(r["pensions"])
    part = "安置期内" if r["since"] <= r["start_date"] else f"自领取养老金后（{r['from_month']:%Y-%m} 起）"
    return _draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），同时领取{'、'.join(pensions)}，"
        f"属于已领取基本养老金人员" + _paid_text(r, ctx, what=part) + "。"),
        _evidence(r, ctx, pensions=pensions, pension_since=r["since"], counted_from_month=r["from_month"]))


@rule("IP03", category="ineligible_placement", title="安置已领取基本养老金人员", severity="high",
      basis=f"{BASIS}；地方规定（如甘肃）：已领取城镇职工基本养老金或机关事业单位养老金的人员不得安置公益性岗位",
      requires=("persons", "placements", "pensions"), describe=_ip03_describe, public_posts_only=True)
def ip03(ctx):
    """Draws a 城镇职工基本养老金 or 机关事业单位养老金 from a date on or before the end of the holding
    (城乡居民基本养老保险 does not count). Pay at risk: months of the holding from the first month
    that begins on or after the pension's start."""
    pl, pos, per, posts = _tables()
    pn, ipl, iper = Pension.__table__, pl.alias("ipl"), per.alias("iper")
    hit = (select(ipl.c.id.label("placement_id"), func.min(pn.c.since).label("since"),
                  _agg_text(ctx, pn.c.kind + literal("（") + _text(pn.c.since) + literal("起）")).label("pensions"))
           .select_from(ipl.join(iper, iper.c.id == ipl.c.person_id).join(pn, pn.c.id_hash == iper.c.id_hash))
           .where(pn.c.kind.in_(PENSION_DISQUALIFYING), pn.c.since <= _until(ctx, ipl),
                  ipl.c.start_date <= ctx.as_of)
           .group_by(ipl.c.id).subquery("pension_hit"))
    from_month = case((hit.c.since > pl.c.start_date, _first_month_from(ctx, hit.c.since)),
                      else_=ctx.month(pl.c.start_date))
    paid = _paid(ctx, pl.c.person_id, pl.c.position_id, from_month, _until(ctx, pl))
    return (select(*_columns(ctx, pl, pos, per, posts, paid), hit.c.since, hit.c.pensions,
                   from_month.label("from_month"))
            .select_from(_placements(pl, pos, per, posts).join(hit, hit.c.placement_id == pl.c.id)))


# ---- IP04 ---------------------------------------------------------------------------------------

def _ip04_describe(r, ctx) -> Draft:
    businesses = _split(r["businesses"])
    whole = r["window_from"] <= r["start_date"] and r["window_to"] >= r["held_until"]
    part = "安置期内" if whole else f"担任经营者期间（{r['from_month']:%Y-%m} 至 {r['to_month']:%Y-%m}）"
    return _draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），安置期间系企业法定代表人或个体工商户经营者："
        f"{'；'.join(businesses)}" + _paid_text(r, ctx, what=part) + "。"),
        _evidence(r, ctx, businesses=businesses, owner_from=r["window_from"], owner_to=r["window_to"],
                  counted_months={"from": r["from_month"], "to": r["to_month"]}))


@rule("IP04", category="ineligible_placement", title="安置企业法定代表人或个体工商户经营者", severity="medium",
      basis=f"{BASIS}；地方规定（如甘肃）：已登记为企业法定代表人、个体工商户经营者等已就业创业人员不得安置公益性岗位",
      requires=("persons", "placements", "businesses"), describe=_ip04_describe, public_posts_only=True)
def ip04(ctx):
    """Is 法定代表人 or 个体工商户经营者 of a business registered on or before the end of the holding
    and not deregistered before it began (a 股东 alone is not). Pay at risk: months of the holding
    wholly inside the time the person ran a business (from the first month beginning on or after
    the registration, to the last month ending on or before the deregistration)."""
    pl, pos, per, posts = _tables()
    b, ipl, iper = Business.__table__, pl.alias("ipl"), per.alias("iper")
    iuntil = _until(ctx, ipl)
    label = (b.c.company_name + literal("（") + b.c.role + literal("，") + _text(b.c.registered_on) + literal(" 登记")
             + func.coalesce(literal("，") + _text(b.c.deregistered_on) + literal(" 注销"), literal("，未注销"))
             + literal("）"))
    hit = (select(ipl.c.id.label("placement_id"),
                  func.min(case((b.c.registered_on > ipl.c.start_date, b.c.registered_on),
                                else_=ipl.c.start_date)).label("window_from"),
                  func.max(case((or_(b.c.deregistered_on.is_(None), b.c.deregistered_on >= iuntil), iuntil),
                                else_=b.c.deregistered_on)).label("window_to"),
                  _agg_text(ctx, label).label("businesses"))
           .select_from(ipl.join(iper, iper.c.id == ipl.c.person_id).join(b, b.c.id_hash == iper.c.id_hash))
           .where(b.c.role.in_(BUSINESS_DISQUALIFYING), b.c.registered_on <= iuntil,
                  ipl.c.start_date <= ctx.as_of,
                  or_(b.c.deregistered_on.is_(None), b.c.deregistered_on >= ipl.c.start_date))
           .group_by(ipl.c.id).subquery("business_hit"))
    until = _until(ctx, pl)
    from_month = case((hit.c.window_from > pl.c.start_date, _first_month_from(ctx, hit.c.window_from)),
                      else_=ctx.month(pl.c.start_date))
    to_month = case((hit.c.window_to < until, _last_month_to(ctx, hit.c.window_to)), else_=until)
    paid = _paid(ctx, pl.c.person_id, pl.c.position_id, from_month, to_month)
    return (select(*_columns(ctx, pl, pos, per, posts, paid), hit.c.window_from, hit.c.window_to,
                   hit.c.businesses,
                   from_month.label("from_month"), to_month.label("to_month"))
            .select_from(_placements(pl, pos, per, posts).join(hit, hit.c.placement_id == pl.c.id)))


# ---- IP05 ---------------------------------------------------------------------------------------

def _ip05_describe(r, ctx) -> Draft:
    roles = _split(r["roles"])
    return _draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），本人在干部名单中（{'；'.join(roles)}），"
        f"干部、公职人员占用公益性岗位" + _paid_text(r, ctx) + "。"),
        _evidence(r, ctx, official_roles=roles))


@rule("IP05", category="ineligible_placement", title="干部或公职人员占用公益性岗位", severity="high",
      basis=f"{BASIS}；地方规定（如甘肃）：村干部及其家庭成员、公职人员不得安置公益性岗位",
      requires=("persons", "placements", "officials"), describe=_ip05_describe, public_posts_only=True)
def ip05(ctx):
    """The person holding the post is on the officials list (joined on the ID number's hash)."""
    pl, pos, per, posts = _tables()
    o, ipl, iper = Official.__table__, pl.alias("ipl"), per.alias("iper")
    role = o.c.role + func.coalesce(literal("，") + o.c.unit, literal(""))
    hit = (select(ipl.c.id.label("placement_id"), _agg_text(ctx, role).label("roles"))
           .select_from(ipl.join(iper, iper.c.id == ipl.c.person_id).join(o, o.c.id_hash == iper.c.id_hash))
           .where(ipl.c.start_date <= ctx.as_of).group_by(ipl.c.id).subquery("official_hit"))
    return (select(*_columns(ctx, pl, pos, per, posts), hit.c.roles)
            .select_from(_placements(pl, pos, per, posts).join(hit, hit.c.placement_id == pl.c.id)))


# ---- IP06 ---------------------------------------------------------------------------------------

def _ip06_combine(rows, ctx):
    """One finding per later placement: the earlier household members it overlaps are listed
    together (they share the finding's identity: household, post)."""
    groups: dict[int, list] = {}
    for r in rows:
        groups.setdefault(r["later_placement"], []).append(r)
    for group in groups.values():
        r = group[0]
        earlier = sorted(({"name": g["earlier_name"], "id_masked": g["earlier_id_masked"], "post": g["earlier_post"],
                           "start": g["earlier_start"], "end": g["earlier_end"], "person_id": g["earlier_person"]}
                          for g in group),
                         key=lambda e: (e["start"], e["post"], e["id_masked"]))
        others = "；".join(f"{e['name']}（{e['id_masked']}）在 {e['post']}（{e['start']} 至 {e['end'] or '今'}）"
                          for e in earlier)
        amount = _amount(r, ctx)
        money = ("（无工资发放数据，金额未计）" if amount is None
                 else f"；重叠期间 {r['post_code']} 已发放工资 {yuan(amount)} 元（{r['paid_months'] or 0} 个月）")
        text = (f"户 {r['household']} 的 {r['name']}（{r['id_masked']}）自 {r['start_date']} 起在 {r['post_code']} 上岗"
                f"（{_holding(r)}），同户 {others}已在公益性岗位，一户多岗" + money + "。")
        ev = _evidence(r, ctx, household=r["household"],
                       later={"name": r["name"], "id_masked": r["id_masked"], "post": r["post_code"],
                              "start": r["start_date"], "end": r["end_date"], "person_id": r["person_id"]},
                       earlier=earlier)
        ev["paid_during_overlap"], ev["paid_months_during_overlap"] = ev.pop("paid"), ev.pop("paid_months")
        # the months of the later holding that overlap an earlier member's holding
        start, until = _as_date(r["start_date"]).replace(day=1), _as_date(r["held_until"])
        spans = [(max(start, _as_date(g["earlier_start"]).replace(day=1)),
                  min(until, _as_date(g["earlier_end"]) if g["earlier_end"] and _as_date(g["earlier_end"]) <= ctx.as_of
                      else ctx.as_of)) for g in group]
        yield Draft(text, ev, person_id=r["person_id"], post_id=r["post_id"], periods=[], amount_fen=amount,
                    spans=spans, person_ids=sorted({r["person_id"]} | {g["earlier_person"] for g in group}),
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
    pl, pos, per, posts = _tables()
    early, epost, eper, h = pl.alias("early"), posts.alias("epost"), per.alias("eper"), Household.__table__
    other, oper = pl.alias("other"), per.alias("oper")
    until, e_until, o_until = _until(ctx, pl), _until(ctx, early), _until(ctx, other)

    def earlier_than_later(p):
        return or_(p.c.start_date < pl.c.start_date,
                   and_(p.c.start_date == pl.c.start_date, p.c.id < pl.c.id))

    w = ctx.wage_month
    overlaps_someone = exists().where(
        oper.c.id == other.c.person_id, oper.c.household_id == per.c.household_id, oper.c.id != per.c.id,
        earlier_than_later(other), other.c.start_date <= until, w.c.period >= ctx.month(other.c.start_date),
        w.c.period <= o_until).correlate(pl, per, w)  # two levels down: auto-correlation sees only one
    paid = _paid(ctx, pl.c.person_id, pl.c.position_id, ctx.month(pl.c.start_date), until, overlaps_someone)
    q = (select(*_columns(ctx, pl, pos, per, posts, paid), pl.c.id.label("later_placement"),
                per.c.id_masked, h.c.code.label("household"), early.c.person_id.label("earlier_person"),
                eper.c.name.label("earlier_name"), eper.c.id_masked.label("earlier_id_masked"),
                epost.c.code.label("earlier_post"), early.c.start_date.label("earlier_start"),
                early.c.end_date.label("earlier_end"))
         .select_from(_placements(pl, pos, per, posts).join(h, h.c.id == per.c.household_id)
                      .join(eper, and_(eper.c.household_id == per.c.household_id, eper.c.id != per.c.id))
                      .join(early, early.c.person_id == eper.c.id)
                      .join(epost, epost.c.id == early.c.position_id))
         .where(pl.c.start_date <= ctx.as_of, earlier_than_later(early), pl.c.start_date <= e_until))
    return q if ctx.param_value("one_post_per_household") else q.where(false())


# ---- IP07 ---------------------------------------------------------------------------------------

def _ip07_describe(r, ctx) -> Draft:
    born = _as_date(r["birth_date"])
    retire = _add_months(born, int(r["retire_months"]))
    text = (f"{r['post_code']}（{r['kind']}）自 {r['start_date']} 安置，在岗至 {r['held_until']}，超过安置期限 "
            f"{r['term_months']} 个月（应于 {r['term_end']} 前退出）；上岗时 {_age_text(r['age_months'])}，"
            f"距法定退休年龄（{_age_text(r['retire_months'])}，{retire} 退休）不少于 {r['near_years']} 年，"
            f"不适用延长至退休")
    text += _paid_text(r, ctx, what="期满后") + "。"
    return _draft(r, ctx, text, _evidence(r, ctx, term_months=r["term_months"], term_end=r["term_end"],
                                          age_at_start=_age_text(r["age_months"]),
                                          retirement_age=_age_text(r["retire_months"]), retirement_date=retire,
                                          near_retirement_years=r["near_years"], paid_after_term_from=r["from_month"]))


@rule("IP07", category="ineligible_placement", title="公益性岗位安置超过补贴期限", severity="medium",
      basis=f"{SUBSIDY_RULES}；{SEED_003} 五(三)：清退违规在岗人员", requires=("persons", "placements"),
      params=(Param("term_months_urban", 36, "城镇公益性岗位安置期限（月，0 为不限）", unit="个月",
                    reference=SUBSIDY_RULES, effective_from=SUBSIDY_RULES_DATE),
              Param("term_months_rural", 0, "乡村公益性岗位安置期限（月，0 为不限）", unit="个月", reference=LOCAL),
              Param("near_retirement_years", 5, "上岗时距法定退休年龄不足该年数的，可延长至退休", unit="年",
                    reference=SUBSIDY_RULES, effective_from=SUBSIDY_RULES_DATE)),
      describe=_ip07_describe, public_posts_only=True)
def ip07(ctx):
    """A holding still held on the day ``term_months`` after its start (judged up to its end or the
    as-of date), unless at the start the person was less than ``near_retirement_years`` from the
    statutory retirement age (reform-adjusted). Pay at risk: months beginning on or after the day
    the term ran out. Periods are left empty so that the finding keeps its identity as months pass."""
    pl, pos, per, posts = _tables()
    where = dict(district=pos.c.district, township=pos.c.township, month=ctx.month(pl.c.start_date))
    term = case((pos.c.kind == URBAN, ctx.param("term_months_urban", **where)),
                else_=ctx.param("term_months_rural", **where))
    near = ctx.param("near_retirement_years", **where)
    until, term_end = _until(ctx, pl), ctx.add_months(pl.c.start_date, term)
    retire = _retirement_months(per)
    # less than ``near`` years left: the start lies after the day ``near`` years before retirement
    near_retirement = _age_months(per.c.birth_date, ctx.add_days(pl.c.start_date, -1)) >= retire - near * 12
    from_month = _first_month_from(ctx, term_end)
    paid = _paid(ctx, pl.c.person_id, pl.c.position_id, from_month, until)
    return (select(*_columns(ctx, pl, pos, per, posts, paid), per.c.birth_date, term.label("term_months"),
                   term_end.label("term_end"), near.label("near_years"), from_month.label("from_month"),
                   retire.label("retire_months"),
                   _age_months(per.c.birth_date, pl.c.start_date).label("age_months"))
            .select_from(_placements(pl, pos, per, posts))
            .where(pl.c.start_date <= ctx.as_of, term > 0, until >= term_end, ~near_retirement))


# ---- IP08 ---------------------------------------------------------------------------------------

def _ip08_describe(r, ctx) -> Draft:
    return _draft(r, ctx, (
        f"安置在 {r['post_code']}（{r['kind']}，{_holding(r)}），本人劳动能力登记为“{r['labour_ability']}”，"
        f"无法履行岗位职责" + _paid_text(r, ctx) + "。"),
        _evidence(r, ctx, labour_ability=r["labour_ability"]))


@rule("IP08", category="ineligible_placement", title="安置丧失劳动能力人员", severity="medium",
      basis=f"{BASIS}（托底安置对象为弱劳力、半劳力，不含丧失劳动力、无劳动力人员）",
      requires=("persons", "placements"), needs_columns=(("persons", "labour_ability"),),
      describe=_ip08_describe, public_posts_only=True)
def ip08(ctx):
    """The person's 劳动能力 is 丧失劳动力 or 无劳动力."""
    pl, pos, per, posts = _tables()
    return (select(*_columns(ctx, pl, pos, per, posts), per.c.labour_ability)
            .select_from(_placements(pl, pos, per, posts))
            .where(pl.c.start_date <= ctx.as_of, per.c.labour_ability.in_(NO_LABOUR)))
