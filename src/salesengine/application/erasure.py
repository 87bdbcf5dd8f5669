"""Erasing a data subject's personal data: ``salesengine erase SUBJECT``.

The subject is named as a user knows it (docs/privacy.md):

- ``contact:ACCOUNT/CONTACT``: a contact of an account's decision chain;
- ``person:NAME``: someone named among the attendees of visits and activities;
- ``deal:KEY`` / ``account:KEY``: the free text written on that record.

It resolves to the subjects' keys the store keeps; the keys are deleted and an erasure
event naming only their opaque ids is recorded, in one transaction. What was sealed
under them then reads as erased everywhere; every figure and every chain is unchanged,
since neither ever read or covered the plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from salesengine.application.accounts import Accounts
from salesengine.domain.account import Account, UnknownAccount, UnknownContact, account_id
from salesengine.domain.erasure import SUBJECT_KINDS, Erasure, SubjectKind
from salesengine.domain.errors import CommandRefused, UnknownDeal
from salesengine.domain.personal import PEOPLE_SCOPE, RECORD_LABEL
from salesengine.domain.values import Stamp, deal_id

if TYPE_CHECKING:
    from salesengine.application.engine import SalesEngine

SYNTAX = "contact:ACCOUNT/CONTACT, person:NAME, deal:KEY or account:KEY"


class BadSubject(CommandRefused):
    code = "bad_subject"


class NothingToErase(CommandRefused):
    code = "nothing_to_erase"


@dataclass(frozen=True, slots=True)
class Erased:
    subject: str
    kind: SubjectKind
    subjects: list[str]
    erasure: str  # the erasure event's stream id
    recorded_at: datetime
    scrubbed: bool = True  # no copy of the keys left in the store's own files (SQLite's log)


def parse_subject(text: str) -> tuple[SubjectKind, str]:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in SUBJECT_KINDS or not rest.strip():
        raise BadSubject(f"subject {text!r} is not one of {SYNTAX}")
    if kind == "contact" and (rest.count("/") < 1 or not all(rest.rsplit("/", 1))):
        raise BadSubject(f"subject {text!r}: a contact is named contact:ACCOUNT/CONTACT")
    return kind, rest


def erase(
    engine: SalesEngine,
    subject: str,
    *,
    actor: str | None = None,
    provenance: dict[str, str] | None = None,
) -> Erased:
    """Erase ``subject``; refused (nothing changed) if it is unknown or has nothing
    stored under a key. ``provenance``: where the request came from (the API's token),
    recorded with the erasure as with any command."""
    keys = engine.personal
    if keys is None:
        raise NothingToErase("this store keeps no personal data keys")
    kind, name = parse_subject(subject)
    rows = keys.subjects_of(pairs=_pairs(engine, kind, name), label=_label(kind, name))
    found = sorted({s for s, scope, label in rows if _is_of(engine, kind, scope, label)})
    if not found:
        raise NothingToErase(
            f"nothing is stored encrypted for {subject}: no personal data was recorded "
            "for it since encryption began (values recorded before it are not "
            "encrypted and cannot be erased; docs/privacy.md)"
        )
    now = engine.clock()
    stamp = Stamp(now, now, actor or engine.default_actor, None, provenance)
    erasure = Erasure.record(kind, found, stamp)
    engine.save(erasure, erase_subjects=found)
    keys.forget(found)
    scrubbed = keys.scrub()
    return Erased(subject, kind, sorted(found), erasure.id.hex, now, scrubbed)


def _is_of(engine: SalesEngine, kind: SubjectKind, scope: str, label: str) -> bool:
    """Whether a subject found by its label is the person named: someone written among
    an account's attendees under that name is, a contact whose key happens to be the
    name is not (``contact:`` erases contacts)."""
    if kind != "person" or scope == PEOPLE_SCOPE:
        return True
    try:
        found: object = engine.repository.get(UUID(scope))
    except (AggregateNotFoundError, ValueError):  # not an account's: nobody's contact
        return True
    return not (isinstance(found, Account) and label in found.state.contacts)


def _label(kind: SubjectKind, name: str) -> str | None:
    return name if kind == "person" else None


def _pairs(engine: SalesEngine, kind: SubjectKind, name: str) -> list[tuple[str, str]]:
    if kind == "deal":
        if engine.find(name) is None:
            raise UnknownDeal(f"unknown deal '{name}'")
        return [(deal_id(name).hex, RECORD_LABEL)]
    if kind == "account":
        if Accounts(engine).find(name) is None:
            raise UnknownAccount(f"unknown account '{name}'")
        return [(account_id(name).hex, RECORD_LABEL)]
    if kind == "contact":
        account, contact = name.rsplit("/", 1)
        found = Accounts(engine).find(account)
        if found is None:
            raise UnknownAccount(f"unknown account '{account}'")
        if contact not in found.state.contacts:
            raise UnknownContact(f"account '{account}' has no contact '{contact}'")
        return [(account_id(account).hex, contact)]
    return [(PEOPLE_SCOPE, name)]
