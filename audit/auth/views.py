import time
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from . import bp, policy, services, sessions, totp
from .forms import ChangePasswordForm, CodeForm, DisableTotpForm, LoginForm

# what a user whose password has expired may still do
_WHILE_EXPIRED = {"auth.password", "auth.logout", "auth.login", "static"}
# what a user who must enrol TOTP (``TOTP_ENFORCE``) may do before enrolling
_WHILE_ENROLLING = {"auth.totp_setup", "auth.password", "auth.logout", "auth.login", "static"}
# the sign-in waiting for its code: {"uid", "v" (session_version), "at" (unix time), "next"}
PENDING = "totp_pending"


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
        if result.user is not None and result.second_factor:
            # B4: the password was right; no session until the code is (``login_code``)
            session.clear()
            session[PENDING] = {"uid": result.user.id, "v": result.user.session_version,
                                "at": int(time.time()), "next": request.args.get("next")}
            return redirect(url_for("auth.login_code"))
        if result.user is not None:
            return _sign_in(result.user, request.args.get("next"))
        error, status = result.error, 401
        if result.retry_after is not None:  # too many failures from this address
            status, headers = 429, {"Retry-After": str(result.retry_after)}
    max_hours = int(current_app.config.get("SESSION_MAX_HOURS", 12) or 0)
    return render_template("auth/login.html", form=form, error=error, max_hours=max_hours), status, headers


def _sign_in(user, target: str | None):
    """A fresh session for ``user`` (its row counted against ``MAX_SESSIONS_PER_USER``), then
    where they are going: the password page if it expired, the enrolment if TOTP is required."""
    session.clear()
    session.permanent = True
    login_user(user, remember=False)
    session["since"] = int(time.time())  # P2: the session's absolute lifetime starts here
    session["sid"] = sessions.start(user)
    if services.password_expired(user):
        flash(_expired_message(), "warning")
        return redirect(url_for("auth.password"))
    if totp.must_enrol(user):  # the page says why
        return redirect(url_for("auth.totp_setup"))
    return redirect(_safe_next(target))


@bp.route("/login/totp", methods=["GET", "POST"])
def login_code():
    """The second step of an enrolled user's sign-in: a code from the app, or a recovery code,
    within ``totp.PENDING_SECONDS`` of the password."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not all(isinstance(pending.get(k), int) for k in ("uid", "v", "at")):
        return redirect(url_for("auth.login"))
    if time.time() - pending["at"] > totp.PENDING_SECONDS:
        session.pop(PENDING, None)
        flash(f"输入验证码超时（{totp.PENDING_SECONDS // 60} 分钟），请重新输入用户名和密码。", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        result = totp.second_factor(pending.get("uid"), pending.get("v"), form.code.data, request.remote_addr)
        if result.user is not None:
            return _sign_in(result.user, pending.get("next"))
        if result.error is None:  # signed out, reset or changed since the password: start again
            session.pop(PENDING, None)
            flash("账户状态已变化，请重新登录。", "info")
            return redirect(url_for("auth.login"))
        error, status = result.error, 401
        if result.retry_after is not None:
            status, headers = 429, {"Retry-After": str(result.retry_after)}
    elif request.method == "POST":
        error, status = next((e for errs in form.errors.values() for e in errs), "请输入验证码。"), 400
    return render_template("auth/totp.html", form=form, error=error), status, headers


@bp.post("/logout")
@login_required
def logout():
    sessions.end(session.get("sid"), "logout")
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
            error, status = str(exc), 400
        else:
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

    The application's own first hook (``audit.web._fresh_request_state``) has cleared what an
    earlier request in the same context left on ``g`` and rolled back: the user here is the one
    this request loaded (once: looking it up again cost a query on every request)."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    if not current_user.is_authenticated:
        return None
    hours = int(current_app.config.get("SESSION_MAX_HOURS", 12) or 0)
    since = session.get("since")
    if hours > 0 and (not isinstance(since, int) or time.time() - since > hours * 3600):
        sessions.end(session.get("sid"), "expired")
        services.sign_out(current_user, "expired")
        logout_user()
        session.clear()
        flash(f"登录已满 {hours} 小时，为安全起见请重新登录。", "info")
        return redirect(url_for("auth.login"))
    ended = sessions.check(current_user, session.get("sid"))
    if ended is not None:  # B4: ended by a newer sign-in beyond the limit, or no longer a session
        logout_user()
        session.clear()
        flash(ended, "warning")
        return redirect(url_for("auth.login"))
    if request.endpoint not in _WHILE_EXPIRED and services.password_expired(current_user):
        flash(_expired_message(), "warning")
        return redirect(url_for("auth.password"))
    if request.endpoint not in _WHILE_ENROLLING and totp.must_enrol(current_user):
        return redirect(url_for("auth.totp_setup"))  # the page says why
    return None


# -- the second factor: enrolment, status, disabling ---------------------------------------------------


def _grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _status_page(error: str | None = None, status: int = 200, disable_form=None, codes_form=None):
    user = current_user._get_current_object()
    return render_template("auth/totp_status.html", enrolled_at=user.totp_enrolled_at,
                           left=totp.recovery_codes_left(user), error=error,
                           disable_form=disable_form or DisableTotpForm(formdata=None),
                           codes_form=codes_form or CodeForm(formdata=None),
                           required=user.role in totp.enforced_roles()), status


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def totp_setup():
    """Enrolment: a QR code made here and the secret as text; the first code confirms it, then
    the ten recovery codes are shown, once. An enrolled user sees the state of theirs instead."""
    user = current_user._get_current_object()
    if user.totp_enrolled:
        return _status_page()
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            codes = totp.confirm(user, form.code.data)
        except services.UserError as exc:
            error, status = str(exc), 400
        else:
            login_user(user)  # this session carries the new session_version; every other one ended
            return render_template("auth/recovery_codes.html", codes=codes, enrolled=True)
    elif request.method == "POST":
        error, status = next((e for errs in form.errors.values() for e in errs), "请输入验证码。"), 400
    secret = totp.pending_secret(user)
    return render_template("auth/totp_setup.html", form=form, error=error, secret=_grouped(secret),
                           qr=totp.qr_svg(totp.provisioning_uri(user, secret)),
                           must=totp.must_enrol(user)), status


@bp.post("/account/totp/disable")
@login_required
def totp_disable():
    user = current_user._get_current_object()
    if not user.totp_enrolled:
        return redirect(url_for("auth.totp_setup"))
    form = DisableTotpForm()
    if not form.validate_on_submit():
        first = next((e for errs in form.errors.values() for e in errs), "请检查填写的内容。")
        return _status_page(first, 400)
    try:
        totp.disable(user, form.password.data, form.code.data)
    except services.UserError as exc:
        return _status_page(str(exc), 400)
    flash("两步验证已停用，登录时不再需要验证码。", "success")
    return redirect(url_for("auth.totp_setup") if totp.must_enrol(user) else url_for("dashboard.index"))


@bp.post("/account/totp/recovery-codes")
@login_required
def totp_recovery_codes():
    """Ten new recovery codes (the old ones stop working), for a current code."""
    user = current_user._get_current_object()
    if not user.totp_enrolled:
        return redirect(url_for("auth.totp_setup"))
    form = CodeForm()
    if not form.validate_on_submit():
        return _status_page(next((e for errs in form.errors.values() for e in errs), "请输入验证码。"), 400)
    try:
        codes = totp.new_recovery_codes(user, form.code.data)
    except services.UserError as exc:
        return _status_page(str(exc), 400)
    return render_template("auth/recovery_codes.html", codes=codes, enrolled=False)
