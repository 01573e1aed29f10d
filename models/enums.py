"""The closed vocabularies of the system, one definition each: where a finding or a notice stands,
who a user is, how grave a finding is.

Each is a ``StrEnum`` stored as its string: a member *is* its string (``FindingStatus.OPEN ==
"open"``), so the columns, the migrations' CHECK constraints, the change log and the JSON exports
stay what they were, and code that still holds a bare string compares equal. The Chinese label of
a member is defined once, with the member (``FindingStatus.OPEN.label``); the ``{value: label}``
mappings the templates and messages read (``FINDING_STATUSES`` …) are derived from the enums.
"""
from __future__ import annotations

import enum


class Labelled(enum.StrEnum):
    """A ``StrEnum`` whose members are declared ``NAME = "value", "中文"``."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[str, str]:
        """``{value: label}`` in declaration order (what a ``<select>`` or a lookup by string needs)."""
        return {m.value: m.label for m in cls}


class FindingStatus(Labelled):
    """Where a finding stands. A confirmed finding goes into a rectification notice
    (models/rectification.py); closing the notice (销号) closes it. An audit run never reopens a
    closed finding: new facts make new findings (other months), and a closed finding whose facts are
    gone simply stays closed."""

    OPEN = "open", "待复核"
    CONFIRMED = "confirmed", "已确认"
    DISMISSED = "dismissed", "已排除"
    RESOLVED = "resolved", "数据已消除"
    CLOSED = "closed", "已销号"


# A finding still standing against a unit: waiting for review or confirmed, not yet dismissed,
# resolved by the data or closed. The one definition of "active" (``Finding.is_active`` in SQL and
# Python; the summary tables' ``status`` holds the same strings).
ACTIVE_FINDING = (FindingStatus.OPEN, FindingStatus.CONFIRMED)


class NoticeStatus(Labelled):
    """Where a rectification notice stands (models/rectification.py tells its life)."""

    ISSUED = "issued", "已下发，待整改"
    ANSWERED = "answered", "单位已回复，待核验"
    RETURNED = "returned", "已退回，待重新整改"
    CLOSED = "closed", "已销号"


# A notice waiting for the unit's answer; past its deadline it is overdue (``Notice.overdue``).
WAITING_FOR_UNIT = (NoticeStatus.ISSUED, NoticeStatus.RETURNED)


class Role(Labelled):
    """A user's role (models/accounts.py; the ``role`` CHECK constraint lists the same strings)."""

    ADMIN = "admin", "管理员"
    AUDITOR = "auditor", "审计人员"
    OPERATOR = "operator", "经办人"
    INSPECTOR = "inspector", "督查人员"


class Severity(Labelled):
    """How grave a rule's finding is (a rule declares it; ``findings.severity`` stores it)."""

    HIGH = "high", "高"
    MEDIUM = "medium", "中"
    LOW = "low", "低"


FINDING_STATUSES = FindingStatus.labels()
NOTICE_STATUSES = NoticeStatus.labels()
ROLES = Role.labels()
SEVERITIES = Severity.labels()
