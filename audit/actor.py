"""Who a command-line action is recorded as, in the audit log and the rows it writes."""
from __future__ import annotations

import getpass


def actor_name() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"
