from flask import redirect, url_for
from flask_login import current_user

from . import bp


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
