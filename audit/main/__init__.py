"""The landing page (``/``: the dashboard, or the sign-in page) and ``/healthz``."""
from flask import Blueprint

bp = Blueprint("main", __name__)
