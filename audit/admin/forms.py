"""The administration forms. Each carries the CSRF token (Flask-WTF); the rules about users
(lengths, scopes, passwords) are the services' (``audit.auth.services``), whose messages are shown
beside the form."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from models import Role


def scope_lines(text: str | None) -> list[str]:
    """The textarea's lines (also split on Chinese and Western commas and semicolons)."""
    out = []
    for line in (text or "").replace("，", "\n").replace("；", "\n").replace(";", "\n").splitlines():
        line = line.strip()
        if line:
            out.append(line)
    return out


class NewUserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"),
                                              Length(max=64, message="用户名不超过 64 个字符")])
    display_name = StringField("显示姓名", validators=[Optional(),
                                                  Length(max=64, message="显示姓名不超过 64 个字符")])
    # shown as a <select> of ROLES (templates/admin/new_user.html); an unknown role is refused by
    # create_user, in Chinese
    role = StringField("角色", default=Role.AUDITOR)
    scopes = TextAreaField("范围")
    password = PasswordField("密码", validators=[DataRequired("请输入密码"),
                                               Length(max=256, message="密码过长")])
    confirm = PasswordField("再输入一次", validators=[DataRequired("请再输入一次密码"),
                                                   EqualTo("password", message="两次输入的密码不一致")])


class ScopesForm(FlaskForm):
    scopes = TextAreaField("范围")


class PasswordForm(FlaskForm):
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码"),
                                                 Length(max=256, message="密码过长")])
    confirm = PasswordField("再输入一次", validators=[DataRequired("请再输入一次新密码"),
                                                   EqualTo("password", message="两次输入的密码不一致")])


class ActionForm(FlaskForm):
    """A button that changes something (activate, deactivate, unlock): only the CSRF token."""
