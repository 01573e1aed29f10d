from flask import abort
from flask_login import login_required

from . import bp


@bp.get("/")
@login_required
def index():
    abort(404)
