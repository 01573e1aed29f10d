"""The runs of the scheduled jobs (``audit scheduler``): one row per job and period (the day,
hour or month a run is for), so a job never runs twice for the same period; a failed run may be
retried (its row is taken over)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .types import MaskedText

JOB_RUN_STATUSES = {"running": "运行中", "succeeded": "成功", "failed": "失败"}


class JobRun(Base):
    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))  # the stable id of a declared job (audit.scheduler.jobs)
    period: Mapped[str] = mapped_column(String(32))  # what the run is for: 2026-12-01, 2026-12-01T21, 2026-11
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # running / succeeded / failed
    error: Mapped[str | None] = mapped_column(MaskedText)
    summary: Mapped[str | None] = mapped_column(MaskedText)  # what the run did, in Chinese
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("job_id", "period", name="uq_job_runs_job_period"),)
