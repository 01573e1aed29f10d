"""Services own their transactions: a service function decorated ``@unit_of_work`` is one unit of
work. It commits when it returns and rolls back when it raises (a ``UserError`` the view shows,
or anything else), so the change and its change-log entry (``audit.auditlog.record``, written in
the same session) are kept or dropped together, and a view never commits or rolls back for it.

A unit of work called inside another (``change_own_password`` setting the password through
``set_password``) joins the outer one: only the outermost commits or rolls back.
"""
from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from models import db

P = ParamSpec("P")
R = TypeVar("R")

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("unit_of_work_depth", default=0)


def unit_of_work(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        outermost = _depth.get() == 0
        token = _depth.set(_depth.get() + 1)
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            if outermost:
                db.session.rollback()
            raise
        finally:
            _depth.reset(token)
        if outermost:
            db.session.commit()
        return result

    return run
