"""Configuration from the environment. Secrets never come from the repository: they come from
environment variables, or from files the app creates in its instance folder (which git ignores)."""
from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

_OFF = ("0", "false", "no", "off")  # what a switch set in the environment reads as "off"


def _secret_file(instance: Path, name: str) -> str:
    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def from_environment(instance_path: str, given: dict | None = None) -> dict:
    """Settings from the environment, for every key that ``given`` does not set already. Secrets
    are read (or created) only when needed."""
    given = given or {}
    instance = Path(instance_path)
    cfg: dict = {
        # Bounds checked on zip and xlsx files before anything is parsed.
        "IMPORT_MAX_UNCOMPRESSED_BYTES": int(os.environ.get("IMPORT_MAX_UNCOMPRESSED_BYTES", 4 << 30)),
        "IMPORT_MAX_ENTRIES": int(os.environ.get("IMPORT_MAX_ENTRIES", 2000)),
        "IMPORT_MAX_RATIO": int(os.environ.get("IMPORT_MAX_RATIO", 1000)),
        # ... and counted again while decompressing (never trusting the declared sizes); a sheet of an
        # xlsx is read without trusting its declared dimension, up to this many rows and columns, and
        # for at most this many seconds.
        "IMPORT_MAX_XLSX_ROWS": int(os.environ.get("IMPORT_MAX_XLSX_ROWS", 2_000_000)),
        "IMPORT_MAX_XLSX_COLUMNS": int(os.environ.get("IMPORT_MAX_XLSX_COLUMNS", 200)),
        "IMPORT_MAX_XLSX_SECONDS": float(os.environ.get("IMPORT_MAX_XLSX_SECONDS", 600)),
        # A check stops after this many row errors (saying so): a file of junk rows cannot fill memory.
        "IMPORT_MAX_ERRORS": int(os.environ.get("IMPORT_MAX_ERRORS", 10_000)),
        # PostgreSQL: a CSV of attendance or wages from this many rows takes the fast path
        # (audit/ledger/fast.py)
        "IMPORT_FAST_MIN_ROWS": int(os.environ.get("IMPORT_FAST_MIN_ROWS", 10_000)),
        # The web application's session: idle sessions end after 30 minutes (checked on the
        # server, see audit/web.py); the cookie is HttpOnly, SameSite=Lax, and Secure when
        # SESSION_COOKIE_SECURE=true (behind HTTPS).
        "IDLE_TIMEOUT_MINUTES": int(os.environ.get("IDLE_TIMEOUT_MINUTES", 30)),
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(minutes=int(os.environ.get("IDLE_TIMEOUT_MINUTES", 30))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "").lower() == "true",
        "SESSION_COOKIE_NAME": "audit_session",
        "REMEMBER_COOKIE_DURATION": dt.timedelta(seconds=0),
        # P2: a session ends this many hours after sign-in however active it is (0: no limit).
        "SESSION_MAX_HOURS": int(os.environ.get("SESSION_MAX_HOURS", 12)),
        # B4: a password older than this many days must be changed after sign-in (0, the default: never).
        "PASSWORD_MAX_AGE_DAYS": int(os.environ.get("PASSWORD_MAX_AGE_DAYS", 0)),
        # B4, second factor: once a user has enrolled TOTP, every sign-in asks for a code (no
        # setting changes that). TOTP_ENFORCE (default on) also makes the roles of
        # TOTP_REQUIRED_ROLES enrol at their next sign-in before doing anything else; the demo
        # (bin/run) and the tests switch it off (README "Accounts and security").
        "TOTP_ENFORCE": os.environ.get("TOTP_ENFORCE", "true").strip().lower() not in _OFF,
        "TOTP_REQUIRED_ROLES": os.environ.get("TOTP_REQUIRED_ROLES", "admin,auditor"),
        "TOTP_ISSUER": os.environ.get("TOTP_ISSUER", "公益性岗位审计"),  # the name an authenticator app shows
        # B4: at most this many signed-in sessions per user (0: no limit); one more ends the oldest.
        "MAX_SESSIONS_PER_USER": int(os.environ.get("MAX_SESSIONS_PER_USER", 3)),
        # Sign-in per client address: this many failures within the window refuse further attempts
        # from it (429) until the oldest leaves the window; 0 turns it off. Counted in the database.
        "SIGNIN_IP_LIMIT": int(os.environ.get("SIGNIN_IP_LIMIT", 20)),
        "SIGNIN_IP_WINDOW_MINUTES": int(os.environ.get("SIGNIN_IP_WINDOW_MINUTES", 15)),
        # Uploads (ledger bundles, attendance sheets) larger than this are refused with 413.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_BYTES", 512 << 20)),
        # Uploads beyond this size are checked and loaded in the background, with progress shown.
        "UPLOAD_BACKGROUND_BYTES": int(os.environ.get("UPLOAD_BACKGROUND_BYTES", 2 << 20)),
        # P6: the bundle of an upload whose job died with its process is kept this long for 重新检查 /
        # 重新导入, then deleted (it holds ID numbers in clear); see audit/uploads/storage.py.
        "UPLOAD_KEEP_FAILED_HOURS": int(os.environ.get("UPLOAD_KEEP_FAILED_HOURS", 24)),
        # B9: a request of someone not signed in may carry at most this many bytes (the sign-in form
        # needs little); checked on Content-Length before the body is read, and while it is read.
        "ANONYMOUS_MAX_BODY_BYTES": int(os.environ.get("ANONYMOUS_MAX_BODY_BYTES", 64 << 10)),
        # B8: an operator's attendance sheet (one unit, one month: well under 1 MB) may be at most this big.
        "ATTENDANCE_MAX_UPLOAD_BYTES": int(os.environ.get("ATTENDANCE_MAX_UPLOAD_BYTES", 4 << 20)),
        # the attendance API of devices (audit/devices/api.py): a call's body, calls per token and window
        "DEVICE_MAX_BODY_BYTES": int(os.environ.get("DEVICE_MAX_BODY_BYTES", 2 << 20)),
        "DEVICE_RATE_LIMIT": int(os.environ.get("DEVICE_RATE_LIMIT", 60)),
        "DEVICE_RATE_WINDOW_SECONDS": int(os.environ.get("DEVICE_RATE_WINDOW_SECONDS", 60)),
        # P9: PDF reports one user may have generated within a minute (counted in the database); 0: no limit.
        "PDF_PER_MINUTE": int(os.environ.get("PDF_PER_MINUTE", 10)),
        # Behind a reverse proxy: how many proxies set X-Forwarded-For / -Proto (0, the default: none;
        # trusting the header without a proxy would let a client choose its own address).
        "PROXY_FIX_X_FOR": int(os.environ.get("PROXY_FIX_X_FOR", 0)),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
    if "SQLALCHEMY_DATABASE_URI" not in given:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'audit.sqlite'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        cfg["SQLALCHEMY_DATABASE_URI"] = url
    if "SECRET_KEY" not in given:
        cfg["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_file(instance, "secret_key")
    if "AUDIT_PII_KEY" not in given:
        cfg["AUDIT_PII_KEY"] = os.environ.get("AUDIT_PII_KEY") or _secret_file(instance, "pii.key")
    return cfg
