"""SQLAlchemy models of the audit system. Migrations live in ``models/migrations``."""
from pathlib import Path

from .accounts import PasswordHistory, User, UserScope
from .audit import AuditRun, Finding, FindingMoney, RuleParameter
from .base import Base, db
from .changes import ChangeLog, ImportBatch, Job
from .comparison import Business, Death, MigrantWork, Official, Pension, SocialInsurance
from .devices import DeviceCall, DeviceRecord, DeviceToken
from .enums import (
    ACTIVE_FINDING,
    FINDING_STATUSES,
    NOTICE_STATUSES,
    ROLES,
    SEVERITIES,
    WAITING_FOR_UNIT,
    FindingStatus,
    NoticeStatus,
    Role,
    Severity,
)
from .ledger import (
    UNIT_SEP,
    Attendance,
    Household,
    Person,
    Placement,
    Position,
    Post,
    Report,
    Wage,
    Workshop,
    WorkshopStaff,
    split_unit_key,
    unit_display,
    unit_key,
)
from .payday import PaydayWarning
from .precheck import PRECHECK_STATUSES, Precheck, PrecheckRow
from .rectification import (
    ACTIONS,
    ITEM_ACTIONS,
    EvidenceFile,
    ItemAnswer,
    Notice,
    NoticeFinding,
    NoticeResponse,
    Recovery,
    ReportFile,
)
from .replay import ReplayFinding, ReplayMoney, ReplayRun
from .scheduling import JOB_RUN_STATUSES, JobRun
from .summary import SummaryCount, SummaryMoney, SummaryRun
from .system import FindingAlias, Setting, SignInFailure

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
# the newest migration's revision: a database at it needs no migrating, which every command checks
# without loading Alembic (tests/database/test_schema_head.py holds it to the migrations' head)
SCHEMA_HEAD = "0021"

__all__ = [
    "AuditRun", "FINDING_STATUSES", "Finding", "RuleParameter", "Attendance", "Base", "Business",
    "ChangeLog", "Death", "Household", "ImportBatch", "Job", "MIGRATIONS_DIR", "SCHEMA_HEAD", "UNIT_SEP",
    "split_unit_key",
    "unit_display", "unit_key", "MigrantWork", "Official", "Pension", "Person", "Placement", "Position",
    "Post", "ROLES", "Report", "SocialInsurance", "User", "UserScope", "Wage", "Workshop", "WorkshopStaff",
    "db", "ACTIONS", "NOTICE_STATUSES", "EvidenceFile", "Notice", "NoticeFinding", "NoticeResponse",
    "ReportFile", "FindingMoney", "Recovery", "ITEM_ACTIONS", "ItemAnswer", "JOB_RUN_STATUSES", "JobRun",
    "FindingAlias", "Setting", "SignInFailure", "PasswordHistory", "ReplayRun", "ReplayFinding",
    "ReplayMoney", "SummaryCount", "SummaryMoney", "SummaryRun", "PRECHECK_STATUSES", "PaydayWarning",
    "Precheck", "PrecheckRow", "DeviceCall", "DeviceRecord", "DeviceToken", "ACTIVE_FINDING", "SEVERITIES",
    "WAITING_FOR_UNIT", "FindingStatus", "NoticeStatus", "Role", "Severity",
]
