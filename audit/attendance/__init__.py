"""Operators submit attendance for their own units: a month grid (people × days) or an upload of
the same sheet; validated, stored, and audited at once."""
from flask import Blueprint

bp = Blueprint("attendance", __name__, url_prefix="/attendance")
