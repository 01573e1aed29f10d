"""Signed-in sessions as rows (``user_sessions``), for the limit on concurrent sessions (B4).

Each sign-in adds a row whose random id is kept in the (signed) Flask session as ``sid``; every
request of a signed-in user looks its row up, and a missing or ended row signs that browser out.
A user has at most ``MAX_SESSIONS_PER_USER`` live sessions (default 3, 0: no limit): signing in
once more ends the oldest one, which is logged (``auth.session_limit``) and told, on its next
request, why it ended.

Decisions:
- The ``session_version`` logic stays as it was: bumping it (sign-out, password, scopes, state,
  an admin's TOTP reset) voids every session of the user, whatever their rows say. Each row keeps
  the version it was opened under, so a row of another version is no live session and is not
  counted; it is marked ended the next time the user signs in (``void``), without the services
  that bump the version having to know about rows. A session kept signed in across a bump (the
  user's own password change, an admin changing their own account) carries the new version and
  its row is brought up to date on its next request.
- A row whose browser stopped asking (closed without signing out) is not counted once it has been
  idle longer than ``IDLE_TIMEOUT_MINUTES`` or is older than ``SESSION_MAX_HOURS``: those
  sessions ended already, whatever the row says. ``last_seen_at`` is written at most once a
  minute, not on every request.
- Rows ended more than ``KEEP_ENDED`` ago are deleted when their user signs in.
"""
from __future__ import annotations

import datetime as dt
import secrets

from flask import current_app, has_request_context, request
from sqlalchemy import delete, select

from models import User, db
from models.accounts import UserSession

from ..auditlog import record
from ..transaction import unit_of_work

KEEP_ENDED = dt.timedelta(days=30)
SEEN_EVERY = dt.timedelta(seconds=60)  # how stale ``last_seen_at`` may be before it is written again
LIMIT_MESSAGE = ("您的账户在其他地方登录，同时在线的会话超过 {limit} 个，本会话（最早登录的一个）已结束。"
                 "如非本人操作，请立即修改密码。")
ENDED_MESSAGE = "您的登录已失效，请重新登录。"


def limit() -> int:
    return max(0, int(current_app.config.get("MAX_SESSIONS_PER_USER", 3) or 0))


def _stale_since(now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """(last seen before this: idle too long, created before this: past its lifetime or None)."""
    idle = int(current_app.config.get("IDLE_TIMEOUT_MINUTES", 30) or 30)
    hours = int(current_app.config.get("SESSION_MAX_HOURS", 12) or 0)
    created_before = now - dt.timedelta(hours=hours) if hours > 0 else None
    return now - dt.timedelta(minutes=idle) - SEEN_EVERY, created_before


def _browser(ua: str | None) -> str | None:
    from ..admin.logtext import browser

    return browser(ua)[:64] if ua else None


@unit_of_work
def start(user: User) -> str:
    """A new session of ``user`` (just signed in): its id for the Flask session. Rows that are no
    longer live are marked ended; if the live ones are at the limit, the oldest are ended and
    logged. One unit of work: the sign-in is kept with the sessions it ended."""
    now = dt.datetime.now()
    # one sign-in of the user at a time counts and ends sessions (PostgreSQL: the user's row is locked)
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    idle_before, created_before = _stale_since(now)
    live = []
    for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                            UserSession.ended_at.is_(None))
                                  .order_by(UserSession.created_at, UserSession.id)):
        if row.session_version != user.session_version:
            _end(row, "void", now)
        elif row.last_seen_at < idle_before:
            _end(row, "timeout", now)
        elif created_before is not None and row.created_at < created_before:
            _end(row, "expired", now)
        else:
            live.append(row)
    most = limit()
    if most > 0:
        for row in live[:max(0, len(live) - most + 1)]:
            _end(row, "limit", now)
            record("auth.session_limit", table="users", row_id=user.id, ref=user.username,
                   who=user.username,
                   new={"limit": most, "started": row.created_at.isoformat(timespec="seconds"),
                        "session_ip": row.ip, "session_browser": row.user_agent})
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                 UserSession.ended_at < now - KEEP_ENDED))
    sid = secrets.token_urlsafe(32)
    ip = request.remote_addr[:64] if has_request_context() and request.remote_addr else None
    ua = request.user_agent.string if has_request_context() else None
    db.session.add(UserSession(id=sid, user_id=user.id, session_version=user.session_version, created_at=now,
                               last_seen_at=now, ip=ip, user_agent=_browser(ua)))
    db.session.flush()
    return sid


def _end(row: UserSession, reason: str, now: dt.datetime) -> None:
    row.ended_at = now
    row.ended_reason = reason


def check(user: User, sid: str | None) -> str | None:
    """None when ``sid`` is a live session of ``user`` (its ``last_seen_at`` refreshed, at most once
    a minute, and its version brought up to date); otherwise the message telling why it ended.
    Commits what it writes."""
    row = db.session.get(UserSession, sid) if isinstance(sid, str) and sid else None
    if row is None or row.user_id != user.id:
        return ENDED_MESSAGE
    if row.ended_at is not None:
        return LIMIT_MESSAGE.format(limit=limit()) if row.ended_reason == "limit" else ENDED_MESSAGE
    now = dt.datetime.now()
    if row.session_version != user.session_version or now - row.last_seen_at > SEEN_EVERY:
        # the request passed Flask-Login's version check: this session carries the user's version
        row.session_version = user.session_version
        row.last_seen_at = now
        db.session.commit()
    return None


def end(sid: str | None, reason: str) -> None:
    """Mark one session ended (sign-out, timeout, lifetime); the caller commits."""
    row = db.session.get(UserSession, sid) if isinstance(sid, str) and sid else None
    if row is not None and row.ended_at is None:
        _end(row, reason, dt.datetime.now())


def live(user: User) -> list[UserSession]:
    """The user's sessions that may still be in use, oldest first (for the admin's user page)."""
    idle_before, created_before = _stale_since(dt.datetime.now())
    q = select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
                                  UserSession.session_version == user.session_version,
                                  UserSession.last_seen_at >= idle_before)
    if created_before is not None:
        q = q.where(UserSession.created_at >= created_before)
    return list(db.session.scalars(q.order_by(UserSession.created_at)))
