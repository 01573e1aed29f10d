"""The admin pages of device tokens (``/admin/devices``): the list, a new token (shown once, on the
answer to the form that made it: never put in the session, whose cookie is signed, not encrypted,
nor in a redirect), and revoking one. On the admin blueprint, so its rules hold (admins only, a
county admin refused); the forms carry the CSRF token; the services write the audit log."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from audit.access import roles_required
from audit.admin import bp
from models import DeviceToken, Role, db

from . import services as s


class DeviceForm(FlaskForm):
    name = StringField("设备名称", validators=[DataRequired("请填写设备名称"),
                                            Length(max=64, message="设备名称不超过 64 个字符")])
    unit = StringField("所属单位", validators=[DataRequired("请填写所属单位"),
                                            Length(max=200, message="单位名称过长")])


class RevokeForm(FlaskForm):
    """Only the CSRF token."""


def _page(form: DeviceForm, *, error: str | None = None, created: DeviceToken | None = None,
          secret: str | None = None, status: int = 200):
    rows = s.tokens()
    labels = {t.id: s.unit_label(t.unit_kind, t.unit) for t in rows}
    return render_template("admin/devices.html", form=form, rows=rows, labels=labels, error=error,
                           created=created, secret=secret, revoke_form=RevokeForm(formdata=None),
                           max_records=s.MAX_RECORDS), status


@bp.get("/devices")
@roles_required(Role.ADMIN)
def devices():
    return _page(DeviceForm(formdata=None))


@bp.post("/devices")
@roles_required(Role.ADMIN)
def device_create():
    form = DeviceForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        tok, secret = s.create_token(form.name.data, form.unit.data, by=current_user.username)
    except s.DeviceError as exc:
        return _page(form, error=str(exc), status=400)
    return _page(DeviceForm(formdata=None), created=tok, secret=secret)


@bp.post("/devices/<int:device_id>/revoke")
@roles_required(Role.ADMIN)
def device_revoke(device_id: int):
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    tok = db.session.get(DeviceToken, device_id)
    if tok is None:
        abort(404)
    try:
        s.revoke(tok, by=current_user.username)
    except s.DeviceError as exc:
        flash(str(exc), "warning")
    else:
        flash(f"已吊销设备「{tok.name}」的令牌，该设备此后的调用将被拒绝（401）。", "success")
    return redirect(url_for("admin.devices"))
