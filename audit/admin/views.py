"""Administration (admins only): the users, a new user, one user's scopes, password, state and
lock, and the audit log. Every change goes through ``audit.auth.services`` (which writes the audit
log and commits: each is one unit of work, audit/transaction.py)."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from audit.access import roles_required
from audit.auth import services, sessions, totp
from audit.auth.services import UserError, scope_text
from models import ROLES, Role, User

from . import bp, logtext, queries
from .forms import ActionForm, NewUserForm, PasswordForm, ScopesForm, scope_lines

bp.add_app_template_global(logtext.browser, "browser")

# What the audit log's actions are called in the filter's suggestions (the entries themselves read
# as sentences: ``logtext``).
ACTIONS = {
    "auth.login": "登录", "auth.logout": "退出登录", "auth.timeout": "超时自动退出",
    "auth.expired": "登录满时长自动退出", "auth.login_failed": "登录失败",
    "auth.login_refused": "拒绝登录", "auth.rate_limited": "登录过于频繁被拒",
    "access.denied": "越权访问被拒",
    "user.create": "新建用户", "user.scopes": "修改范围", "user.password": "重设密码",
    "user.password_change": "修改自己的密码", "user.active": "启用/停用账户",
    "user.unlock": "解除锁定", "pii.view": "查看完整身份信息", "import.update": "导入更新数据",
    "import.delete": "导入替换删除数据",
    "findings.export": "导出审计发现", "parameter.set": "设置规则参数", "job.failed": "定时任务失败",
    "notice.overdue": "整改通知书逾期", "comparison.stale": "比对数据过期", "pii.rotate": "轮换个人信息密钥",
    "precheck.warning": "发放前预警",
    "import.commit": "导入台账", "audit.run": "运行审计", "audit.replay": "回放审计",
    "replay.export": "导出审计回放", "finding.confirm": "确认问题", "finding.dismiss": "排除问题",
    "finding.reopen": "改回待复核", "finding.close": "问题销号", "notice.issue": "下发整改通知书",
    "notice.answer": "回复整改通知书", "notice.close": "整改通知书销号", "notice.return": "退回整改回复",
    "evidence.download": "下载证明文件", "report.download": "下载报告", "report.generate": "生成报告",
    "attendance.sheet": "下载考勤表", "attendance.submit": "提交考勤", "upload.check": "检查上传的台账",
    "upload.commit": "导入上传的台账",
    "auth.totp_failed": "两步验证码错误", "auth.recovery_code_used": "使用恢复码登录",
    "auth.session_limit": "超出会话上限被结束", "user.totp_enrol": "启用两步验证",
    "user.totp_disable": "停用两步验证",
    "user.totp_reset": "重置两步验证", "user.recovery_codes": "重新生成恢复码",
    "log.rekeyed": "日志链升级为加密钥的链",
    "device.create": "新建考勤设备令牌", "device.revoke": "吊销考勤设备令牌",
    "device.attendance": "考勤设备上传考勤",
    "device.unauthorized": "考勤接口令牌无效", "device.rate_limited": "考勤设备调用过于频繁",
}
# The filter's suggestions: a prefix selects every action under it.
PREFIXES = {
    "auth.": "登录与会话",
    "access.": "越权访问",
    "user.": "用户管理",
    "pii.": "查看个人信息",
    "import.": "数据导入",
    "finding": "审计发现（复核、导出）",
    "parameter.": "规则参数",
    "audit.": "审计运行",
    "notice.": "整改通知书",
    "device.": "考勤设备与考勤接口",
}


def _by() -> str:
    return current_user.username


def _user_or_404(uid: int) -> User:
    u = queries.user(uid)
    if u is None:
        abort(404)
    return u


def _warn_unknown(u: User) -> None:
    unknown = queries.unknown_scopes(list(u.scopes))
    if unknown:
        flash(f"提示：已导入的数据中没有 {'、'.join(unknown)}，"
              "请核对拼写（该用户在此范围内暂时看不到任何数据）。", "warning")


def _keep_signed_in(u: User) -> None:
    """A change to the admin's own account voids every session of theirs; this one stays."""
    if u.id == current_user.id:
        login_user(u)


# -- the users ----------------------------------------------------------------------------------------


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    role = request.args.get("role") or None
    if role not in ROLES:
        role = None
    rows = queries.users(role)
    return render_template("admin/users.html", users=rows, role=role, roles=ROLES, scope_text=scope_text,
                           locked=queries.locked, now=dt.datetime.now())


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user():
    form = NewUserForm()
    error = None
    if form.validate_on_submit():
        try:
            u = services.create_user(form.username.data, form.role.data, form.password.data,
                                     regions=scope_lines(form.scopes.data),
                                     display_name=form.display_name.data, by=_by())
        except UserError as exc:
            error = str(exc)
        else:
            flash(f"已创建用户 {u.username}（{ROLES[u.role]}）。", "success")
            _warn_unknown(u)
            return redirect(url_for("admin.user", uid=u.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/new_user.html", form=form, error=error, roles=ROLES), status


def _detail(u: User, *, scopes_form=None, password_form=None, errors=None, status=200):
    if scopes_form is None:
        scopes_form = ScopesForm(formdata=None, scopes="\n".join(scope_text(s) for s in u.scopes))
    if password_form is None:
        password_form = PasswordForm(formdata=None)
    return render_template(
        "admin/user.html", u=u, roles=ROLES, scope_text=scope_text, locked=queries.locked(u),
        scopes_form=scopes_form, password_form=password_form, action_form=ActionForm(formdata=None),
        errors=errors or {}, log=logtext.entries(queries.user_log(u)), sessions=sessions.live(u),
        totp_required=u.role in totp.enforced_roles(),
        is_self=u.id == current_user.id), status


@bp.get("/users/<int:uid>")
@roles_required(Role.ADMIN)
def user(uid: int):
    return _detail(_user_or_404(uid))


@bp.post("/users/<int:uid>/scopes")
@roles_required(Role.ADMIN)
def user_scopes(uid: int):
    u = _user_or_404(uid)
    form = ScopesForm()
    if not form.validate_on_submit():
        return _detail(u, scopes_form=form, errors={"scopes": "请检查填写的范围。"}, status=400)
    try:
        services.set_scopes(u, scope_lines(form.scopes.data), by=_by())
    except UserError as exc:
        return _detail(_user_or_404(uid), scopes_form=form, errors={"scopes": str(exc)}, status=400)
    _keep_signed_in(u)
    text = "、".join(scope_text(s) for s in u.scopes) or "全部地区"
    flash(f"已将 {u.username} 的范围改为：{text}。其已登录的会话已失效，需要重新登录。", "success")
    _warn_unknown(u)
    return redirect(url_for("admin.user", uid=uid))


@bp.post("/users/<int:uid>/password")
@roles_required(Role.ADMIN)
def user_password(uid: int):
    u = _user_or_404(uid)
    form = PasswordForm()
    if not form.validate_on_submit():
        first = next((e for errs in form.errors.values() for e in errs), "请检查填写的密码。")
        return _detail(u, password_form=form, errors={"password": first}, status=400)
    try:
        services.set_password(u, form.password.data, by=_by())
    except UserError as exc:
        return _detail(_user_or_404(uid), password_form=PasswordForm(formdata=None),
                       errors={"password": str(exc)}, status=400)
    _keep_signed_in(u)
    flash(f"已重设 {u.username} 的密码（锁定同时解除），其已登录的会话已失效。", "success")
    return redirect(url_for("admin.user", uid=uid))


def _set_active(uid: int, active: bool):
    u = _user_or_404(uid)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not active and u.id == current_user.id:
        return _detail(u, errors={"active": "不能停用自己正在使用的账户。"}, status=400)
    if u.active == active:
        flash(f"{u.username} 已经是{'启用' if active else '停用'}状态。", "info")
        return redirect(url_for("admin.user", uid=uid))
    try:
        services.set_active(u, active, by=_by())
    except UserError as exc:
        return _detail(_user_or_404(uid), errors={"active": str(exc)}, status=400)
    flash(f"已{'启用' if active else '停用'}用户 {u.username}。"
          + ("" if active else "其已登录的会话已失效，且不能再登录。"), "success")
    return redirect(url_for("admin.user", uid=uid))


@bp.post("/users/<int:uid>/deactivate")
@roles_required(Role.ADMIN)
def user_deactivate(uid: int):
    return _set_active(uid, False)


@bp.post("/users/<int:uid>/activate")
@roles_required(Role.ADMIN)
def user_activate(uid: int):
    return _set_active(uid, True)


@bp.post("/users/<int:uid>/unlock")
@roles_required(Role.ADMIN)
def user_unlock(uid: int):
    u = _user_or_404(uid)
    if not ActionForm().validate_on_submit():
        abort(400)
    services.unlock(u, by=_by())
    flash(f"已解除 {u.username} 的锁定，失败次数清零。", "success")
    return redirect(url_for("admin.user", uid=uid))


@bp.post("/users/<int:uid>/totp-reset")
@roles_required(Role.ADMIN)
def user_totp_reset(uid: int):
    """B4: a user's second factor removed (a lost phone); logged, every session of theirs ends."""
    u = _user_or_404(uid)
    if not ActionForm().validate_on_submit():
        abort(400)
    totp.reset(u, by=_by())
    _keep_signed_in(u)
    flash(f"已重置 {u.username} 的两步验证（恢复码同时作废），其已登录的会话已失效。"
          + ("其下次登录后须重新设置。" if u.role in totp.enforced_roles() else ""), "success")
    return redirect(url_for("admin.user", uid=uid))


# -- the audit log ------------------------------------------------------------------------------------


@bp.get("/log")
@roles_required(Role.ADMIN)
def log():
    action = (request.args.get("action") or "").strip()[:32] or None
    actor = (request.args.get("actor") or "").strip()[:64] or None
    page = request.args.get("page", 1, type=int) or 1
    result = queries.log(action, actor, page)
    return render_template("admin/log.html", rows=logtext.entries(result.rows), page=result.page,
                           has_next=result.has_next, action=action or "", actor=actor or "",
                           prefixes=PREFIXES, actions=queries.log_actions(), labels=ACTIONS,
                           page_size=queries.LOG_PAGE)


# -- the scheduled jobs -------------------------------------------------------------------------------


@bp.get("/jobs")
@roles_required(Role.ADMIN)
def jobs():
    from audit.scheduler import jobs as scheduled
    from models import JOB_RUN_STATUSES

    return render_template("admin/jobs.html", jobs=scheduled.JOBS, last=scheduled.last_runs(),
                           runs=scheduled.recent_runs(100), statuses=JOB_RUN_STATUSES)
