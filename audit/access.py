"""Who may see what: every query of the web application is narrowed by the signed-in user's scope.

- 管理员 (admin): users, scopes, rule parameters; reads everything (masked), changes no finding.
- 审计人员 (auditor): regions (a district, or a township or village in it); imports, runs, reviews.
- 督查人员 (inspector): regions; reads and downloads, changes nothing.
- 经办人 (operator): units (a workshop by code, an employing unit by its district, township and name:
  ``models.unit_key``); submits attendance.

A user without any scope sees nothing. ``Scope.findings()``, ``positions()``, ``workshops()``,
``persons()`` and ``posts()`` give the WHERE clause for each kind of object.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import NoReturn

from flask import abort
from flask_login import current_user
from sqlalchemy import and_, exists, false, or_, select, true
from sqlalchemy.sql import ColumnElement

from models import (
    UNIT_SEP,
    Finding,
    Official,
    Person,
    Placement,
    Position,
    Role,
    Workshop,
    WorkshopStaff,
    unit_display,
)

# What each role may do, beyond reading what its scope shows.
CAN_REVIEW = {Role.AUDITOR}  # confirm / dismiss findings, run audits
CAN_IMPORT = {Role.AUDITOR}
CAN_UNMASK = {Role.AUDITOR}  # see full ID and account numbers (every view logged)
CAN_ENTER_ATTENDANCE = {Role.OPERATOR}
CAN_ADMIN = {Role.ADMIN}


@dataclass(frozen=True)
class Scope:
    role: str
    everything: bool
    regions: tuple[tuple[str, str | None, str | None], ...] = ()
    units: tuple[tuple[str, str], ...] = ()  # (kind, unit): ('workshop', code) / ('employer', unit key)

    @classmethod
    def of(cls, user) -> Scope:
        regions = tuple(sorted((s.district, s.township, s.village) for s in user.scopes if s.district))
        units = tuple(sorted((s.unit_kind, s.unit) for s in user.scopes if s.unit))
        if user.role == Role.OPERATOR:
            regions = ()  # operators are scoped by unit only
            units = _resolved(units)
        else:
            units = ()
        return cls(user.role, user.role == Role.ADMIN and not regions, regions, units)

    # -- the pieces -------------------------------------------------------------------------------

    @property
    def workshop_codes(self) -> list[str]:
        return [u for k, u in self.units if k == "workshop"]

    @property
    def employers(self) -> list[str]:
        return [u for k, u in self.units if k == "employer"]

    @property
    def unit_names(self) -> list[str]:
        return [u for _, u in self.units]

    def region(self, district, township, village) -> ColumnElement[bool]:
        """A row whose (district, township, village) columns fall in one of the scope's regions."""
        if self.everything:
            return true()
        parts = []
        for d, t, v in self.regions:
            cond = [district == d]
            if t:
                cond.append(township == t)
            if v:
                cond.append(village == v)
            parts.append(and_(*cond))
        return or_(*parts) if parts else false()

    # -- per kind of object -------------------------------------------------------------------------

    def located(self, of) -> ColumnElement[bool]:
        """Rows that belong to a unit in a region (``unit``, ``district``, ``township`` and ``village``
        columns: findings and their summaries, notices, replayed findings, pay-day warnings) in
        scope: an operator's by their units, everyone else's by their regions. ``of``: a model, or a
        table's or subquery's ``.c``."""
        if self.units:
            return of.unit.in_(self.unit_names)
        return self.region(of.district, of.township, of.village)

    def findings(self, of=Finding) -> ColumnElement[bool]:
        """Findings in scope; ``of``: another table with the findings' unit and region columns (the
        summaries of models/summary.py)."""
        return self.located(of)

    def officials(self) -> ColumnElement[bool]:
        """Officials (the cadres' comparison list) that evidence or a household may name: those of
        the user's regions; an operator's, unnarrowed (an operator has no region, and the official
        shares the household of a person who works for the operator's unit)."""
        if self.units:
            return true()
        return self.region(Official.district, Official.township, Official.village)

    def positions(self) -> ColumnElement[bool]:
        if self.units:
            return Position.unit_key.in_(self.employers) if self.employers else false()
        return self.region(Position.district, Position.township, Position.village)

    def workshops(self) -> ColumnElement[bool]:
        if self.units:
            from models import Post

            codes = self.workshop_codes
            return Workshop.id.in_(select(Post.id).where(Post.code.in_(codes))) if codes else false()
        return self.region(Workshop.district, Workshop.township, Workshop.village)

    def posts(self, post_id) -> ColumnElement[bool]:
        """A post id (``posts.id``) that is a position or a workshop in scope."""
        if self.everything:
            return true()
        return or_(post_id.in_(select(Position.id).where(self.positions())),
                   post_id.in_(select(Workshop.id).where(self.workshops())))

    def persons(self) -> ColumnElement[bool]:
        """A person who lives in the scope's regions, or holds (or held) a post or a workshop job
        in scope. Operators see only the people of their own units."""
        if self.everything:
            return true()
        held = or_(
            exists().where(Placement.person_id == Person.id,
                           Placement.position_id.in_(select(Position.id).where(self.positions()))),
            exists().where(WorkshopStaff.person_id == Person.id,
                           WorkshopStaff.workshop_id.in_(select(Workshop.id).where(self.workshops()))),
        )
        if self.units:
            return held
        return or_(self.region(Person.district, Person.township, Person.village), held)

    # -- abilities ----------------------------------------------------------------------------------

    @property
    def can_review(self) -> bool:
        return self.role in CAN_REVIEW

    @property
    def can_import(self) -> bool:
        return self.role in CAN_IMPORT

    @property
    def can_unmask(self) -> bool:
        return self.role in CAN_UNMASK

    @property
    def can_enter_attendance(self) -> bool:
        return self.role in CAN_ENTER_ATTENDANCE

    @property
    def is_admin(self) -> bool:
        return self.role in CAN_ADMIN

    def describe(self) -> str:
        if self.everything:
            return "全部地区"
        if self.units:
            return "、".join(unit_display(u) for _, u in self.units) or "（无）"
        return "、".join("".join(x for x in r if x) for r in self.regions) or "（无）"


def _resolved(units: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """An employing unit scope stored by its bare name (an account made before the unit's ledger was
    imported: ``auth.services.employer_key``) stands for the one unit of that name, and for nothing
    while none or several units bear it (P1: never two units merged by name)."""
    bare = [u for k, u in units if k == "employer" and UNIT_SEP not in u]
    if not bare:
        return units
    from models import db

    keys: dict[str, set[str]] = {}
    for name, key in db.session.execute(select(Position.employer, Position.unit_key)
                                        .where(Position.employer.in_(bare)).distinct()):
        keys.setdefault(name, set()).add(key)
    out = {(k, u) for k, u in units if not (k == "employer" and u in bare)}
    out |= {("employer", next(iter(keys[u]))) for u in bare if len(keys.get(u, ())) == 1}
    return tuple(sorted(out))


def scope() -> Scope:
    """The signed-in user's scope (computed once per request)."""
    from flask import g

    if "scope" not in g:
        g.scope = Scope.of(current_user)
    return g.scope


def roles_required(*roles: str):
    """A view only these roles may open; others get 403 (and the denial is logged)."""

    def wrap(view):
        @wraps(view)
        def inner(*a, **kw):
            if not current_user.is_authenticated:
                from flask import current_app

                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                deny()
            return view(*a, **kw)

        return inner

    return wrap


def not_found_in_scope(kind: str, ref) -> NoReturn:
    """Answer 404 for an object the user asked for that does not exist or lies outside their scope
    (the answer does not tell which), and log the request like a 403 denial, naming the object
    asked for: ``kind`` (``finding``, ``notice``, ``person`` …) and ``ref`` (its id or key)."""
    log_not_found(kind, ref)
    abort(404)


def log_not_found(kind: str, ref) -> None:
    """The ``access.denied`` entry of a 404 answered to a signed-in user (once per request). What
    the request did so far is rolled back, as in ``deny``."""
    from flask import g, request

    from models import db

    from .auditlog import record_now

    if g.get("denial_logged"):
        return
    g.denial_logged = True
    db.session.rollback()
    ref = str(ref)[:120]
    record_now("access.denied", table=kind[:32], ref=f"{kind} {ref}"[:200],
               new={"method": request.method, "path": request.path[:200], "status": 404, "kind": kind[:32],
                    "ref": ref})


def deny(what: str = "") -> None:
    """Refuse (403), and log the attempt. Whatever the request did so far is rolled back first: a
    refused request changes nothing, and its own open transaction cannot hold the log's lock
    against the denial's entry (written in a transaction of its own)."""
    from flask import request

    from models import db

    from .auditlog import record_now

    db.session.rollback()
    record_now("access.denied", table="", ref=(what or request.path)[:200],
               new={"method": request.method, "path": request.path[:200], "status": 403})
    abort(403)
