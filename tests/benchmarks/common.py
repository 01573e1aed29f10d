"""What both benchmark scripts need: run ``audit`` as a process and time it; a scratch
PostgreSQL database; the environment of a benchmark run."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

PG_DEFAULT = os.environ.get("AUDIT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def audit(args: list[str], env: dict) -> float:
    """Run ``audit ARGS`` in a fresh process; its wall-clock seconds (exit on failure)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from audit.cli import main; main()", *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"audit {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - started


def base_env() -> dict:
    env = dict(os.environ, AUDIT_PII_KEY="benchmark-key-" + "x" * 40, SECRET_KEY="benchmark")
    env.pop("DATABASE_URL", None)
    return env


@contextmanager
def scratch_pg(server_url: str, name: str):
    """A database ``name`` created on the server for the benchmark and dropped afterwards; yields its URL."""
    admin = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with eng.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        eng.dispose()


# -- signed-in web clients (load_web.py, bench_city.py) ------------------------------------------
PASSWORD = "load-test-password-1"  # of the auditors the load benchmarks create
PAGES = {  # what a signed-in auditor's client fetches, in turn
    "dashboard": "/dashboard/",
    "findings": "/findings/",
    "findings?category": "/findings/?category=phantom_salary",
    "findings?status=all&sort=amount": "/findings/?status=all&sort=amount",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign_in(base: str, username: str = "auditor", timeout: float = 60):
    """A cookie-keeping opener signed in through the login form, as a browser would."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=timeout).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
    landed = opener.open(base + "/login", data=data, timeout=2 * timeout)
    assert landed.geturl().endswith("/dashboard/"), landed.geturl()
    return opener


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def lines_below_header(path, encoding: str = "utf-8") -> int:
    """The lines of a CSV file below its header (the rows, when no cell holds a line break)."""
    with open(path, encoding=encoding) as fh:
        return sum(1 for _ in fh) - 1
