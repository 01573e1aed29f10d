from flask import render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import desc, func, select

from models import AuditRun, ImportBatch, Role, User, db

from .. import charts
from ..access import scope
from ..engine.coverage import overview
from ..findings import figures as finding_figures
from ..money import yuan
from ..precheck.warnings import visible as payday_warnings
from ..rectification import queries as notices
from . import bp

# the dashboard's charts (audit/charts.py, the module the PDF reports draw theirs with too)
bp.add_app_template_global(charts.web_hbars, "hbars")
bp.add_app_template_global(charts.web_columns, "columns")


@bp.get("/")
@login_required
def index():
    figures = finding_figures.dashboard_figures()  # read from the summary once per summary stamp and scope
    cats, trend, units = figures["cats"], figures["trend"], figures["units"]
    violations = [c for c in cats if c["violation"]]
    link = lambda **kw: url_for("findings.index", **kw)  # noqa: E731
    ctx = {
        **figures,  # with ``at_risk``, the headline: the money of the violations to handle, counted once
        "active": sum(c["count"] for c in violations),
        "info": sum(c["count"] for c in cats if not c["violation"]),
        "cat_bars": [{"label": c["name"], "value": c["count"], "text": f"{c['count']} 条",
                      "href": link(category=c["category"]), "cls": "bad"} for c in violations if c["count"]],
        "money_bars": [{"label": c["name"], "value": c["amount_fen"], "text": f"{yuan(c['amount_fen'])} 元",
                        "href": link(category=c["category"], sort="amount")}
                       for c in violations if c["amount_fen"]],
        "trend_cols": [{"month": t["month"], "value": t["count"],
                        "text": str(t["count"]) if t["count"] else "", "href": link(period=t["month"])}
                       for t in trend],
        "unit_bars": [{"label": u["unit_name"], "value": u["amount_fen"],
                       "text": f"{yuan(u['amount_fen'])} 元", "href": link(unit=u["unit"], sort="amount"),
                       "cls": "bad"} for u in units],
        "run": db.session.scalars(select(AuditRun).where(AuditRun.status == "finished")
                                  .order_by(desc(AuditRun.id)).limit(1)).first(),
    }
    # 发放前预警: the latest month's persons whose pay would be held or rejected, of the user's units
    # (operators) or regions (everyone else)
    ctx["payday"] = payday_warnings(scope())
    if current_user.role == Role.OPERATOR:
        ctx["notices"] = notices.unit_notices()
    elif ctx["run"] is not None:  # what the latest run compared: stale lists, rules not (fully) run
        ctx["coverage"] = overview(ctx["run"].rules, ctx["run"].summary)
    if scope().is_admin:
        ctx["users"] = db.session.scalar(select(func.count()).select_from(User))
        ctx["imports"] = db.session.scalar(select(func.count()).select_from(ImportBatch))
    return render_template("dashboard/index.html", role=current_user.role, **ctx)
