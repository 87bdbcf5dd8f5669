"""Which fields of which events are personal data, and whose.

Personal data is stored encrypted under a key per data subject (``store.personal_keys``)
so that erasing a subject deletes one key and leaves every stored event, and so every
hash of the audit chain, exactly as it was. The domain says what is personal and whose
it is; the store does the encrypting. docs/privacy.md lists the same fields for users.

A subject is a pair (scope, label), both plain text:

- a contact of an account: (the account's id, the contact's key);
- someone named among the attendees of an account's activity: (the account's id, the
  entry as written), the contact itself when the entry is a contact's key;
- someone named among the attendees of a deal's visit: ("", the entry), one person
  across every deal, as a rep writes the same name on each;
- the record itself (a deal or an account), for free text written on it that names
  nobody in particular: (the aggregate's id, "").

A note written about a meeting is the personal data of everyone who attended it and of
the record it is on: it can be read only while all of their keys exist, so erasing any
one of them erases the note.

Not personal here, on purpose: stage-move reasons and loss competitors (a short category
that the loss reports and the stage-intervals read model group by), next-step actions
(a task label kept in the deal-attributes read model), and the reps who own deals and
act on them (the employees whose work the figures and the audit trail are about).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

ERASED: Final = "[erased]"
"""What an erased value reads as, everywhere: history, exports, relay, webhooks, API."""

PEOPLE_SCOPE: Final = ""
"""The scope of the people named on deals' visits: one across every deal."""

RECORD_LABEL: Final = ""
"""The label of a record's own subject (a contact key or a name is never empty)."""


class Rule(Enum):
    """Whose personal data a field is."""

    CONTACT = "contact"  # the contact the event names, on its account
    ATTENDEES = "attendees"  # a list: each entry is its own subject
    MEETING_NOTE = "meeting_note"  # every attendee's and the record's
    RECORD = "record"  # the record's own (a deal's or an account's)


# Event topics by class name within their aggregate: the store resolves them to classes
# (the domain's event classes import nothing of this module, so neither layer cycles).
DEAL_FIELDS: Final[dict[str, dict[str, Rule]]] = {
    "VisitLogged": {"attendees": Rule.ATTENDEES, "note": Rule.MEETING_NOTE},
    "NextStepCompleted": {"note": Rule.RECORD},
    "KeyInfoRecorded": {"details": Rule.RECORD, "evidence": Rule.RECORD},
}
ACCOUNT_FIELDS: Final[dict[str, dict[str, Rule]]] = {
    "BuyingPowerSet": {"note": Rule.RECORD},
    "ShareOfWalletSet": {"note": Rule.RECORD},
    "ContactAdded": {"name": Rule.CONTACT, "title": Rule.CONTACT},
    "ContactChanged": {"name": Rule.CONTACT, "title": Rule.CONTACT},
    "ContactLeft": {"reason": Rule.CONTACT},
    "ActivityLogged": {"attendees": Rule.ATTENDEES, "note": Rule.MEETING_NOTE},
}

Subject = tuple[str, str]


def attendee_scope(aggregate: str, on_account: bool) -> str:
    """The scope of an attendee entry: the account's own, or one across deals."""
    return aggregate if on_account else PEOPLE_SCOPE
