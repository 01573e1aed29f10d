"""The findings export from the web: what the findings list shows (its filters, within the user's
scope), as CSV or XLSX for people — Chinese headers, ID and account numbers masked, formula-like
cells escaped — and logged like the command line's export. ``?district=…&report_period=YYYY-MM:YYYY-MM``
narrows it exactly as the 审计报告 counts (``audit.engine.report_periods``), so the two can be compared."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from flask import Response, abort, request
from flask_login import current_user, login_required

from audit.web import findings_reader

from ..engine.report_periods import in_period, months_between
from . import bp, queries
from .services import export_file


@bp.get("/export.<fmt>")
@login_required
def export_findings(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = queries.Filters.from_args(request.args)
    where = queries.where(f)
    months = None
    if request.args.get("report_period"):
        from ..rectification.queries import parse_period

        span = parse_period(request.args["report_period"])
        if span is None:
            abort(400)
        months = months_between(*span)
        where.append(in_period(months))
    reader = findings_reader()
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M")
    data = export_file(fmt, where=where, months=months, reader=reader, actor=current_user.username)
    ctype = "text/csv; charset=utf-8" if fmt == "csv" \
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=ctype, headers={
        "Content-Disposition": f"attachment; filename=findings-{stamp}.{fmt}; "
                               f"filename*=UTF-8''{quote(f'审计发现-{stamp}.{fmt}')}",
        "Cache-Control": "no-store"})
