"""Findings: the list with filters and paging, the detail with its evidence in plain Chinese, and
the review (confirm, dismiss with a reason, in bulk too)."""
from flask import Blueprint

bp = Blueprint("findings", __name__, url_prefix="/findings")

from ..engine import summary  # noqa: E402,F401  (follows status changes)
