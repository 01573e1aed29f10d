"""数据质量 (informational): gaps in the data that stop a rule from judging some rows. A note, never
a violation: it says which rule could not run for what, so the gap can be filled."""
from __future__ import annotations

from sqlalchemy import distinct, func, select

from models import Post, Workshop, WorkshopStaff

from ..rule import SEED_003, Draft, rule, ym, yuan

KINDS = {"position": "公益性岗位", "workshop": "帮扶车间"}


def _dq01_describe(r, ctx) -> Draft:
    kind = KINDS.get(r["kind"], r["kind"])
    return Draft(
        f"{kind} {r['post_code']} 有工资发放 {r['payments']} 笔、{yuan(r['paid_fen'])} 元"
        f"（{r['people']} 人，{r['periods']} 个月：{ym(r['first_period'])} 至 {ym(r['last_period'])}），"
        f"但没有任何考勤记录，无法核查是否有出勤（PS01 未能判断）；请补充该{kind}的考勤台账。",
        {"post": r["post_code"], "post_kind": kind, "payments": r["payments"], "paid": yuan(r["paid_fen"]),
         "people_paid": r["people"], "periods_count": r["periods"], "first_period": ym(r["first_period"]),
         "last_period": ym(r["last_period"]), "attendance_records": 0, "rule_not_judged": "PS01"},
        post_id=r["post_id"], subject_key=r["post_code"], subject_label=r["post_code"])


@rule("DQ01", category="data_quality", title="发放工资的岗位没有任何考勤记录", severity="low",
      basis=f"数据完整性：{SEED_003} 五(三) 吃空饷核查（PS01）须以该岗位的考勤记录为据",
      subject_type="position",
      requires=("wages", "attendance"), describe=_dq01_describe)
def dq01(ctx):
    """A post (public position or workshop) paid for months up to the as-of month with no attendance
    record at all up to the as-of date: the rows PS01 leaves alone. One note per post. Not run when
    the county has no attendance table at all (PS01 is then reported as not run). The anti-join is
    a LEFT JOIN to the posts that keep attendance, IS NULL: PostgreSQL cannot hash ``NOT IN
    (subquery)`` (NULL semantics) and ran it for each wage month, more than 24 minutes at city
    scale; a correlated NOT EXISTS on the post alone has no index to use in the monthly aggregate
    (keyed by person first) and SQLite scanned the aggregate for each wage month, 140 s for a county."""
    paid_month, attended, posts = ctx.wage_month, ctx.attendance_month, Post.__table__
    kept = select(attended.c.post_id).distinct().subquery("kept")
    return (select(paid_month.c.post_id, posts.c.code.label("post_code"), posts.c.kind,
                   func.sum(paid_month.c.payments).label("payments"),
                   func.sum(paid_month.c.paid_fen).label("paid_fen"),
                   func.count(distinct(paid_month.c.person_id)).label("people"),
                   func.count(distinct(paid_month.c.period)).label("periods"),
                   func.min(paid_month.c.period).label("first_period"),
                   func.max(paid_month.c.period).label("last_period"))
            .join(posts, posts.c.id == paid_month.c.post_id)
            .outerjoin(kept, kept.c.post_id == paid_month.c.post_id)
            .where(paid_month.c.paid_fen > 0, paid_month.c.period <= ctx.as_of_month,
                   kept.c.post_id.is_(None))
            .group_by(paid_month.c.post_id, posts.c.code, posts.c.kind))


def _dq02_describe(r, ctx) -> Draft:
    return Draft(
        f"帮扶车间 {r['post_code']} 花名册有 {r['staff']} 人，但未填报上年末吸纳脱贫人口数（基数），"
        f"无法核查吸纳脱贫人口人数是否不低于上年底（TS01 未能判断）。",
        {"workshop": r["post_code"], "staff_on_roster_ever": r["staff"], "baseline_poverty_headcount": None,
         "rule_not_judged": "TS01"},
        post_id=r["post_id"], subject_key=r["post_code"], subject_label=r["post_code"])


@rule("DQ02", category="data_quality", title="帮扶车间缺少上年末吸纳脱贫人口基数", severity="low",
      basis=f"数据完整性：{SEED_003} 五(四) 确保车间吸纳脱贫人口人数不低于上年底（TS01）须有上年末基数",
      subject_type="workshop", requires=("workshop_staff",), describe=_dq02_describe)
def dq02(ctx):
    """A workshop with staff on its roster and no ``baseline_poverty_headcount``: TS01 skips it."""
    ws, s, posts = Workshop.__table__, WorkshopStaff.__table__, Post.__table__
    return (select(ws.c.id.label("post_id"), posts.c.code.label("post_code"),
                   func.count(distinct(s.c.person_id)).label("staff"))
            .join(posts, posts.c.id == ws.c.id).join(s, s.c.workshop_id == ws.c.id)
            .where(ws.c.baseline_poverty_headcount.is_(None))
            .group_by(ws.c.id, posts.c.code))
