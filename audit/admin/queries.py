"""Read-only queries of the administration pages: users with their scopes, the audit log, and
whether a scope names anything in the loaded data."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from models import ChangeLog, Person, Position, Post, User, UserScope, Workshop, db

LOG_PAGE = 100


def users(role: str | None = None) -> list[User]:
    q = select(User).options(selectinload(User.scopes)).order_by(User.role, User.username)
    if role:
        q = q.where(User.role == role)
    return list(db.session.scalars(q))


def user(uid: int) -> User | None:
    return db.session.get(User, uid, options=[selectinload(User.scopes)])


def user_log(u: User, limit: int = 20) -> list[ChangeLog]:
    """The latest entries about this user (changes to the account, sign-ins, failures)."""
    q = (select(ChangeLog).where(ChangeLog.table_name == "users", ChangeLog.row_id == u.id)
         .order_by(ChangeLog.id.desc()).limit(limit))
    return list(db.session.scalars(q))


@dataclass
class LogPage:
    rows: list[ChangeLog]
    page: int
    has_next: bool


def log(action: str | None = None, actor: str | None = None, page: int = 1) -> LogPage:
    """Newest first, ``LOG_PAGE`` a page; ``action`` is a prefix (``auth.`` or ``user.scopes``)."""
    page = max(1, page)
    q = select(ChangeLog)
    if action:
        q = q.where(ChangeLog.action.startswith(action, autoescape=True))
    if actor:
        q = q.where(ChangeLog.actor == actor)
    q = q.order_by(ChangeLog.id.desc()).offset((page - 1) * LOG_PAGE).limit(LOG_PAGE + 1)
    rows = list(db.session.scalars(q))
    return LogPage(rows[:LOG_PAGE], page, len(rows) > LOG_PAGE)


def log_actions() -> list[str]:
    """The distinct actions in the log (a few dozen at most), for the filter's suggestions."""
    return list(db.session.scalars(select(ChangeLog.action).distinct().order_by(ChangeLog.action)))


def unknown_scopes(scopes: list[UserScope]) -> list[str]:
    """The scopes that name no region, workshop or employing unit of the loaded data (a typo
    there would quietly show the user nothing). Empty when nothing is loaded yet."""
    from audit.auth.services import scope_text

    if db.session.scalar(select(Post.id).limit(1)) is None:
        return []
    out = []
    for s in scopes:
        if s.unit_kind == "workshop":
            found = exists().where(Post.code == s.unit, Post.kind == "workshop")
        elif s.unit_kind == "employer":
            found = exists().where(Position.unit_key == s.unit)
        else:
            found = None
            for model in (Position, Workshop, Person):
                cond = [model.district == s.district]
                if s.township:
                    cond.append(model.township == s.township)
                if s.village:
                    cond.append(model.village == s.village)
                e = exists().where(*cond)
                found = e if found is None else found | e
        if not db.session.scalar(select(found)):
            out.append(scope_text(s))
    return out


def locked(u: User, now: dt.datetime | None = None) -> bool:
    return bool(u.locked_until and u.locked_until > (now or dt.datetime.now()))
