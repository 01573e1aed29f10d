from flask import abort
from flask_login import login_required

from . import bp


@bp.get("/users")
@login_required
def users():
    abort(404)
