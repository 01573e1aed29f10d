"""Fixtures of the tests of 考勤填报."""
from __future__ import annotations

import pytest

from attendance_web import AS_OF


@pytest.fixture(autouse=True)
def _as_of(app):
    app.config["AUDIT_AS_OF"] = AS_OF  # the audit after a submission replays this date
