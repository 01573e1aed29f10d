"""吃空饷 / 虚报冒领: money paid for work that was not done."""
from __future__ import annotations

from sqlalchemy import and_, exists, func, select

from models import Death, Person, Post

from ..rule import SEED_003, Draft, rule, yuan, ym

BASIS = f"{SEED_003} 五(三)：严禁吃空饷、虚报冒领"


def _code(ctx, post_id):
    return select(Post.code).where(Post.id == post_id).scalar_subquery()


def _ps01_describe(r, ctx) -> Draft:
    return Draft(
        f"{ym(r['period'])} 在 {r['post_code']} 没有一天出勤（当月考勤记录 {r['days'] or 0} 天，出勤 0 天），"
        f"却发放工资 {yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）。",
        {"period": ym(r["period"]), "post": r["post_code"], "days_recorded": r["days"] or 0, "days_present": 0,
         "paid": yuan(r["paid_fen"]), "payments": r["payments"], "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"])


@rule("PS01", category="phantom_salary", title="发放工资的月份没有任何出勤", severity="high", basis=BASIS,
      requires=("wages", "attendance"), describe=_ps01_describe)
def ps01(ctx):
    """Paid for a month without a present day on that post. Only posts that keep attendance at all
    are judged (a paid post with no attendance anywhere is a data-quality note, DQ01)."""
    w, a = ctx.wage_month, ctx.attendance_month
    kept = a.alias("kept")
    post_keeps_attendance = exists().where(kept.c.post_id == w.c.post_id)
    return (select(w.c.person_id, w.c.post_id, w.c.period, w.c.paid_fen, w.c.payments, w.c.last_paid_on,
                   a.c.days, _code(ctx, w.c.post_id).label("post_code"))
            .outerjoin(a, and_(a.c.person_id == w.c.person_id, a.c.post_id == w.c.post_id, a.c.month == w.c.period))
            .where(w.c.paid_fen > 0, func.coalesce(a.c.present, 0) == 0, post_keeps_attendance,
                   w.c.period <= ctx.as_of_month))


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
    w, p, d = ctx.wage_month, Person.__table__, Death.__table__
    return (select(w.c.person_id, w.c.post_id, w.c.period, w.c.paid_fen, w.c.last_paid_on, d.c.death_date,
                   _code(ctx, w.c.post_id).label("post_code"))
            .join(p, p.c.id == w.c.person_id).join(d, d.c.id_hash == p.c.id_hash)
            .where(w.c.period > d.c.death_date, w.c.paid_fen > 0))
