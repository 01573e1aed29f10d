"""The reader's limits as the application configures them (``IMPORT_MAX_*``): for the ledger's
import, the uploads' checks and the precheck's drafts, web and CLI alike."""
from __future__ import annotations

from flask import current_app

from .sources import Limits


def limits_from_config() -> Limits:
    """``Limits`` from the running application's configuration (an application context is needed)."""
    return Limits.from_config(current_app.config)
