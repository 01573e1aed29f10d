"""The web application's wiring: sign-in, CSRF, the idle timeout, security headers, error pages,
template helpers; and what every feature's views use (``body_limit``, ``attachment``,
``size_text``). The features' blueprints are wired in by ``audit.registry``: nothing here imports
a feature's views, so that any view may import this module."""
from __future__ import annotations

import time

from flask import Flask, Request, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from .money import yuan

login_manager = LoginManager()
csrf = CSRFProtect()

# No inline script or style anywhere: every page's script and style come from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# The largest id or number a URL, a query string or a form may carry: the database's 32-bit
# INTEGER (ids, pages). Anything beyond is refused (400 or 404), never carried to the database,
# where it would overflow (SQLite: "Python int too large", PostgreSQL: out of range) into a 500.
MAX_INT = 2**31 - 1


class BoundedInt(IntegerConverter):
    """``<int:…>`` in every route: 0 … MAX_INT; a longer number matches no route (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's
        super().__init__(map, fixed_digits, min, MAX_INT if max is None else max, signed)
        if not signed and not fixed_digits:
            self.regex = r"\d{1,10}"  # no more digits than MAX_INT has: a huge number is never converted


def bounded_int(value) -> int:
    """``int`` for ``request.args.get(..., type=int)`` and ``request.form.get(..., type=int)``: text
    that is no number gives the default, as before; a number out of range answers 400."""
    text = str(value).strip()
    if len(text.lstrip("+-")) > 10:
        raise BadRequest("数字超出范围。")
    number = int(text)
    if not -MAX_INT <= number <= MAX_INT:
        raise BadRequest("数字超出范围。")
    return number


class _Parameters(ImmutableMultiDict):
    """Query strings and forms: ``get(..., type=int)`` is bounded (``bounded_int``)."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's names
        return super().get(key, default, bounded_int if type is int else type)


class AuditRequest(Request):
    parameter_storage_class = _Parameters


class _SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, except under ``/api/``: the devices' API authenticates with a
    bearer token alone, so a browser's session cookie is neither read there (no signed-in user, no
    session hooks, no redirect to a sign-in page) nor set."""

    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith(API_PREFIX):
            return None
        return super().save_session(app, session, response)


API_PREFIX = "/api/"


def init_web(app: Flask) -> None:
    app.request_class = AuditRequest
    app.session_interface = _SessionInterface()
    app.url_map.converters["int"] = BoundedInt  # before the blueprints' routes are added
    hops = int(app.config.get("PROXY_FIX_X_FOR", 0) or 0)
    if hops > 0:  # behind a reverse proxy: the client's address and scheme from its X-Forwarded-* headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    # before CSRF's own hook, which reads the form: the body is bounded before anything reads it
    app.before_request(_fresh_request_state)
    app.before_request(_body_limit)
    csrf.init_app(app)

    app.before_request(_idle_timeout)
    app.after_request(_headers)
    app.jinja_env.globals.update(yuan=yuan)
    app.context_processor(_context)
    for code in (400, 403, 404, 405, 413, 500):
        app.register_error_handler(code, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(OverflowError, _out_of_range)
    from sqlalchemy.exc import DataError

    app.register_error_handler(DataError, _out_of_range)


# What is cached on ``g`` for one request. In production every request has its own application
# context; a test that holds one context around many requests (and several clients) would
# otherwise see the previous request's user, scope and CSRF token.
_PER_REQUEST = ("_login_user", "scope", "csrf_token", "denial_logged", "body_too_large", "summary_stamp")


def _fresh_request_state():
    """Each request starts clean: nothing cached from an earlier request, and no transaction left
    open (on SQLite an old read snapshot would make the request's first write fail once another
    connection — the audit log, an audit run — has written)."""
    for key in _PER_REQUEST:
        g.pop(key, None)
    from models import db

    db.session.rollback()


# A body of at most this many bytes beyond a view's own limit (``body_limit``): the form's other
# fields and the multipart boundaries and headers.
FORM_SLACK = 64 << 10


def body_limit(config_key: str, message: str):
    """A view whose request body is bounded by ``config_key`` (bytes; plus ``FORM_SLACK``) rather
    than MAX_CONTENT_LENGTH; ``message`` (Chinese, ``{mib}`` the limit in MiB) is the 413 page's."""

    def mark(view):
        view.body_limit = (config_key, message)
        return view

    return mark


def _body_limit():
    """B9, B8: the body is bounded before it is read. Someone not signed in may send at most
    ANONYMOUS_MAX_BODY_BYTES (the sign-in form needs little); a view marked ``body_limit`` takes
    its own limit (a ``bearer_token`` view, the devices' API, whoever calls it: its token is its
    sign-in); everyone else MAX_CONTENT_LENGTH. A Content-Length beyond the limit answers 413
    at once, the body unread; a body without one (chunked) is cut off at the limit as it is read
    (Flask's per-request ``max_content_length``, which Werkzeug's form parser honours)."""
    if request.endpoint == "static":
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "bearer_token", False):  # an API with a token of its own (audit/devices/api.py)
        marked = view.body_limit
        limit = int(_config(marked[0]))
        message = marked[1].format(mib=f"{limit / 2**20:g}")
    elif not current_user.is_authenticated:
        limit = int(_config("ANONYMOUS_MAX_BODY_BYTES"))
        message = "请求内容过大：登录前只能提交很小的表单。"
    else:
        marked = getattr(current_app.view_functions.get(request.endpoint or ""), "body_limit", None)
        if marked is None:
            return None
        limit = int(_config(marked[0])) + FORM_SLACK
        message = marked[1].format(mib=f"{int(_config(marked[0])) / 2**20:g}")
    request.max_content_length = limit
    g.body_too_large = message  # the 413 page's words, if Werkzeug stops the read later
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(message)
    # chunked: read now, at most ``limit`` bytes (kept for the form parser). Werkzeug would
    # otherwise parse the first ``limit`` bytes as if they were the whole form (gunicorn)
    if (request.content_length is None and request.environ.get("wsgi.input_terminated")
            and len(request.get_data(cache=True)) >= limit):
        raise RequestEntityTooLarge(message)
    return None


def _idle_timeout():
    """An authenticated session idle for longer than IDLE_TIMEOUT_MINUTES ends (checked here, on
    the server: a copied cookie does not outlive it)."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = int(time.time())
    seen = session.get("seen")
    limit = 60 * int(_config("IDLE_TIMEOUT_MINUTES"))
    if seen is not None and now - int(seen) > limit:
        from .auth.services import sign_out

        sign_out(current_user, "timeout")
        logout_user()
        session.clear()
        flash("您已超过 30 分钟未操作，请重新登录。", "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    session["seen"] = now
    return None


def _config(key: str):
    from flask import current_app

    return current_app.config[key]


def _headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if current_user.is_authenticated and request.endpoint != "static":
        # pages, downloads (CSV, XLSX, PDF) and JSON carry personal data: kept by no cache, not even
        # for revalidation (send_file's "no-cache" would keep a copy on disk)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Pragma"] = "no-cache"
        resp.headers.pop("Expires", None)
        resp.headers.pop("ETag", None)
        resp.headers.pop("Last-Modified", None)
    return resp


def _context():
    from .access import scope

    ctx = {}
    if current_user.is_authenticated:
        ctx["scope"] = scope()
    return ctx


ERRORS = {
    400: ("请求有误", "提交的内容不完整或格式不对。"),
    403: ("无权访问", "您没有权限查看或修改此内容。此次访问已记录。"),
    404: ("未找到", "您要找的内容不存在，或不在您的管辖范围内。"),
    405: ("不允许的操作", "此页面不接受这种请求方式。"),
    413: ("文件过大", "上传的文件超过了系统允许的大小。"),
    500: ("系统错误", "系统出现错误，请稍后再试；如果一直出现，请联系管理员。"),
}


def _error_page(exc):
    code = getattr(exc, "code", 500) or 500
    api_error_page = current_app.extensions.get("api_error_page")  # audit.registry: the devices' API
    if request.path.startswith(API_PREFIX) and api_error_page:  # JSON, and sets no cookie
        return api_error_page(exc)
    if (code == 404 and request.url_rule is not None and request.endpoint != "static"
            and current_user.is_authenticated):
        # a signed-in user asked a page for an object that does not exist or is not theirs to see
        # (the answer does not say which): logged like a 403, naming what was asked (once: a
        # lookup through ``access.not_found_in_scope`` has logged it already)
        from .access import log_not_found

        asked = " ".join(f"{k}={v}" for k, v in (request.view_args or {}).items())
        log_not_found(request.endpoint or "", asked or request.path)
    title, text = ERRORS.get(code, ERRORS[500])
    detail = getattr(exc, "description", None) if code in (400, 413) else None
    if code == 413 and detail == RequestEntityTooLarge.description:  # Werkzeug's English words
        detail = g.get("body_too_large")
    return render_template("error.html", code=code, title=title, text=text, detail=detail), code


def attachment(resp):
    """A download is never shown inline, sniffed, or given the page's rights."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def size_text(n: int | None) -> str:
    if n is None:
        return "—"
    if n < 1024:
        return f"{n} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1 << 20):.1f} MB"


def _out_of_range(exc):
    """A number the database cannot hold (a page, an id) that got past ``bounded_int``: the request
    was bad (400), not the system (500). Whatever the request did is rolled back."""
    from models import db

    db.session.rollback()
    return render_template("error.html", code=400, title=ERRORS[400][0],
                           text="请求中的数值超出范围或格式不对。", detail=None), 400


def _csrf_error(exc):
    return render_template("error.html", code=400, title="页面已过期",
                           text="表单的安全校验未通过（页面可能已过期）。请刷新页面后重试。",
                           detail=None), 400


def findings_reader():
    """The findings as the signed-in user may read them: the people in their scope, explanations
    without the others (``evidence.for_reader``): the reader of the findings' and the replays'
    exports (``audit.engine.export.finding_records``)."""
    from sqlalchemy import select

    from models import Person, db

    from .access import scope
    from .findings.evidence import for_reader

    sc = scope()
    visible = None if sc.everything else set(db.session.scalars(select(Person.id).where(sc.persons())))

    def read(row) -> tuple[set[int], str]:
        ids = set(row["person_ids"] or [])
        shown = for_reader(row["evidence"], row["explanation"], sc, posts=False)
        return (ids if visible is None else ids & visible), shown.explanation

    return read
