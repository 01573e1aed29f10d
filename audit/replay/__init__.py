"""审计回放: what the audit rules found as of an earlier date, with the data and parameters in force
then, shown and exported without changing anything of the current findings (their states, money,
history, notices). The command line's ``audit run --as-of DATE --replay`` and the web's form share
``services.replay``; replays are kept in tables of their own (models/replay.py)."""
from flask import Blueprint

bp = Blueprint("replay", __name__, url_prefix="/replay")
