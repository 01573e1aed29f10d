"""The review of findings: confirm, dismiss with a written reason, reopen. Every transition is
written to the audit log with the old and new status. And the web's export of findings, logged.
Each service is one unit of work (``audit.transaction``): it commits, or rolls back when it raises."""
from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

from flask import current_app

from models import ACTIVE_FINDING, FINDING_STATUSES, Finding, FindingStatus, db

from ..auditlog import record
from ..engine.export import export
from ..transaction import unit_of_work

# action -> (the statuses it may start from, the status it leads to, Chinese name)
TRANSITIONS = {
    "confirm": ({FindingStatus.OPEN}, FindingStatus.CONFIRMED, "确认"),
    "dismiss": (set(ACTIVE_FINDING), FindingStatus.DISMISSED, "排除"),
    "reopen": ({FindingStatus.CONFIRMED, FindingStatus.DISMISSED}, FindingStatus.OPEN, "重新复核"),
}
MIN_REASON = 4


class ReviewError(ValueError):
    """A review that cannot be done; the message is for the user."""


@unit_of_work
def review(finding: Finding, action: str, note: str, *, by: str) -> None:
    """Move one finding (in ``bulk``, one of many: the bulk is the unit of work)."""
    if action not in TRANSITIONS:
        raise ReviewError("未知的操作")
    sources, target, name = TRANSITIONS[action]
    note = (note or "").strip()
    if finding.status not in sources:
        now = FINDING_STATUSES.get(finding.status, finding.status)
        raise ReviewError(f"该问题当前为「{now}」，不能{name}")
    if action == "dismiss" and len(note) < MIN_REASON:
        raise ReviewError(f"排除问题必须写明理由（至少 {MIN_REASON} 个字）")
    old = finding.status
    finding.status = target
    finding.review_note = note or None
    finding.reviewed_by = by
    finding.reviewed_at = dt.datetime.now()
    record(f"finding.{action}", table="findings", ref=finding.id, who=by,
           old={"status": old}, new={"status": target, "note": note or None, "rule": finding.rule})


@unit_of_work
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


@unit_of_work
def export_file(fmt: str, *, where, months, reader, actor: str) -> bytes:
    """The findings matching ``where`` (and ``months``) as a CSV (with a BOM, for Excel) or XLSX file
    for people, masked and read through ``reader``; the export's log entry is written with it."""
    conn = db.session.connection()
    pii = current_app.extensions["pii"]
    if fmt == "csv":
        out = io.StringIO()
        export(conn, "csv", pii=pii, actor=actor, output=None, stream=out, where=where, months=months,
               reader=reader)
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "findings.xlsx"
        export(conn, "xlsx", pii=pii, actor=actor, output=str(path), where=where, months=months,
               reader=reader)
        return path.read_bytes()
