from flask import abort
from flask_login import login_required

from . import bp


@bp.get("/persons")
@login_required
def persons():
    abort(404)


@bp.get("/positions")
@login_required
def positions():
    abort(404)


@bp.get("/workshops")
@login_required
def workshops():
    abort(404)


@bp.get("/runs")
@login_required
def runs():
    abort(404)


@bp.get("/imports")
@login_required
def imports():
    abort(404)
