"""Browsing what was imported: persons (one person's file), positions, workshops (reported versus
computed figures), import batches and audit runs — all within the user's scope."""
from flask import Blueprint

bp = Blueprint("browse", __name__)
