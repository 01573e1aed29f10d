"""One scheduler at a time. On PostgreSQL a session-level advisory lock held on a dedicated
connection kept open for the life of the process; on SQLite an exclusive ``flock`` on
``<instance>/scheduler.lock``. Either is released by the operating system or the server when the
process ends, however it ends (kill -9 included), so a dead scheduler never blocks the next one."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

# pg_advisory_lock's key: any constant the application uses for this lock only ("audit-sc").
ADVISORY_KEY = 0x61756469742D7363 & 0x7FFFFFFFFFFFFFFF


class SchedulerLock:
    """``acquire()`` takes the lock, waiting for it when another process holds it (``on_wait`` is
    called once, before waiting); ``acquire(wait=False)`` answers False instead of waiting."""

    def __init__(self, engine: Engine, instance_path: str):
        self.engine = engine
        self.path = Path(instance_path) / "scheduler.lock"
        self._conn: Connection | None = None
        self._fh = None

    @property
    def kind(self) -> str:
        return "postgresql" if self.engine.dialect.name == "postgresql" else "file"

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fh is not None

    def acquire(self, wait: bool = True, on_wait: Callable[[], None] | None = None) -> bool:
        if self.held:
            return True
        if self.kind == "postgresql":
            return self._acquire_pg(wait, on_wait)
        return self._acquire_file(wait, on_wait)

    def _acquire_pg(self, wait: bool, on_wait) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            if not got:
                if not wait:
                    conn.close()
                    return False
                if on_wait:
                    on_wait()
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_KEY})
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return True

    def _acquire_file(self, wait: bool, on_wait) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - kept open (and locked) for the life of the process
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    fh.close()
                    return False
                if on_wait:
                    on_wait()
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except BaseException:
            fh.close()
            raise
        self._fh = fh
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            finally:
                self._conn.close()
                self._conn = None
        if self._fh is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
