"""Administration: users, their roles and scopes."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

@bp.before_request
def _system_admins_only():
    """User administration is for the system's own administrators: an admin whose account is
    narrowed to a region (a county admin in a city's system) reads their region's data but does
    not manage users."""
    from flask_login import current_user

    from models import Role

    from ..access import deny, scope

    if current_user.is_authenticated and current_user.role == Role.ADMIN and not scope().everything:
        deny("admin pages: admin narrowed to a region")
