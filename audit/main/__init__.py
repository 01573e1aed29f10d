"""The landing blueprint; the web application proper comes with the web issue."""
from flask import Blueprint

bp = Blueprint("main", __name__)
