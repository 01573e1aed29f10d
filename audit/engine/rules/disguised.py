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
    return Draft(
        f"此人从未在 {r['post_code']} 在岗（{ledger}中没有此人在该{'车间' if r['post_kind'] == 'workshop' else '岗位'}"
        f"的任何记录），{ym(r['period'])} 却在该{'车间' if r['post_kind'] == 'workshop' else '岗位'}领取工资 "
        f"{yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "ledger": ledger, "holdings_on_post": 0,
         "paid": yuan(r["paid_fen"]), "payments": r["payments"], "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("DP01", category="disguised_payment", title="在从未任职的岗位上领取工资", severity="high", basis=BASIS,
      requires=("wages", "placements"), describe=_dp01_describe)
def dp01(ctx):
    """Paid on a post that the person has never held: no placement on that position, no roster row
    in that workshop, at any time. A workshop is judged only if it keeps a roster at all (a workshop
    without a single roster row is a gap in the data, not proof that its staff never worked)."""
    w, posts = ctx.wage_month, Post.__table__
    pl, ws, any_ws = Placement.__table__, WorkshopStaff.__table__, WorkshopStaff.__table__.alias("any_ws")
    held = or_(exists().where(pl.c.person_id == w.c.person_id, pl.c.position_id == w.c.post_id),
               exists().where(ws.c.person_id == w.c.person_id, ws.c.workshop_id == w.c.post_id))
    judged = or_(posts.c.kind == "position", exists().where(any_ws.c.workshop_id == w.c.post_id))
    return (select(w.c.person_id, w.c.post_id, w.c.period, w.c.paid_fen, w.c.payments, w.c.last_paid_on,
                   posts.c.code.label("post_code"), posts.c.kind.label("post_kind"))
            .join(posts, posts.c.id == w.c.post_id)
            .where(w.c.paid_fen > 0, judged, ~held))


def _dp02_describe(r, ctx) -> Draft:
    excess = int(r["excess_fen"])
    if r["rows"] > 1:
        what = f"有 {r['rows']} 笔单笔发放超过岗位月补贴标准 {yuan(r['monthly_wage_fen'])} 元，最大一笔 {yuan(r['largest_fen'])} 元"
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


@rule("DP02", category="disguised_payment", title="单笔发放超过岗位月补贴标准", severity="medium", basis=BASIS,
      requires=("wages",), public_posts_only=True,
      params=(Param("tolerance_fen", 1, "单笔超过月补贴标准的容差（分），超过才认定", unit="分",
                    reference=PRACTICE),),
      describe=_dp02_describe)
def dp02(ctx):
    """Public posts: a single payment row (paid up to the as-of date) above the post's monthly
    standard beyond the tolerance. Rows of one person, post and month are told together (one
    finding; the amount is the sum of each such row's excess over the standard)."""
    w, pos = ctx.wages, Position.__table__
    tol = ctx.param("tolerance_fen", district=pos.c.district, township=pos.c.township, month=w.c.period)
    excess = w.c.amount_fen - pos.c.monthly_wage_fen
    return (select(w.c.person_id, w.c.post_id, w.c.period, pos.c.monthly_wage_fen,
                   func.sum(excess).label("excess_fen"), func.max(w.c.amount_fen).label("largest_fen"),
                   func.min(w.c.paid_on).label("first_paid_on"), func.count().label("rows"),
                   tol.label("tolerance_fen"), _code(ctx, w.c.post_id).label("post_code"))
            .join(pos, pos.c.id == w.c.post_id)
            .where(w.c.paid_on <= ctx.as_of, excess > tol)
            .group_by(w.c.person_id, w.c.post_id, w.c.period, pos.c.monthly_wage_fen, pos.c.district, pos.c.township))
