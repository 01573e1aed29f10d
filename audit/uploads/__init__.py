"""Ledger upload in the browser: a dry run that previews what would be added, changed and refused
(every error by row), then the commit; large uploads run in the background with progress shown;
template downloads."""
from flask import Blueprint

bp = Blueprint("uploads", __name__, url_prefix="/uploads")
