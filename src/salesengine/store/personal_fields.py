"""Sealing and opening the personal fields of a stored event's state (the codec's part
of ``store.personal_keys``): which fields, under whose keys."""

from __future__ import annotations

from functools import cache
from typing import Any

from eventsourcing.utils import get_topic

from salesengine.domain.account import Account
from salesengine.domain.deal import Deal
from salesengine.domain.personal import (
    ACCOUNT_FIELDS,
    DEAL_FIELDS,
    ERASED,
    Rule,
    Subject,
    attendee_scope,
)
from salesengine.store.personal_keys import Keyring, is_envelope, record_subject

DIGEST = "command_digest"
Rules = tuple[tuple[tuple[str, Rule], ...], bool]  # (field, rule)s, on an account


@cache
def _by_topic() -> dict[str, Rules]:
    found: dict[str, Rules] = {}
    for owner, fields, on_account in ((Deal, DEAL_FIELDS, False), (Account, ACCOUNT_FIELDS, True)):
        for name, rules in fields.items():
            # Attendees first: a meeting note is sealed under their subjects too.
            ordered = sorted(rules.items(), key=lambda r: r[1] is not Rule.ATTENDEES)
            found[get_topic(getattr(owner, name))] = (tuple(ordered), on_account)
    return found


def rules_of(topic: str) -> Rules | None:
    return _by_topic().get(topic)


def _aad(aggregate: str, name: str) -> bytes:
    return f"{aggregate}/{name}".encode()


def seal_state(keyring: Keyring, rules: Rules, aggregate: str, state: dict[str, Any]) -> None:
    """Replace the personal fields of ``state`` with their envelopes, in place."""
    fields, on_account = rules
    new_record = keyring.is_created(aggregate)
    record: list[tuple[str, bytes]] = []
    attendees: list[tuple[str, bytes]] = []
    everyone: dict[str, bytes] = {}  # every subject a value was sealed under

    def the_record() -> list[tuple[str, bytes]]:
        if not record:
            record.append(keyring.subject_key(record_subject(aggregate), new=new_record))
        return record

    for name, rule in fields:
        value = state.get(name)
        if value is None:
            continue
        aad = _aad(aggregate, name)
        if rule is Rule.ATTENDEES:
            scope = attendee_scope(aggregate, on_account)
            sealed = []
            for entry in value:
                pair: Subject = (scope, entry)
                subject = keyring.subject_key(pair, new=False)
                attendees.append(subject)
                sealed.append(keyring.seal(entry, [subject], aad))
            state[name] = sealed
            everyone.update(attendees)
        elif rule is Rule.CONTACT:
            subject = keyring.subject_key((aggregate, state["contact"]), new=False)
            state[name] = keyring.seal(value, [subject], aad)
            everyone.update([subject])
        elif rule is Rule.MEETING_NOTE:
            subjects = dict([*attendees, *the_record()])
            state[name] = keyring.seal(value, list(subjects.items()), aad)
            everyone.update(subjects)
        elif isinstance(value, dict):  # key information's details: each value
            state[name] = {k: keyring.seal(v, the_record(), aad) for k, v in value.items()}
            everyone.update(record)
        else:
            state[name] = keyring.seal(value, the_record(), aad)
            everyone.update(record)
    digest = state.get(DIGEST)
    if digest is not None and everyone:
        # The command's digest hashes its personal fields too: left plain, it would
        # confirm a guess at an erased value. Readable only while all of them are.
        state[DIGEST] = keyring.seal(digest, list(everyone.items()), _aad(aggregate, DIGEST))


def open_state(
    keyring: Keyring | None, rules: Rules, aggregate: str, state: dict[str, Any]
) -> None:
    """Replace the envelopes of ``state`` with their values, or ``ERASED``, in place."""
    digest = state.get(DIGEST)
    if digest is not None and is_envelope(digest):
        state[DIGEST] = keyring.open(digest, _aad(aggregate, DIGEST)) if keyring else ERASED
    for name, _rule in rules[0]:
        value = state.get(name)
        if value is None:
            continue
        aad = _aad(aggregate, name)
        if is_envelope(value):
            state[name] = keyring.open(value, aad) if keyring else ERASED
        elif value.__class__ is list:
            state[name] = [
                (keyring.open(v, aad) if keyring else ERASED) if is_envelope(v) else v
                for v in value
            ]
        elif value.__class__ is dict:
            state[name] = {
                k: (keyring.open(v, aad) if keyring else ERASED) if is_envelope(v) else v
                for k, v in value.items()
            }
