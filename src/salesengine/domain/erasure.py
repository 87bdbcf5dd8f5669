"""The record that a data subject's personal data was erased.

Erasing deletes the subject's key (``store.personal_keys``); this event, in the same
transaction, is what the log keeps of it: who erased, when, which kind of subject and
the subjects' opaque ids. It holds no personal data itself: a subject id is a random
id that named the key, and the key is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from salesengine.domain.eventsourcing_seam import create_aggregate
from salesengine.domain.stamping import stamp_fields
from salesengine.domain.values import Stamp

SubjectKind = Literal["contact", "person", "deal", "account"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("contact", "person", "deal", "account")


class Erasure(Aggregate):
    class Recorded(Aggregate.Created):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None
        kind: str
        subjects: list[str]

    @classmethod
    def record(cls, kind: SubjectKind, subjects: list[str], stamp: Stamp) -> Erasure:
        return create_aggregate(
            cls,
            cls.Recorded,
            id=uuid4(),
            timestamp=stamp.recorded_at,
            **stamp_fields(stamp),
            kind=kind,
            subjects=sorted(subjects),
        )


# How erasure events are stored: what a restore and the audit look for in the log.
ERASURE_TOPIC = get_topic(Erasure.Recorded)
