"""Rectification to closure (整改): notices to units, the units' answers with evidence, the auditors'
verification, closing (销号) or sending back; overdue notices; the data check of the next audit."""
from flask import Blueprint

bp = Blueprint("rectification", __name__, url_prefix="/notices")
