"""变相发钱: money paid as "wages" with no post behind it, or above the post's standard."""
from __future__ import annotations

from sqlalchemy import exists, func, or_, select

from models import Placement, Position, Post, WorkshopStaff

from ..rule import PRACTICE, SEED_003, Draft, Param, rule, ym, yuan

BASIS = f"{SEED_003} 五(三)：严禁变相发钱"


def _code(ctx, post_id):
    return select(Post.code).where(Post.id == post_id).scalar_subquery()


def _dp01_describe(r, ctx) -> Draft:
    ledger = "车间花名册" if r["post_kind"] == "workshop" else "安置台账"
    where = "车间" if r["post_kind"] == "workshop" else "岗位"
    return Draft(
        f"此人从未在 {r['post_code']} 在岗（{ledger}中没有此人在该{where}"
        f"的任何记录），{ym(r['period'])} 却在该{where}领取工资 "
        f"{yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "ledger": ledger, "holdings_on_post": 0,
         "paid": yuan(r["paid_fen"]), "payments": r["payments"], "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("DP01", category="disguised_payment", title="在从未任职的岗位上领取工资", severity="high",
      basis=BASIS,
      requires=("wages", "placements"), describe=_dp01_describe)
def dp01(ctx):
    """Paid on a post that the person has never held: no placement on that position, no roster row
    in that workshop, at any time. A workshop is judged only if it keeps a roster at all (a workshop
    without a single roster row is a gap in the data, not proof that its staff never worked)."""
    paid_month, posts = ctx.wage_month, Post.__table__
    placement, roster = Placement.__table__, WorkshopStaff.__table__
    any_roster = WorkshopStaff.__table__.alias("any_ws")
    held = or_(exists().where(placement.c.person_id == paid_month.c.person_id,
                              placement.c.position_id == paid_month.c.post_id),
               exists().where(roster.c.person_id == paid_month.c.person_id,
                              roster.c.workshop_id == paid_month.c.post_id))
    judged = or_(posts.c.kind == "position", exists().where(any_roster.c.workshop_id == paid_month.c.post_id))
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.payments, paid_month.c.last_paid_on,
                   posts.c.code.label("post_code"), posts.c.kind.label("post_kind"))
            .join(posts, posts.c.id == paid_month.c.post_id)
            .where(paid_month.c.paid_fen > 0, judged, ~held))


def _dp02_describe(r, ctx) -> Draft:
    excess = int(r["excess_fen"])
    if r["rows"] > 1:
        what = (f"有 {r['rows']} 笔单笔发放超过岗位月补贴标准 {yuan(r['monthly_wage_fen'])} 元，"
                f"最大一笔 {yuan(r['largest_fen'])} 元")
    else:
        what = (f"单笔发放 {yuan(r['largest_fen'])} 元（{r['first_paid_on']}），"
                f"超过岗位月补贴标准 {yuan(r['monthly_wage_fen'])} 元")
    return Draft(
        f"{ym(r['period'])} 在 {r['post_code']} {what}，超出标准 {yuan(excess)} 元。",
        {"period": ym(r["period"]), "post": r["post_code"], "monthly_wage": yuan(r["monthly_wage_fen"]),
         "largest_payment": yuan(r["largest_fen"]), "first_paid_on": r["first_paid_on"],
         "payments_above_standard": r["rows"],
         "excess": yuan(excess), "tolerance": yuan(r["tolerance_fen"])},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=excess)


@rule("DP02", category="disguised_payment", title="单笔发放超过岗位月补贴标准", severity="medium",
      basis=BASIS,
      requires=("wages",), public_posts_only=True,
      params=(Param("tolerance_fen", 1, "单笔超过月补贴标准的容差（分），超过才认定", unit="分",
                    reference=PRACTICE),),
      describe=_dp02_describe)
def dp02(ctx):
    """Public posts: a single payment row (paid up to the as-of date) above the post's monthly
    standard beyond the tolerance. Rows of one person, post and month are told together (one
    finding; the amount is the sum of each such row's excess over the standard)."""
    wage, position = ctx.wages, Position.__table__
    tolerance = ctx.param("tolerance_fen", district=position.c.district, township=position.c.township,
                          month=wage.c.period)
    excess = wage.c.amount_fen - position.c.monthly_wage_fen
    return (select(wage.c.person_id, wage.c.post_id, wage.c.period, position.c.monthly_wage_fen,
                   func.sum(excess).label("excess_fen"), func.max(wage.c.amount_fen).label("largest_fen"),
                   func.min(wage.c.paid_on).label("first_paid_on"), func.count().label("rows"),
                   tolerance.label("tolerance_fen"), _code(ctx, wage.c.post_id).label("post_code"))
            .join(position, position.c.id == wage.c.post_id)
            .where(wage.c.paid_on <= ctx.as_of, excess > tolerance)
            .group_by(wage.c.person_id, wage.c.post_id, wage.c.period, position.c.monthly_wage_fen,
                      position.c.district, position.c.township))
