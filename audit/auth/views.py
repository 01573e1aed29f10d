import time
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from models import db

from . import bp, policy, services
from .forms import ChangePasswordForm, LoginForm

# what a user whose password has expired may still do
_WHILE_EXPIRED = {"auth.password", "auth.logout", "auth.login", "static"}


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
            session.clear()
            session.permanent = True
            login_user(result.user, remember=False)
            session["since"] = int(time.time())  # P2: the session's absolute lifetime starts here
            if services.password_expired(result.user):
                flash(_expired_message(), "warning")
                return redirect(url_for("auth.password"))
            return redirect(_safe_next(request.args.get("next")))
        error, status = result.error, 401
        if result.retry_after is not None:  # too many failures from this address
            status, headers = 429, {"Retry-After": str(result.retry_after)}
    max_hours = int(current_app.config.get("SESSION_MAX_HOURS", 12) or 0)
    return render_template("auth/login.html", form=form, error=error, max_hours=max_hours), status, headers


@bp.post("/logout")
@login_required
def logout():
    services.sign_out(current_user)
    logout_user()
    session.clear()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))


def _expired_message() -> str:
    days = int(current_app.config.get("PASSWORD_MAX_AGE_DAYS", 0) or 0)
    return f"您的密码已超过 {days} 天未修改，请先修改密码，再继续使用系统。"


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """The signed-in user changes their own password (the same policy as every password); every
    other session of theirs ends, this one stays."""
    form = ChangePasswordForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            services.change_own_password(current_user, form.current.data, form.password.data)
        except services.UserError as exc:
            db.session.rollback()
            error, status = str(exc), 400
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # this session carries the new session_version
            flash("密码已修改。您在其他地方登录的会话均已失效。", "success")
            return redirect(url_for("dashboard.index"))
    elif request.method == "POST":
        error, status = next((e for errs in form.errors.values() for e in errs), "请检查填写的密码。"), 400
    return render_template("auth/password.html", form=form, error=error, min_length=policy.MIN_LENGTH,
                           history=policy.HISTORY, expired=services.password_expired(current_user)), status


@bp.before_app_request
def _session_limits():
    """P2: a session older than ``SESSION_MAX_HOURS`` ends, however active it was. B4: a user whose
    password has expired can do nothing but change it (or sign out).

    Blueprints' hooks run before the application's own (``audit.web``): the user is looked up
    afresh here, not taken from what an earlier request in the same context left on ``g``."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    g.pop("_login_user", None)
    db.session.rollback()
    if not current_user.is_authenticated:
        return None
    hours = int(current_app.config.get("SESSION_MAX_HOURS", 12) or 0)
    since = session.get("since")
    if hours > 0 and (not isinstance(since, int) or time.time() - since > hours * 3600):
        services.sign_out(current_user, "expired")
        logout_user()
        session.clear()
        flash(f"登录已满 {hours} 小时，为安全起见请重新登录。", "info")
        return redirect(url_for("auth.login"))
    if request.endpoint not in _WHILE_EXPIRED and services.password_expired(current_user):
        flash(_expired_message(), "warning")
        return redirect(url_for("auth.password"))
    return None
