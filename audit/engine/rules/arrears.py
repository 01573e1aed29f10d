"""未按时足额发放: work done, pay not made by the due date."""
from __future__ import annotations

from sqlalchemy import and_, case, exists, func, select

from models import Position, Post

from ..rule import SEED_003, SEED_003_DATE, Draft, Param, rule, ym, yuan

PAY_DUE = Param("pay_due_months", 1, "工资应在所属月份之后第几个月的月末前发放", unit="个月",
                reference=f"{SEED_003} 五(三)：按时足额发放工资报酬（次月月末前发放为审计实务的期限）",
                effective_from=SEED_003_DATE)


def _describe(r, ctx) -> Draft:
    late = r["paid_later_fen"] or 0
    owed = None if r["due_fen"] is None else max(r["due_fen"] - late, 0)
    text = (f"{ym(r['month'])} 在 {r['post_code']} 出勤 {r['present']} 天，应于 {r['due_date']} 前发放工资"
            + (f" {yuan(r['due_fen'])} 元" if r["due_fen"] is not None else "")
            + "，截至该日未发放")
    text += f"；此后至 {ctx.as_of} 补发 {yuan(late)} 元。" if late else f"；截至审计日 {ctx.as_of} 仍未发放。"
    return Draft(text, {"month": ym(r["month"]), "post": r["post_code"], "days_present": r["present"],
                        "due_date": r["due_date"],
                        "wage_due": yuan(r["due_fen"]) if r["due_fen"] is not None else None,
                        "paid_after_due_date": yuan(late), "as_of": ctx.as_of},
                 person_id=r["person_id"], post_id=r["post_id"], periods=[r["month"]], amount_fen=owed)


@rule("WA01", category="wage_arrears", title="有出勤但未按时发放工资", severity="medium",
      basis=f"{SEED_003} 五(三)：按时足额发放工资报酬", requires=("attendance", "wages"),
      params=(PAY_DUE,), describe=_describe)
def wa01(ctx):
    """A month with a present day on a post and no payment for it by its due date (the last day
    of the month ``pay_due_months`` later), judged as of the audit date. The amount owed is the
    wage due (public posts) less what was paid after the due date."""
    attended, wage = ctx.attendance_month, ctx.wages
    position, posts = Position.__table__, Post.__table__
    due_months = ctx.param("pay_due_months", district=position.c.district, township=position.c.township,
                           month=attended.c.month)
    due = ctx.month_end(ctx.add_months(attended.c.month, due_months))
    same = and_(wage.c.person_id == attended.c.person_id, wage.c.post_id == attended.c.post_id,
                wage.c.period == attended.c.month)
    paid_on_time = exists().where(same, wage.c.paid_on <= due)  # an anti-join, not a count per attended month
    paid_later = (select(func.sum(wage.c.amount_fen))
                  .where(same, wage.c.paid_on > due, wage.c.paid_on <= ctx.as_of)
                  .scalar_subquery())
    wage_due = case((position.c.id.is_not(None),
                     ctx.wage_due(position.c.monthly_wage_fen, attended.c.present, position.c.required_days)))
    return (select(attended.c.person_id, attended.c.post_id, attended.c.month, attended.c.present,
                   due.label("due_date"), wage_due.label("due_fen"), paid_later.label("paid_later_fen"),
                   posts.c.code.label("post_code"))
            .join(posts, posts.c.id == attended.c.post_id)
            .outerjoin(position, position.c.id == attended.c.post_id)
            .where(attended.c.present > 0, due < ctx.as_of, ~paid_on_time))
