"""Dashboards per role: findings by category and rule, money at risk, the monthly trend, the worst
units, as server-drawn SVG charts; every figure links to the list behind it."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
