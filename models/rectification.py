"""Rectification to closure (整改): notices to units, the units' answers with evidence files, and
the archive of generated PDF reports.

The life of a notice: ``issued`` (下发, waiting for the unit's answer) → ``answered`` (the unit's
operator submitted an answer per item — ``ItemAnswer`` — after perhaps saving drafts) → ``closed``
(销号: every item closed by an auditor, each either confirmed by the data or overridden with a
written reason) or ``returned`` (退回, the whole answer or one item: the unit answers again).
A notice past its deadline while waiting for the unit (issued or returned) is *overdue*; that is
computed from the deadline, never stored. Every transition is written to the change log.

A notice's findings keep their own review status (confirmed, or ``resolved`` once an audit run no
longer finds their facts — which the notice shows); closing an item closes its finding
(``closed``). Money actually recovered (实际追回) is kept per item in ``recoveries``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .enums import WAITING_FOR_UNIT, NoticeStatus
from .types import MaskedJSON, MaskedString, MaskedText

# Required actions (整改要求) a notice may ask of a unit for a finding.
ACTIONS = {
    "dismiss_person": "清退不符合条件或未在岗人员",
    "recover": "追回违规发放资金",
    "pay_arrears": "补发拖欠工资",
    "correct_ledger": "更正台账与上报数据",
    "check_identity": "核实本人身份与签到、收款账户",
}


class Notice(Base):
    """整改通知书: one unit's findings, with a deadline, the required actions and the money to recover."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)  # 文号, e.g. 渝奉人社审〔2026〕3号
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # the N of the number, per prefix and year
    unit: Mapped[str] = mapped_column(String(260), index=True)  # an employing unit's key or a workshop code
    unit_kind: Mapped[str] = mapped_column(String(16))  # 'employer' / 'workshop'
    unit_name: Mapped[str] = mapped_column(String(260))  # what the notice is addressed to
    district: Mapped[str | None] = mapped_column(String(64), index=True)
    township: Mapped[str | None] = mapped_column(String(64))
    village: Mapped[str | None] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(128))  # the issuing body, e.g. 奉节县人力资源和社会保障局
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.ISSUED, index=True)
    deadline: Mapped[dt.date] = mapped_column(Date)
    amount_to_recover_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # further requirements in the auditor's words
    requirements: Mapped[str | None] = mapped_column(MaskedText)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    verdict: Mapped[str | None] = mapped_column(MaskedText)  # the auditor's last word: why closed or returned
    items: Mapped[list[NoticeFinding]] = relationship(back_populates="notice", cascade="all, delete-orphan",
                                                      order_by="NoticeFinding.id")
    responses: Mapped[list[NoticeResponse]] = relationship(back_populates="notice",
                                                           cascade="all, delete-orphan",
                                                           order_by="NoticeResponse.id")
    __table_args__ = (UniqueConstraint("year", "seq", "district", name="number_seq"),)

    @hybrid_method
    def overdue(self, today: dt.date | None = None) -> bool:
        """The one definition of overdue: waiting for the unit (issued or returned) past its deadline.
        ``Notice.overdue(day)`` is the same condition in SQL (audit/rectification/queries.py passes
        the application's today)."""
        return self.status in WAITING_FOR_UNIT and self.deadline < (today or dt.date.today())

    # ``.expression`` (not ``.inplace.expression``): hybrid_method mutates itself either way, and mypy
    # reads ``inplace`` through the descriptor's __get__ (a plain callable, without ``expression``)
    @overdue.expression
    @classmethod
    def _overdue_expression(cls, today: dt.date | None = None) -> ColumnElement[bool]:
        return and_(cls.status.in_(WAITING_FOR_UNIT), cls.deadline < (today or dt.date.today()))


class NoticeFinding(Base):
    """One finding in a notice, with the actions required for it and the money to recover."""

    __tablename__ = "notice_findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("findings.id"), index=True)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)  # keys of ACTIONS
    recover_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # 销号 of this item: ``data`` (a run after the unit's answer no longer finds it: 数据已消除) or
    # ``override`` (closed by an auditor against the data, with a written reason; shown as such)
    close_basis: Mapped[str | None] = mapped_column(String(16))
    close_reason: Mapped[str | None] = mapped_column(MaskedText)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # the auditor sent this item back (退回): the unit must answer it again
    returned_reason: Mapped[str | None] = mapped_column(MaskedText)
    returned_by: Mapped[str | None] = mapped_column(String(64))
    returned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    notice: Mapped[Notice] = relationship(back_populates="items")
    recoveries: Mapped[list[Recovery]] = relationship(back_populates="item", cascade="all, delete-orphan",
                                                      order_by="Recovery.id")
    answers: Mapped[list[ItemAnswer]] = relationship(back_populates="item", cascade="all, delete-orphan",
                                                     order_by="ItemAnswer.id")
    __table_args__ = (UniqueConstraint("notice_id", "finding_id"),)


CLOSE_BASES = {"data": "数据已消除", "override": "人工销号（说明理由）"}
# What the unit did for one item (逐条回复).
ITEM_ACTIONS = {
    "dismissed": "已清退",
    "recovered": "已追回",
    "ledger_corrected": "已更正台账",
    "explained": "情况说明",
}


class ItemAnswer(Base):
    """The unit's answer to one item of a notice: what was done (``ITEM_ACTIONS``), for 已追回 the
    amount, date and voucher file, for 情况说明 the text, and an optional file. A ``draft`` is kept
    for the operator only; ``submitted`` answers belong to the answer (``NoticeResponse``) that
    submitted them and are what the auditor reviews."""

    __tablename__ = "item_answers"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("notice_findings.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("notice_responses.id", ondelete="CASCADE"),
                                                    index=True)
    action: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    on_date: Mapped[dt.date | None] = mapped_column(Date)
    text: Mapped[str | None] = mapped_column(MaskedText)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="draft")  # draft / submitted
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    item: Mapped[NoticeFinding] = relationship(back_populates="answers")
    file: Mapped[EvidenceFile | None] = relationship(foreign_keys=[file_id])


class Recovery(Base):
    """实际追回: money actually recovered for one item of a notice — the date, the amount and the
    voucher (an evidence file: a bank receipt, a 缴款书)."""

    __tablename__ = "recoveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("notice_findings.id", ondelete="CASCADE"), index=True)
    recovered_on: Mapped[dt.date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"))
    note: Mapped[str | None] = mapped_column(MaskedText)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    item: Mapped[NoticeFinding] = relationship(back_populates="recoveries")
    voucher: Mapped[EvidenceFile | None] = relationship(foreign_keys=[voucher_id])


class NoticeResponse(Base):
    """The unit's answer to a notice: what was done, with evidence files."""

    __tablename__ = "notice_responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    text: Mapped[str] = mapped_column(MaskedText)
    # ``draft``: saved by the operator, not yet an answer (the auditor does not see it); ``submitted``
    state: Mapped[str] = mapped_column(String(16), default="submitted", server_default="submitted")
    notice: Mapped[Notice] = relationship(back_populates="responses")
    files: Mapped[list[EvidenceFile]] = relationship(back_populates="response", cascade="all, delete-orphan",
                                                     order_by="EvidenceFile.id")
    item_answers: Mapped[list[ItemAnswer]] = relationship(order_by="ItemAnswer.id", viewonly=True)


class EvidenceFile(Base):
    """An evidence file of an answer: stored outside the web root under a random name; served only
    as an attachment, never inline."""

    __tablename__ = "evidence_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    # the answer it came with; None for a voucher the auditor filed with a recovery (then ``notice_id``)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("notice_responses.id", ondelete="CASCADE"),
                                                    index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(MaskedString(255))  # the name the unit gave it (cleaned, masked)
    stored: Mapped[str] = mapped_column(String(128))  # path under the instance's evidence folder
    content_type: Mapped[str] = mapped_column(String(128))  # from the file's own bytes, not the client
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[NoticeResponse | None] = relationship(back_populates="files")


class ReportFile(Base):
    """A generated PDF report, archived under the instance's reports folder with its SHA-256."""

    __tablename__ = "report_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # notice / summary / ledger
    title: Mapped[str] = mapped_column(MaskedString(255))
    params: Mapped[dict[str, Any]] = mapped_column(MaskedJSON, default=dict)
    path: Mapped[str] = mapped_column(String(255))  # relative to the reports folder
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int | None] = mapped_column(Integer)
    # what the report covers, for listing by role: a notice's unit, a district (None: every district)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), index=True)
    unit: Mapped[str | None] = mapped_column(String(260), index=True)
    district: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
