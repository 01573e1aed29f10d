"""Users: sign-in with a lock after repeated failures and a limit on the failures per client
address (both counted in the database, so the counts hold across worker processes), sign-out that
voids the session, and creating users with scopes. Every step writes the audit log."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cache

from flask import current_app, has_request_context, request
from sqlalchemy import delete, exists, func, insert, select, update
from werkzeug import security
from werkzeug.security import check_password_hash, generate_password_hash

from models import ROLES, PasswordHistory, Position, Role, SignInFailure, User, UserScope, db, unit_key

from ..auditlog import record, record_now
from ..ratelimit import retry_after
from ..transaction import unit_of_work
from . import policy

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = policy.MIN_LENGTH
KEEP_FAILURES = dt.timedelta(days=1)  # rows of sign_in_failures older than this are deleted


@cache
def dummy_hash() -> str:
    """Checked against when the user name is unknown, so that both cases take as long. Made at the
    process's first sign-in (an scrypt hash: no command that signs nobody in should pay for it),
    before it is known whether the name exists, so that the first attempt takes as long either way.
    Werkzeug's default method, as every password is hashed with."""
    return security.generate_password_hash("unknown-user-dummy-password")

# The one answer to every refused sign-in (unknown name, wrong password, locked, deactivated): the
# page must not tell which accounts exist or what state they are in (the audit log says why).
SIGN_IN_FAILED = "用户名或密码错误，或账户暂不可用。"


class UserError(ValueError):
    """A request about users that cannot be done; the message is for the user, in Chinese."""


@dataclass
class SignIn:
    user: User | None
    error: str | None = None
    retry_after: int | None = None  # seconds: the address is refused for now (HTTP 429)
    # B4: the password was right and the user has enrolled TOTP: the code is asked next
    # (audit/auth/totp.py), and only then is the user signed in
    second_factor: bool = False


def authenticate(username: str, password: str, ip: str | None = None) -> SignIn:
    """``ip`` is the client's address (default: the request's); without one there is no limit per
    address. Its failures are counted before anything else, so a refused attempt checks no password."""
    username = (username or "").strip()
    now = dt.datetime.now()
    if ip is None and has_request_context():
        ip = request.remote_addr or ""
    if ip is not None:
        ip = ip[:64]
        refused = _rate_limited(ip, username, now)
        if refused is not None:
            return refused
    dummy = dummy_hash()
    user = db.session.scalar(select(User).where(User.username == username))
    # Every refusal costs one password hash, whatever the reason (an unknown name is checked against
    # a dummy hash), and answers the same message: which reason it was goes to the audit log only.
    password_ok = check_password_hash(user.password_hash if user is not None else dummy, password or "")
    if user is None:
        _note_failure(ip, now)
        record_now("auth.login_failed", table="users", ref=username[:64], new={"reason": "unknown user"})
        return SignIn(None, SIGN_IN_FAILED)
    if user.locked_until and user.locked_until > now:
        _note_failure(ip, now)
        record_now("auth.login_refused", table="users", row_id=user.id, ref=username,
                   new={"reason": "locked", "locked_until": user.locked_until.isoformat(timespec="seconds")})
        return SignIn(None, SIGN_IN_FAILED)
    if not user.active:
        _note_failure(ip, now)
        record_now("auth.login_refused", table="users", row_id=user.id, ref=username,
                   new={"reason": "inactive"})
        return SignIn(None, SIGN_IN_FAILED)
    if not password_ok:
        _note_failure(ip, now)
        _count_failure(user.id, user.username, now)
        db.session.expire(user)
        return SignIn(None, SIGN_IN_FAILED)
    if user.totp_enrolled:  # the failures are cleared, and the sign-in logged, once the code is right
        return SignIn(user, second_factor=True)
    user.failed_logins = 0
    user.locked_until = None
    record("auth.login", table="users", row_id=user.id, ref=user.username, who=user.username)
    db.session.commit()
    return SignIn(user)


def _count_failure(user_id: int, username: str, now: dt.datetime, action: str = "auth.login_failed") -> int:
    """One more failure (a wrong password, or ``auth.totp_failed``: a wrong code), counted
    atomically in the database; the fifth locks the account."""
    users = User.__table__
    with db.engine.begin() as conn:
        failures = conn.execute(update(users).where(users.c.id == user_id)
                                .values(failed_logins=users.c.failed_logins + 1)
                                .returning(users.c.failed_logins)).scalar_one()
        if failures >= MAX_FAILURES:
            conn.execute(update(users).where(users.c.id == user_id).values(
                failed_logins=0, locked_until=now + dt.timedelta(minutes=LOCK_MINUTES)))
    record_now(action, table="users", row_id=user_id, ref=username,
               new={"failures": failures, "locked": failures >= MAX_FAILURES})
    return failures


def _rate_limited(ip: str, username: str, now: dt.datetime) -> SignIn | None:
    """The refusal when this address failed ``SIGNIN_IP_LIMIT`` times within the last
    ``SIGNIN_IP_WINDOW_MINUTES``. It lifts when the limit-th newest failure leaves the window (a
    refusal adds no failure, and a successful sign-in removes none: one valid account must not
    reset the count). Only an address's first refusal in a window is logged, so that refused
    attempts cannot flood the hash-chained audit log (each entry takes its lock)."""
    limit = int(current_app.config.get("SIGNIN_IP_LIMIT", 20))
    minutes = int(current_app.config.get("SIGNIN_IP_WINDOW_MINUTES", 15))
    if limit <= 0 or minutes <= 0:
        return None
    t = SignInFailure.__table__
    seconds = retry_after(t.c.at, t.c.ip == ip, limit=limit, window=dt.timedelta(minutes=minutes), now=now,
                          action="auth.rate_limited", ref=ip, table="sign_in_failures",
                          new={"username": username[:64], "limit": limit, "window_minutes": minutes})
    if seconds is None:
        return None
    return SignIn(None, f"该地址登录失败次数过多，请约 {math.ceil(seconds / 60)} 分钟后再试。",
                  retry_after=seconds)


def _note_failure(ip: str | None, now: dt.datetime) -> None:
    """One more failure from this address, in a short transaction of its own; rows older than a
    day go in the same transaction, so the table holds about a day of failures."""
    if ip is None:
        return
    t = SignInFailure.__table__
    with db.engine.begin() as conn:
        conn.execute(delete(t).where(t.c.at < now - KEEP_FAILURES))
        conn.execute(insert(t).values(ip=ip, at=now))


def sign_out(user: User, reason: str = "logout") -> None:
    """Void every session of the user: the session cookie names the old ``session_version``."""
    users = User.__table__
    db.session.execute(update(users).where(users.c.id == user.id)
                       .values(session_version=users.c.session_version + 1))
    record(f"auth.{reason}", table="users", row_id=user.id, ref=user.username)
    db.session.commit()


def load(token: str) -> User | None:
    """Flask-Login's user loader: ``id:session_version``; an old version is no session."""
    try:
        uid, version = (int(x) for x in token.split(":"))
    except (ValueError, AttributeError):
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or not user.active:
        return None
    return user


def employer_key(text: str) -> str:
    """The key (``models.unit_key``) of the employing unit an operator's scope names: written in full
    (``奉节县/白帝镇/白帝村村民委员会``; ``奉节县//单位`` for one without a township), or by its bare
    name when the loaded ledgers hold exactly one unit of that name. A bare name that two units share
    (two 白帝村村民委员会 in two townships) is refused with the choices (P1). A bare name no ledger
    holds yet is kept as written (an account made before the first import): it counts only while
    exactly one unit bears it (``access.Scope.of``), and the admin's user page flags it until then."""
    parts = [p.strip() for p in text.replace("／", "/").split("/")]
    if len(parts) == 3 and parts[0] and parts[2]:
        return unit_key(parts[0], parts[1] or None, parts[2])
    if len(parts) != 1:
        raise UserError(f"用工单位「{text.strip()}」应写作 单位名称 或 区县/乡镇/单位名称")
    name = parts[0]
    places = db.session.execute(select(Position.district, Position.township).where(Position.employer == name)
                                .distinct().order_by(Position.district, Position.township)).all()
    if len(places) == 1:
        return unit_key(places[0].district, places[0].township, name)
    if not places:
        return name
    choices = "、".join(f"employer:{unit_key(d, t, name)}" for d, t in places)
    raise UserError(f"有 {len(places)} 个用工单位都叫「{name}」，请写明是哪一个：{choices}")


def parse_scope(text: str, role: str) -> UserScope:
    """``奉节县``, ``奉节县/白帝镇``, ``奉节县/白帝镇/白帝村`` for a region; ``workshop:CODE`` or
    ``employer:NAME`` (``employer_key``) for a unit (operators only)."""
    text = (text or "").strip()
    if not text:
        raise UserError("范围不能为空")
    if ":" in text or "：" in text:
        kind, _, unit = text.replace("：", ":").partition(":")
        kind = {"workshop": "workshop", "车间": "workshop", "employer": "employer",
                "用工单位": "employer"}.get(kind.strip())
        if kind is None or not unit.strip():
            raise UserError(f"单位范围「{text}」应写作 workshop:车间编号 或 employer:用工单位名称")
        if role != Role.OPERATOR:
            raise UserError("只有经办人按单位划定范围；其他角色请填写地区（区县/乡镇/村）")
        if len(unit.strip()) > 128:
            raise UserError(f"单位名称「{unit.strip()[:20]}…」过长（不超过 128 个字符）")
        return UserScope(unit_kind=kind, unit=employer_key(unit) if kind == "employer" else unit.strip())
    if role == Role.OPERATOR:
        raise UserError("经办人的范围是单位：workshop:车间编号 或 employer:用工单位名称")
    parts = [p.strip() or None for p in text.replace("／", "/").split("/")]
    if len(parts) > 3 or not parts[0]:
        raise UserError(f"地区范围「{text}」应写作 区县、区县/乡镇 或 区县/乡镇/村")
    parts += [None] * (3 - len(parts))
    if parts[1] is None and parts[2] is not None:
        raise UserError(f"地区范围「{text}」缺少乡镇：应写作 区县/乡镇/村")
    if any(p and len(p) > 64 for p in parts):
        raise UserError(f"地区范围「{text}」中的名称过长（每级不超过 64 个字符）")
    return UserScope(district=parts[0], township=parts[1], village=parts[2])


def check_password(password: str, username: str | None = None, user: User | None = None) -> None:
    """The password policy (``policy.problem``) and, for an existing user, none of their last
    ``policy.HISTORY`` passwords; a refusal names the rule broken."""
    message = policy.problem(password, username if username is not None else getattr(user, "username", None))
    if message:
        raise UserError(message)
    if user is not None and user.id is not None:
        hashes = [user.password_hash, *db.session.scalars(
            select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
            .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc()).limit(policy.HISTORY))]
        if any(check_password_hash(h, password) for h in hashes):
            raise UserError(policy.REUSED)


def _remember(user: User, now: dt.datetime) -> None:
    """The user's new password joins their history; only the last ``policy.HISTORY`` are kept."""
    db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, set_at=now))
    db.session.flush()
    keep = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id).order_by(
        PasswordHistory.set_at.desc(), PasswordHistory.id.desc()).limit(policy.HISTORY)
    db.session.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user.id,
                                                     PasswordHistory.id.not_in(keep.scalar_subquery())))


def password_expired(user: User) -> bool:
    """Whether the password is older than ``PASSWORD_MAX_AGE_DAYS`` (0: passwords never expire)."""
    days = int(current_app.config.get("PASSWORD_MAX_AGE_DAYS", 0) or 0)
    since = user.password_changed_at or user.created_at
    return days > 0 and since is not None and since < dt.datetime.now() - dt.timedelta(days=days)


@unit_of_work
def create_user(username: str, role: str, password: str, *, regions: list[str] = (), units: list[str] = (),
                display_name: str | None = None, by: str = "system") -> User:
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise UserError("用户名不能为空，且不超过 64 个字符")
    if role not in ROLES:
        raise UserError(f"未知角色 {role}；可选：{'、'.join(f'{k}（{v}）' for k, v in ROLES.items())}")
    display_name = (display_name or "").strip() or None
    if display_name and len(display_name) > 64:
        raise UserError("显示姓名不超过 64 个字符")
    check_password(password, username)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise UserError(f"用户名 {username} 已存在")
    scopes = _distinct([parse_scope(s, role) for s in [*regions, *units] if s.strip()])
    if role != Role.ADMIN and not scopes:
        raise UserError("除管理员外，每个用户至少需要一个范围（地区或单位）")
    now = dt.datetime.now()
    user = User(username=username, display_name=display_name or username, role=role,
                password_hash=generate_password_hash(password), active=True, failed_logins=0,
                session_version=1, created_at=now, password_changed_at=now, scopes=scopes)
    db.session.add(user)
    db.session.flush()
    _remember(user, now)
    record("user.create", table="users", row_id=user.id, ref=username, who=by,
           new={"role": role, "scopes": [scope_text(s) for s in scopes]})
    return user


@unit_of_work
def set_scopes(user: User, texts: list[str], *, by: str) -> None:
    old = [scope_text(s) for s in user.scopes]
    scopes = _distinct([parse_scope(t, user.role) for t in texts if t.strip()])
    if user.role != Role.ADMIN and not scopes:
        raise UserError("除管理员外，每个用户至少需要一个范围（地区或单位）")
    user.scopes = scopes
    user.session_version += 1  # what they may see changed: sign in again
    record("user.scopes", table="users", row_id=user.id, ref=user.username, who=by, old={"scopes": old},
           new={"scopes": [scope_text(s) for s in scopes]})


@unit_of_work
def set_password(user: User, password: str, *, by: str, action: str = "user.password") -> None:
    """A new password (an admin's reset, ``audit users passwd``, or the user's own change with
    ``action="user.password_change"``): the policy applies, every session of the user ends. One
    unit of work (audit/transaction.py), as every function here that changes a user."""
    check_password(password, user=user)
    now = dt.datetime.now()
    user.password_hash = generate_password_hash(password)
    user.password_changed_at = now
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None
    _remember(user, now)
    record(action, table="users", row_id=user.id, ref=user.username, who=by)


@unit_of_work
def change_own_password(user: User, current: str, new: str) -> None:
    """The signed-in user changes their password: the current one is asked for (a wrong one counts
    as a failed sign-in, so five lock the account), then the policy as for every password."""
    if not check_password_hash(user.password_hash, current or ""):
        _count_failure(user.id, user.username, dt.datetime.now())
        db.session.expire(user)
        raise UserError("当前密码不正确")
    set_password(user, new, by=user.username, action="user.password_change")


@unit_of_work
def set_active(user: User, active: bool, *, by: str) -> None:
    old = user.active
    if old and not active and user.role == Role.ADMIN:
        # another administrator of the whole system (one narrowed to a region manages no users)
        others = db.session.scalar(select(func.count()).select_from(User).where(
            User.role == Role.ADMIN, User.active.is_(True), User.id != user.id,
            ~exists().where(UserScope.user_id == User.id)))
        if not others:
            raise UserError("这是唯一启用的管理员账户，不能停用")
    user.active = active
    user.session_version += 1
    record("user.active", table="users", row_id=user.id, ref=user.username, who=by, old={"active": old},
           new={"active": active})


@unit_of_work
def unlock(user: User, *, by: str) -> None:
    user.failed_logins = 0
    user.locked_until = None
    record("user.unlock", table="users", row_id=user.id, ref=user.username, who=by)


def _distinct(scopes: list[UserScope]) -> list[UserScope]:
    """The scopes without repeats (the same text twice is one scope)."""
    seen, out = set(), []
    for s in scopes:
        if scope_text(s) not in seen:
            seen.add(scope_text(s))
            out.append(s)
    return out


def scope_text(s: UserScope) -> str:
    if s.unit:
        return f"{s.unit_kind}:{s.unit}"
    return "/".join(x for x in (s.district, s.township, s.village) if x)
