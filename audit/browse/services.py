"""State changes of the browsing pages: the one there is, showing a person's full ID and account
numbers to a role that may see them, is logged before anything is shown."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from models import Person

from ..auditlog import record
from ..transaction import unit_of_work


@dataclass
class Revealed:
    """The clear numbers of one person's file: ID number, own account, the accounts paid into (the
    phone number, kept in clear, is then shown unmasked too)."""

    id_number: str
    bank_account: str | None
    accounts: dict[int, str] = field(default_factory=dict)  # wages.id -> account number


@unit_of_work
def reveal(person: Person, wage_accounts: dict[int, str]) -> Revealed:
    """Decrypt the person's numbers (and the accounts of the wage rows given as ``{wages.id:
    account_enc}``), write ``pii.view`` to the audit log and commit it (one unit of work): if the
    entry cannot be written, nothing is shown."""
    pii = current_app.extensions["pii"]
    shown = Revealed(pii.decrypt(person.id_enc), pii.decrypt(person.bank_enc) if person.bank_enc else None,
                     {wid: pii.decrypt(enc) for wid, enc in wage_accounts.items() if enc})
    fields = ["id_number"] + (["bank_account"] if shown.bank_account else []) + (
        ["phone"] if person.phone else []) + (["wage_accounts"] if shown.accounts else [])
    record("pii.view", table="persons", row_id=person.id, ref=person.id_masked,
           new={"fields": fields, "wage_rows": len(shown.accounts)})
    return shown
