"""What the tests of signing in and of the users' administration (tests/auth/) read: the messages, a
user's row, the log, whether a session is alive, sign-in failures per client address."""
from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from models import ChangeLog, db

import web_helpers as wh
from web_helpers import RequestClient

COOKIE = "audit_session"
# the one answer to every refused sign-in (B3): it tells no account's existence or state
REFUSED = "用户名或密码错误，或账户暂不可用"
IDLE_MESSAGE = "您已超过 30 分钟未操作，请重新登录。"
CSRF_MESSAGE = "表单的安全校验未通过"
def log(action: str) -> list[ChangeLog]:
    db.session.rollback()
    return list(db.session.scalars(select(ChangeLog).where(ChangeLog.action == action)
                                   .order_by(ChangeLog.id)))


def signed_in(client) -> bool:
    """Whether the client's session is alive: the dashboard does not send it to the sign-in page."""
    r = client.get("/dashboard/")
    return not (r.status_code == 302 and "/login" in r.headers["Location"])


def text(r) -> str:
    return r.get_data(as_text=True)


def rows(r) -> str:
    """The log table's body (the filter's suggestions name every action too)."""
    page = text(r)
    return page[page.index("<tbody>"):page.index("</tbody>")] if "<tbody>" in page else ""


def fresh(app) -> RequestClient:
    return app.test_client()


def set_seen(client, seconds_ago: int) -> None:
    with client.session_transaction() as sess:
        sess["seen"] = int(time.time()) - seconds_ago


def new_user(client, **fields):
    data = {"username": "op_new", "display_name": "新经办人", "role": "operator",
            "scopes": "workshop:CJ-A1\nemployer:白帝村村民委员会", "password": "secret-pass-1",
            "confirm": "secret-pass-1"} | fields
    return wh.post(client, "/admin/users/new", data)


RATE_MESSAGE = "该地址登录失败次数过多，请约 {} 分钟后再试。"


def from_address(app, ip: str) -> RequestClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def failures(ip: str) -> list[dt.datetime]:
    from models import SignInFailure

    db.session.rollback()
    return list(db.session.scalars(select(SignInFailure.at).where(SignInFailure.ip == ip)))


def move_failures_back(ip: str, minutes: float) -> None:
    from models import SignInFailure

    db.session.rollback()
    for row in db.session.scalars(select(SignInFailure).where(SignInFailure.ip == ip)):
        row.at -= dt.timedelta(minutes=minutes)
    db.session.commit()
