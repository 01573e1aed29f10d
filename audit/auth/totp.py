"""The TOTP second factor (B4): enrolment with a QR code made on the server, the code asked at
sign-in, ten recovery codes, disabling and an admin's reset. Every step writes the audit log.

Decisions:
- The secret (base32, 160 bits) is kept encrypted with the personal-data key (``audit/pii.py``,
  Fernet), like the ID numbers; a key rotation re-encrypts it (``audit/keys/services.py``).
- A code is RFC 6238's six digits for 30 seconds; the one before and the one after are accepted
  too (clocks of phones drift), but never a code of a time step at or before the last one
  accepted: a code works once (``users.totp_last_step``, moved forward by one atomic UPDATE, so
  two requests racing with the same code cannot both pass).
- Once enrolled, a user always gives a code after the password: no setting skips it.
  ``TOTP_ENFORCE`` only decides whether the roles of ``TOTP_REQUIRED_ROLES`` must enrol.
- A wrong code at sign-in counts like a wrong password: the same per-address limit and the same
  lock after ``MAX_FAILURES``. The correct password alone does not clear the count of an
  enrolled user (it would give an attacker who knows the password endless tries at the code);
  a complete sign-in does.
- Recovery codes (ten, ``xxxxx-xxxxx`` from 31 letters and digits: about 50 bits each) are
  shown once; only a salted PBKDF2 hash is kept, each can be used once.
"""
from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import time

import pyotp
import segno
from flask import current_app, has_request_context, request
from markupsafe import Markup
from sqlalchemy import delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from models import User, db
from models.accounts import RecoveryCode

from ..auditlog import record, record_now
from ..transaction import unit_of_work
from . import services
from .services import SignIn, UserError

STEP = 30  # seconds per code
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_HASH = "pbkdf2:sha256:100000"  # salted; a code has ~50 bits, so this is ample and quick
CODE_FAILED = "验证码不正确，或账户暂不可用。"
PENDING_SECONDS = 300  # a signed-in password waits this long for its code


def enforced_roles() -> set[str]:
    """The roles that must enrol (empty when ``TOTP_ENFORCE`` is off)."""
    if not current_app.config.get("TOTP_ENFORCE", True):
        return set()
    roles = current_app.config.get("TOTP_REQUIRED_ROLES", "admin,auditor")
    if isinstance(roles, str):
        roles = roles.split(",")
    return {r.strip() for r in roles if r and r.strip()}


def must_enrol(user: User) -> bool:
    return not user.totp_enrolled and user.role in enforced_roles()


def _codec():
    return current_app.extensions["pii"]


def _secret(user: User) -> str:
    return _codec().decrypt(user.totp_secret_enc)


def _step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP)


def _digits(code: str) -> str | None:
    """The six digits of a typed code (spaces allowed), or None when it is not one."""
    text = re.sub(r"\s", "", code or "")
    return text if re.fullmatch(r"\d{6}", text) else None


def _matching_step(secret: str, digits: str, after: int | None) -> int | None:
    """The time step (now, one before, one after) whose code is ``digits``, later than ``after``."""
    totp = pyotp.TOTP(secret)
    now = _step()
    for step in (now, now - 1, now + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _take_step(user: User, step: int) -> bool:
    """Move ``totp_last_step`` forward to ``step`` unless a request got there first."""
    users = User.__table__
    done = db.session.execute(update(users).where(
        users.c.id == user.id, (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    db.session.expire(user, ["totp_last_step"])
    return done.rowcount == 1


def _normal_recovery(code: str) -> str:
    return re.sub(r"[\s\-]", "", code or "").lower()


def _use_recovery_code(user: User, code: str) -> int | None:
    """Mark the user's matching unused recovery code used; how many are left, or None (no match)."""
    text = _normal_recovery(code)
    if len(text) != 10 or any(ch not in RECOVERY_ALPHABET for ch in text):
        return None
    t = RecoveryCode.__table__
    for rid, digest in db.session.execute(select(t.c.id, t.c.code_hash).where(t.c.user_id == user.id,
                                                                            t.c.used_at.is_(None))):
        if check_password_hash(digest, text):
            used = db.session.execute(update(t).where(t.c.id == rid, t.c.used_at.is_(None))
                                      .values(used_at=dt.datetime.now()))
            if used.rowcount != 1:
                return None  # another request used it a moment ago
            return recovery_codes_left(user)
    return None


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def _new_recovery_codes(user: User, now: dt.datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, created_at=now,
                                    code_hash=generate_password_hash(c, method=RECOVERY_HASH)) for c in codes)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


# -- sign-in -----------------------------------------------------------------------------------------


def second_factor(user_id: int, version: int, code: str, ip: str | None = None) -> SignIn:
    """The code (or a recovery code) after a correct password. ``version`` is the user's
    ``session_version`` when the password was checked: a sign-out, a password change or an
    admin's reset since then voids the pending sign-in (``SignIn.error`` is None then: start
    again). Counts and logs like ``services.authenticate``; commits."""
    now = dt.datetime.now()
    if ip is None and has_request_context():
        ip = request.remote_addr or ""
    user = db.session.get(User, user_id)
    if ip is not None:
        ip = ip[:64]
        refused = services._rate_limited(ip, user.username if user else "", now)
        if refused is not None:
            return refused
    if user is None or user.session_version != version or not user.totp_enrolled:
        return SignIn(None)
    if user.locked_until and user.locked_until > now or not user.active:
        services._note_failure(ip, now)
        record_now("auth.login_refused", table="users", row_id=user.id, ref=user.username,
                   new={"reason": "locked" if user.active else "inactive", "second_factor": True})
        return SignIn(None, CODE_FAILED)
    digits = _digits(code)
    used, left = None, None
    if digits is not None:
        step = _matching_step(_secret(user), digits, user.totp_last_step)
        if step is not None and _take_step(user, step):
            used = "totp"
    else:
        left = _use_recovery_code(user, code)
        if left is not None:
            used = "recovery"
    if used is None:
        db.session.rollback()
        services._note_failure(ip, now)
        services._count_failure(user.id, user.username, now, action="auth.totp_failed")
        db.session.expire_all()
        return SignIn(None, CODE_FAILED)
    user.failed_logins = 0
    user.locked_until = None
    if used == "recovery":
        record("auth.recovery_code_used", table="users", row_id=user.id, ref=user.username, who=user.username,
               new={"left": left})
    record("auth.login", table="users", row_id=user.id, ref=user.username, who=user.username,
           new={"second_factor": used})
    db.session.commit()
    return SignIn(user)


# -- enrolment, disabling, reset -----------------------------------------------------------------------


@unit_of_work
def pending_secret(user: User) -> str:
    """The secret the user is enrolling with (made, encrypted and kept on first asking; the same
    on every reload, so that a QR code already scanned stays valid). One unit of work."""
    if user.totp_enrolled:
        raise UserError("您已启用两步验证。")
    if user.totp_secret_enc is None:
        user.totp_secret_enc = _codec().encrypt(pyotp.random_base32(32))
        user.totp_last_step = None
    return _secret(user)


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config.get("TOTP_ISSUER") or "公益性岗位审计"
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code, made here (no image service sees the secret)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=2, omitsize=True, dark="#000", light="#fff",
                                               svgclass="totp-qr", lineclass=None, title="两步验证二维码")
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="两步验证二维码" ', 1))


@unit_of_work
def confirm(user: User, code: str) -> list[str]:
    """The first code from the user's app confirms the enrolment: from now on every sign-in asks
    for a code. Every other session of the user ends (they were signed in without one). The ten
    recovery codes returned are shown once. One unit of work."""
    if user.totp_enrolled or user.totp_secret_enc is None:
        raise UserError("请重新打开两步验证设置页面。")
    digits = _digits(code)
    step = _matching_step(_secret(user), digits, None) if digits else None
    if step is None:
        raise UserError("验证码不正确：请核对手机时间是否准确，并输入验证器当前显示的 6 位数字。")
    now = dt.datetime.now()
    user.totp_last_step = step
    user.totp_enrolled_at = now
    user.session_version += 1
    codes = _new_recovery_codes(user, now)
    record("user.totp_enrol", table="users", row_id=user.id, ref=user.username, who=user.username,
           new={"recovery_codes": len(codes)})
    return codes


@unit_of_work
def disable(user: User, password: str, code: str) -> None:
    """The user turns the second factor off: their password and a current code (or a recovery
    code) are asked; a wrong one counts as a failed sign-in. One unit of work."""
    now = dt.datetime.now()
    if not user.totp_enrolled:
        raise UserError("您尚未启用两步验证。")
    if not check_password_hash(user.password_hash, password or ""):
        services._count_failure(user.id, user.username, now)
        db.session.expire(user)
        raise UserError("当前密码不正确")
    digits = _digits(code)
    if digits is not None:
        step = _matching_step(_secret(user), digits, user.totp_last_step)
        ok = step is not None and _take_step(user, step)
    else:
        ok = _use_recovery_code(user, code) is not None
    if not ok:
        db.session.rollback()
        services._count_failure(user.id, user.username, now, action="auth.totp_failed")
        db.session.expire_all()
        raise UserError("验证码不正确")
    _clear(user)
    record("user.totp_disable", table="users", row_id=user.id, ref=user.username, who=user.username)


@unit_of_work
def reset(user: User, *, by: str) -> None:
    """An admin (or ``audit users totp-reset``) removes a user's second factor, for a lost phone:
    every session of the user ends; where ``TOTP_ENFORCE`` requires it, they enrol again after
    their next sign-in. One unit of work."""
    enrolled = user.totp_enrolled
    _clear(user)
    user.session_version += 1
    record("user.totp_reset", table="users", row_id=user.id, ref=user.username, who=by,
           old={"enrolled": enrolled})


def _clear(user: User) -> None:
    user.totp_secret_enc = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


@unit_of_work
def new_recovery_codes(user: User, code: str) -> list[str]:
    """Ten new recovery codes in place of the old ones (a current code is asked). One unit of work."""
    digits = _digits(code)
    step = None
    if digits and user.totp_enrolled:
        step = _matching_step(_secret(user), digits, user.totp_last_step)
    if step is None or not _take_step(user, step):
        raise UserError("验证码不正确")
    codes = _new_recovery_codes(user, dt.datetime.now())
    record("user.recovery_codes", table="users", row_id=user.id, ref=user.username, who=user.username,
           new={"recovery_codes": len(codes)})
    return codes
