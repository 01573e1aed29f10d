"""B9: a request of someone not signed in carries at most ANONYMOUS_MAX_BODY_BYTES (64 KiB): a larger
Content-Length answers 413 with a Chinese page before a byte of the body is read, and a body without
one (chunked) is cut off at the limit as it is read. Signed-in users keep MAX_CONTENT_LENGTH. Behind
gunicorn, gunicorn.conf.py bounds each request's time and its request line and headers."""
from __future__ import annotations

import io
import runpy
from pathlib import Path

from web_helpers import PASSWORD, csrf_from, login, token

MB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


class Counted(io.RawIOBase):
    """A request body of ``size`` bytes that counts what the application reads of it."""

    def __init__(self, size: int):
        self.size, self.pos, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the body by seeking to its end and back
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf) -> int:
        n = max(0, min(len(buf), self.size - self.pos))
        buf[:n] = b"a" * n
        self.pos += n
        self.read_bytes += n
        return n


def test_a_1_mb_sign_in_is_refused_without_reading_it(app, client):
    body = Counted(MB)
    resp = client.post("/login", input_stream=body, content_length=MB,
                       content_type="application/x-www-form-urlencoded")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 413
    assert "请求内容过大：登录前只能提交很小的表单。" in page
    assert body.read_bytes == 0


def test_a_chunked_body_is_cut_off_at_the_limit(app, client):
    """No Content-Length, the server terminating the stream (as gunicorn does for chunked bodies)."""
    body = Counted(MB)
    resp = client.post("/login", input_stream=body, content_type="application/x-www-form-urlencoded",
                       environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413
    assert "请求内容过大" in resp.get_data(as_text=True)
    assert body.read_bytes <= 64 * 1024  # never more than the limit


def test_the_limit_is_a_setting(app, client):
    app.config["ANONYMOUS_MAX_BODY_BYTES"] = 1024
    page = client.get("/login").get_data(as_text=True)
    form = {"username": "x" * 2000, "password": "y", "csrf_token": csrf_from(page)}
    assert client.post("/login", data=form).status_code == 413
    app.config["ANONYMOUS_MAX_BODY_BYTES"] = 64 * 1024
    assert client.post("/login", data=form).status_code == 200  # the form again, with its message


def test_signing_in_still_works_and_signed_in_users_keep_the_upload_limit(web, client):
    resp = login(client, "auditor_fj", PASSWORD)
    assert resp.status_code == 302
    resp = client.post("/uploads/", content_type="multipart/form-data",
                       data={"files": (io.BytesIO(b"x" * MB), "notes.txt"),
                             "csrf_token": token(client, "/uploads/")})
    assert resp.status_code == 303  # refused for its type (a flash message), not for its size


def test_gunicorn_configuration_bounds_requests():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["worker_class"] == "sync"  # a request that outlives the timeout ends with its worker
    assert 30 <= conf["timeout"] <= 300 and conf["graceful_timeout"] <= conf["timeout"]
    assert conf["limit_request_line"] <= 8190 and conf["limit_request_fields"] <= 100
    assert conf["limit_request_field_size"] <= 8190
    assert 2 <= conf["workers"] <= 16
