"""流程管控 (informational): closing the loop of the payroll pre-check (shared/docs/precheck.md,
"Closing the loop"; rules.md "Pre-payment control"). A payment made against an approved pre-check
judges the process, not the person: the category is ``process_control``, never a violation, and
its findings claim no payment (``spans=[]``), so that no total counts the money again — it is at
risk under the rule that rejected the row, when that rule finds it in the ledger. The finding's
own amount still says how much was paid against the approval.

Only approved pre-checks count (``status = 'approved'``, approved by the end of the as-of date):
a draft is nobody's decision. Of several approved pre-checks of one person, post and month (a
payroll corrected and checked again) the latest decides. Both rules are one query each over the
audit's monthly wage aggregate; they need the ``prechecks`` table, and a county that has no
pre-check has them reported 不适用 (audit/engine/runner.py ``NOT_APPLICABLE``), not 未运行.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, case, cast, exists, func, select

from models import UNIT_SEP, Position, Post, Precheck, PrecheckRow

from ..rule import SEED_003, Draft, rule, ym, yuan

BASIS = (f"{SEED_003} 五(三)：做好公益性岗位开发、招聘、安置全过程监管……督促指导用人单位做好日常考勤管理，"
         f"及时纠正查处吃空饷……等违规行为；据此，工资按考勤和审核结果发放，发放前校验审批即该审核")
VERDICT_ZH = {"pass": "可发放", "hold": "暂缓发放", "reject": "不予发放"}


def _approved(ctx):
    """Pre-checks approved by the end of the as-of date."""
    precheck = Precheck.__table__
    return and_(precheck.c.status == "approved", precheck.c.approved_at < dt.datetime.combine(
        ctx.as_of + dt.timedelta(days=1), dt.time()))


def _holds_approved(precheck):
    """The approval let the held rows be paid too: ``approved_verdicts`` (a JSON list, ["pass"] or
    ["pass", "hold"]) names ``hold``. Read as text, alike on SQLite and PostgreSQL."""
    return cast(precheck.c.approved_verdicts, String).like('%"hold"%')


def _unit(posts, position):
    """A post's unit as ``models.unit_key`` and the findings' ``unit`` say: a position's employing
    unit (district/township/name), a workshop's code."""
    return func.coalesce(func.coalesce(position.c.district, "") + UNIT_SEP
                         + func.coalesce(position.c.township, "") + UNIT_SEP + position.c.employer,
                         posts.c.code)


def _approval(r) -> dict:
    return {"precheck": r["precheck_id"], "precheck_file": r["precheck_file"],
            "precheck_as_of": r["precheck_as_of"], "approved_by": r["approved_by"],
            "approved_name": r["approved_name"], "approved_at": r["approved_at"]}


def _signer(r) -> str:
    return r["approved_name"] or r["approved_by"]


# ---- PC01 ---------------------------------------------------------------------------------------

def _pc01_describe(r, ctx) -> Draft:
    verdict = VERDICT_ZH.get(r["verdict"], r["verdict"])
    held = "（审批时未同意发放暂缓的行）" if r["verdict"] == "hold" else ""
    over = r["paid_fen"] - r["approved_fen"]
    reasons = list(r["reasons"] or [])
    return Draft(
        f"{ym(r['period'])} 在 {r['post_code']} 的工资经第 {r['precheck_id']} 号发放前校验"
        f"判为「{verdict}」{held}，"
        f"{_signer(r)} 于 {r['approved_at']:%Y-%m-%d} 审批，"
        + (f"批准发放 {yuan(r['approved_fen'])} 元，" if r["approved_fen"] else "未批准发放，")
        + f"却实发 {yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}），"
        f"超出审批 {yuan(over)} 元。校验理由：{'；'.join(reasons) if reasons else '—'}",
        {**_approval(r), "period": ym(r["period"]), "post": r["post_code"], "verdict": verdict,
         "precheck_rules": list(r["rules"] or []), "precheck_reasons": reasons,
         "approved_amount": yuan(r["approved_fen"]), "paid": yuan(r["paid_fen"]), "payments": r["payments"],
         "last_paid_on": r["last_paid_on"], "paid_over_approval": yuan(over)},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=over, spans=[])


@rule("PC01", category="process_control", title="付款违背发放前校验", severity="high", basis=BASIS,
      requires=("wages", "prechecks"), describe=_pc01_describe)
def pc01(ctx):
    """Paid for a person, post and month more than the latest approved pre-check of them let through,
    where that pre-check stopped a row of them: judged 不予发放 (``reject``), or 暂缓发放 (``hold``)
    and approved without the held rows (``approved_verdicts`` without ``hold``). What it let through is
    the drafted amount of its ``pass`` rows (and of its ``hold`` rows when approved with them): a row
    repeated in the draft, its copy rejected (PS07), paid once is no finding. The finding's amount is what was
    paid beyond that; the evidence names the pre-check, its approver, the stopped row's verdict,
    rules and reasons, and the payment."""
    paid_month, drafted = ctx.wage_month, PrecheckRow.__table__
    precheck, posts = Precheck.__table__, Post.__table__
    key = (drafted.c.person_id, drafted.c.post_id, drafted.c.period)
    latest = (select(*key, func.max(drafted.c.precheck_id).label("precheck_id"))
              .join(precheck, precheck.c.id == drafted.c.precheck_id).where(_approved(ctx))
              .group_by(*key).subquery("latest"))
    let_through = (drafted.c.verdict == "pass") | ((drafted.c.verdict == "hold") & _holds_approved(precheck))
    judged = (select(drafted.c.precheck_id, *key,
                     func.sum(case((let_through, drafted.c.amount_fen), else_=0)).label("approved_fen"),
                     func.min(case((~let_through, drafted.c.id))).label("stopped_row"))
              .join(precheck, precheck.c.id == drafted.c.precheck_id)
              .join(latest, and_(latest.c.precheck_id == drafted.c.precheck_id,
                                 latest.c.person_id == drafted.c.person_id,
                                 latest.c.post_id == drafted.c.post_id, latest.c.period == drafted.c.period))
              .group_by(drafted.c.precheck_id, *key).subquery("judged"))
    stopped = drafted.alias("stopped")
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.payments, paid_month.c.last_paid_on, judged.c.precheck_id,
                   judged.c.approved_fen, stopped.c.verdict, stopped.c.rules, stopped.c.reasons,
                   precheck.c.file_name.label("precheck_file"),
                   precheck.c.as_of.label("precheck_as_of"), precheck.c.approved_by, precheck.c.approved_name,
                   precheck.c.approved_at, posts.c.code.label("post_code"))
            .join(judged, and_(judged.c.person_id == paid_month.c.person_id,
                               judged.c.post_id == paid_month.c.post_id,
                               judged.c.period == paid_month.c.period))
            .join(stopped, stopped.c.id == judged.c.stopped_row)
            .join(precheck, precheck.c.id == judged.c.precheck_id)
            .join(posts, posts.c.id == paid_month.c.post_id)
            .where(paid_month.c.period <= ctx.as_of_month,
                   paid_month.c.paid_fen > judged.c.approved_fen))


# ---- PC02 ---------------------------------------------------------------------------------------

def _pc02_describe(r, ctx) -> Draft:
    return Draft(
        f"{ym(r['period'])} 该单位（{r['post_code']} 所属）的工资发放表已经第 {r['precheck_id']} 号"
        f"发放前校验、{_signer(r)} 于 {r['approved_at']:%Y-%m-%d} 审批，但此人此岗位不在其中，"
        f"却发放工资 {yuan(r['paid_fen'])} 元（{r['payments']} 笔，最后一笔 {r['last_paid_on']}）："
        f"未经发放前校验即发放。",
        {**_approval(r), "period": ym(r["period"]), "post": r["post_code"], "paid": yuan(r["paid_fen"]),
         "payments": r["payments"], "last_paid_on": r["last_paid_on"]},
        person_id=r["person_id"], post_id=r["post_id"], periods=[r["period"]], amount_fen=r["paid_fen"],
        spans=[])


@rule("PC02", category="process_control", title="未经发放前校验即发放", severity="medium", basis=BASIS,
      requires=("wages", "prechecks"), describe=_pc02_describe)
def pc02(ctx):
    """Paid for a person, post and month of a unit and month that an approved pre-check covers (one
    of its rows pays a post of that unit for that month), but in no approved pre-check's rows (added
    after approval, or paid beside it). The evidence names the latest approved pre-check of the
    unit and month. A unit is a position's employing unit or a workshop."""
    paid_month, drafted = ctx.wage_month, PrecheckRow.__table__
    precheck, posts, position = Precheck.__table__, Post.__table__, Position.__table__
    covered_post, covered_position = posts.alias("cposts"), position.alias("cpos")
    covered_unit = _unit(covered_post, covered_position).label("unit")
    covered = (select(covered_unit, drafted.c.period, func.max(drafted.c.precheck_id).label("precheck_id"))
               .join(precheck, precheck.c.id == drafted.c.precheck_id)
               .join(covered_post, covered_post.c.id == drafted.c.post_id)
               .outerjoin(covered_position, covered_position.c.id == drafted.c.post_id)
               .where(_approved(ctx)).group_by(covered_unit, drafted.c.period).subquery("covered"))
    mine = exists().where(drafted.c.person_id == paid_month.c.person_id,
                          drafted.c.post_id == paid_month.c.post_id,
                          drafted.c.period == paid_month.c.period,
                          drafted.c.precheck_id.in_(select(precheck.c.id).where(_approved(ctx))))
    return (select(paid_month.c.person_id, paid_month.c.post_id, paid_month.c.period, paid_month.c.paid_fen,
                   paid_month.c.payments, paid_month.c.last_paid_on, covered.c.precheck_id,
                   precheck.c.file_name.label("precheck_file"), precheck.c.as_of.label("precheck_as_of"),
                   precheck.c.approved_by, precheck.c.approved_name, precheck.c.approved_at,
                   posts.c.code.label("post_code"))
            .join(posts, posts.c.id == paid_month.c.post_id)
            .outerjoin(position, position.c.id == paid_month.c.post_id)
            .join(covered, and_(covered.c.period == paid_month.c.period,
                                covered.c.unit == _unit(posts, position)))
            .join(precheck, precheck.c.id == covered.c.precheck_id)
            .where(paid_month.c.paid_fen > 0, paid_month.c.period <= ctx.as_of_month, ~mine))
