"""The review of findings: confirm, dismiss with a written reason, reopen. Every transition is
written to the audit log with the old and new status."""
from __future__ import annotations

import datetime as dt

from models import FINDING_STATUSES, Finding, db

from ..auditlog import record

# action -> (the statuses it may start from, the status it leads to, Chinese name)
TRANSITIONS = {
    "confirm": ({"open"}, "confirmed", "确认"),
    "dismiss": ({"open", "confirmed"}, "dismissed", "排除"),
    "reopen": ({"confirmed", "dismissed"}, "open", "重新复核"),
}
MIN_REASON = 4


class ReviewError(ValueError):
    """A review that cannot be done; the message is for the user."""


def review(finding: Finding, action: str, note: str, *, by: str) -> None:
    """Move one finding; the caller commits."""
    if action not in TRANSITIONS:
        raise ReviewError("未知的操作")
    sources, target, name = TRANSITIONS[action]
    note = (note or "").strip()
    if finding.status not in sources:
        raise ReviewError(f"该问题当前为「{FINDING_STATUSES.get(finding.status, finding.status)}」，不能{name}")
    if action == "dismiss" and len(note) < MIN_REASON:
        raise ReviewError(f"排除问题必须写明理由（至少 {MIN_REASON} 个字）")
    old = finding.status
    finding.status = target
    finding.review_note = note or None
    finding.reviewed_by = by
    finding.reviewed_at = dt.datetime.now()
    record(f"finding.{action}", table="findings", ref=finding.id, who=by,
           old={"status": old}, new={"status": target, "note": note or None, "rule": finding.rule})


def bulk(findings: list[Finding], action: str, note: str, *, by: str) -> tuple[int, list[str]]:
    """Apply one action to many findings: (how many moved, why the others did not)."""
    if action == "dismiss" and len((note or "").strip()) < MIN_REASON:
        raise ReviewError(f"批量排除必须写明理由（至少 {MIN_REASON} 个字）")
    done, skipped = 0, []
    for f in findings:
        try:
            review(f, action, note, by=by)
            done += 1
        except ReviewError as exc:
            skipped.append(f"{f.rule} {f.subject_label}：{exc}")
    db.session.flush()
    return done, skipped
