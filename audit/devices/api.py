"""``/api/v1``: the attendance API of devices, and its OpenAPI description.

Decisions:
- A bearer token, never a session: no CSRF (``audit.web`` exempts this blueprint), no cookie is
  read for authority or set. Every answer is JSON, errors included (``{"error": "…"}`` in Chinese).
- 401 for a missing, unknown or revoked token, with ``WWW-Authenticate: Bearer``. Such calls are
  logged (``device.unauthorized``) at most once a minute per client address, so that a flood of
  bad tokens cannot flood the hash-chained audit log.
- 429 with ``Retry-After`` beyond ``DEVICE_RATE_LIMIT`` calls per ``DEVICE_RATE_WINDOW_SECONDS`` per
  token (``audit.ratelimit``; the first refusal of a window is logged).
- 400 for a body that is not ``{"records": [...]}``; 413 for more than 1000 records or a body over
  ``DEVICE_MAX_BODY_BYTES``. A call answered 400 or 413 counts for the rate limit and is logged.
- 200 otherwise, one result per record, in order (``services.receive``).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from models import ChangeLog, DeviceCall, db

from ..auditlog import record_now
from ..ratelimit import retry_after
from ..web import body_limit
from . import api_bp
from . import services as s

OPENAPI = Path(__file__).with_name("openapi.json")
UNAUTHORIZED = {
    "missing": "缺少设备令牌：请在请求头中携带 Authorization: Bearer <令牌>",
    "malformed": "设备令牌格式不对：请求头应为 Authorization: Bearer <令牌>",
    "unknown": "设备令牌无效：请向管理员核对令牌",
    "revoked": "设备令牌已被吊销：请向管理员申请新的令牌",
}


def _json_error(status: int, message: str, **headers) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    for k, val in headers.items():
        resp.headers[k.replace("_", "-")] = str(val)
    return resp


def error_page(exc: HTTPException) -> Response:
    """Every error under /api/ as JSON, not the HTML error page (``audit.web._error_page`` calls
    this: a 405 or 404 matches no route of this blueprint, and the application's handlers of a
    code come before a blueprint's handler of all HTTP errors)."""
    messages = {400: "请求格式错误：请求体应为 JSON 对象 {\"records\": [...]}", 404: "接口不存在",
                405: "此接口不接受这种请求方式", 413: g.get("body_too_large") or "请求内容过大"}
    code = getattr(exc, "code", None) or 500
    return _json_error(code, messages.get(code, "系统错误，请稍后再试" if code >= 500 else "请求有误"))


@api_bp.after_request
def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"  # answers about people's attendance: kept by no cache
    return resp


def _log_unauthorized(why: str, name: str | None) -> None:
    ip = (request.remote_addr or "")[:64]
    since = dt.datetime.now() - dt.timedelta(minutes=1)
    log = ChangeLog.__table__
    with db.engine.connect() as conn:
        logged = conn.scalar(select(log.c.id).where(log.c.at > since, log.c.action == "device.unauthorized",
                                                    log.c.row_ref == ip).limit(1))
    if logged is None:
        record_now("device.unauthorized", table="device_tokens", ref=ip, who="anonymous",
                   new={"reason": why, **({"device": name} if name else {})})


def _refuse_call(tok, status: int, message: str, now: dt.datetime) -> Response:
    """A call with a good token but a bad body: counted and logged, then answered."""
    s.refuse_call(tok, status, message, now)
    return _json_error(status, message)


@api_bp.post("/attendance")
@body_limit("DEVICE_MAX_BODY_BYTES", "请求内容过大：每次最多 {mib} MiB（最多 1000 条记录）")
def attendance():
    tok, why = s.authenticate(request.headers.get("Authorization"))
    if why != "ok":
        _log_unauthorized(why, tok.name if tok is not None else None)
        return _json_error(401, UNAUTHORIZED[why], WWW_Authenticate='Bearer realm="api"')
    now = dt.datetime.now()
    limit = int(current_app.config["DEVICE_RATE_LIMIT"])
    window = int(current_app.config["DEVICE_RATE_WINDOW_SECONDS"])
    if limit > 0 and window > 0:
        calls = DeviceCall.__table__
        seconds = retry_after(calls.c.at, calls.c.token_id == tok.id, limit=limit,
                              window=dt.timedelta(seconds=window), now=now, action="device.rate_limited",
                              ref=tok.name, table="device_tokens", who=s.actor_of(tok.name),
                              new={"device": tok.name, "limit": limit, "window_seconds": window})
        if seconds is not None:
            return _json_error(429, f"调用过于频繁：每个设备每 {window} 秒最多 {limit} 次，"
                                    f"请 {seconds} 秒后再试", Retry_After=seconds)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return _refuse_call(tok, 400, "请求格式错误：请求体应为 JSON 对象 {\"records\": [...]}"
                                      "（Content-Type: application/json）", now)
    records = body["records"]
    if len(records) > s.MAX_RECORDS:
        return _refuse_call(tok, 413, f"一次最多提交 {s.MAX_RECORDS} 条记录，本次 {len(records)} 条："
                                      "请分批提交", now)
    try:
        receipt = s.receive(tok, records, now=now)
    except s.Busy as exc:
        return _json_error(503, str(exc), Retry_After=5)
    return jsonify({"results": receipt.results})


# its own body limit although no one is signed in (``audit.web._body_limit``): 1000 records are
# about 250 KiB, beyond the 64 KiB allowed before a sign-in
attendance.bearer_token = True


@api_bp.get("/openapi.json")
def openapi():
    """The OpenAPI description kept in the repository (audit/devices/openapi.json)."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")
