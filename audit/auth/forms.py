from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=256)])


class ChangePasswordForm(FlaskForm):
    """The signed-in user's own password: the current one, then the new one twice."""

    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=256)])
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码"),
                                                 Length(max=256, message="密码过长")])
    confirm = PasswordField("再输入一次新密码", validators=[DataRequired("请再输入一次新密码"),
                                                       EqualTo("password", message="两次输入的新密码不一致")])


class CodeForm(FlaskForm):
    """A code from the authenticator app (six digits) or a recovery code (``xxxxx-xxxxx``)."""

    code = StringField("验证码", validators=[DataRequired("请输入验证码"),
                                           Length(max=32, message="验证码过长")])


class DisableTotpForm(FlaskForm):
    """Turning the second factor off: the password and a current code."""

    password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=256)])
    code = StringField("验证码", validators=[DataRequired("请输入验证码"),
                                           Length(max=32, message="验证码过长")])
