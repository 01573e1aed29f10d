from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from . import bp, services
from .forms import LoginForm


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host): never an open redirect. Browsers read ``/\\x``
    as ``//x`` and drop tabs and line breaks (``/\\t/x``), so a backslash or a control character
    anywhere refuses the target too."""
    if target and "\\" not in target and not any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    error, headers = None, {}
    status = 200
    if form.validate_on_submit():
        result = services.authenticate(form.username.data, form.password.data, request.remote_addr)
        if result.user is not None:
            from flask import session

            session.clear()
            session.permanent = True
            login_user(result.user, remember=False)
            return redirect(_safe_next(request.args.get("next")))
        error, status = result.error, 401
        if result.retry_after is not None:  # too many failures from this address
            status, headers = 429, {"Retry-After": str(result.retry_after)}
    return render_template("auth/login.html", form=form, error=error), status, headers


@bp.post("/logout")
@login_required
def logout():
    from flask import session

    services.sign_out(current_user)
    logout_user()
    session.clear()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))
