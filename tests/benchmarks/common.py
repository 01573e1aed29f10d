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
