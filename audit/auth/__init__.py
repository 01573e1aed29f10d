"""Sign-in, sign-out, the session's life, and the users' command line."""
from flask import Blueprint

bp = Blueprint("auth", __name__)
