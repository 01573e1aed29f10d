"""Attendance devices (考勤设备): their tokens (CLI and admin pages) and the API they push
check-ins to, ``POST /api/v1/attendance`` (shared/docs/precheck.md, "Attendance from devices")."""
from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
