"""Stored-event encoding: orjson, with types restored from each event's annotations.

The library's JSON transcoder tags every datetime and Decimal with its type and calls
back into Python for each one; events here are plain dataclasses whose annotations
already say which fields are datetimes, dates or Decimals, so the state is stored as
plain JSON and the types are restored field by field on the way back. ``DateAsISO``
is the one transcoding the library's own transcoder needs for them (it has none for
dates), should an engine be built with the library's mapper.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, Union, get_args, get_origin
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.persistence import Mapper as LibraryMapper
from eventsourcing.utils import get_topic, resolve_topic

from salesengine.domain.eventsourcing_seam import blank_event
from salesengine.store.personal_fields import open_state, rules_of, seal_state
from salesengine.store.personal_keys import Keyring, KeySource

Convert = Callable[[Any], Any]
_CONVERTERS: dict[type, Convert] = {
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    Decimal: Decimal,
}


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__}")


def _converter(annotation: Any) -> Convert | None:
    if annotation in _CONVERTERS:
        return _CONVERTERS[annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1 and members[0] in _CONVERTERS:
            return _CONVERTERS[members[0]]  # only stored strings are converted
    return None


def _annotations(cls: type) -> dict[str, Any]:
    """Field annotations over the MRO, each resolved in its own class's module."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        namespace = vars(sys.modules[klass.__module__])
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            resolved = annotation
            if isinstance(annotation, str):
                try:
                    resolved = eval(annotation, dict(namespace), dict(vars(klass)))
                except (NameError, TypeError, AttributeError):
                    continue  # generic parameters of the library's bases: not data fields
            hints[name] = resolved
    return hints


@cache
def field_converters(cls: type) -> dict[str, Convert]:
    converters = {}
    for name, hint in _annotations(cls).items():
        if get_origin(hint) is ClassVar:
            continue
        convert = _converter(hint)
        if convert is not None:
            converters[name] = convert
    return converters


class _UnusedTranscoder(Transcoder):
    """The library's Mapper wants a transcoder; this mapper encodes by itself."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class OrjsonMapper(LibraryMapper[UUID]):
    def __init__(self, compressor: Compressor | None = None, cipher: Cipher | None = None) -> None:
        super().__init__(transcoder=_UnusedTranscoder(), compressor=compressor, cipher=cipher)
        self.keyring: Keyring | None = None

    def attach(self, source: KeySource) -> Keyring:
        """Seal and open personal data with the keys ``source`` (the recorder) keeps."""
        self.keyring = Keyring(source)
        return self.keyring

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        topic = _topic(type(domain_event))
        keyring = self.keyring
        if keyring is not None:
            if originator_version == 1:
                keyring.note_created(originator_id.hex)
            rules = rules_of(topic)
            if rules is not None:
                seal_state(keyring, rules, originator_id.hex, state)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = orjson.dumps(state, default=_default)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        # originator_id, originator_version, topic, state (positional: binding keywords
        # cost measurably per event on a bulk import)
        return StoredEvent(originator_id, originator_version, topic, data)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        originator_id = stored_event.originator_id
        return self.decode(
            stored_event.topic,
            originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
            stored_event.originator_version,
            stored_event.state,
        )

    def decode(
        self,
        topic: str,
        originator_id: UUID,
        originator_version: int,
        data: bytes,
        *,
        sealed: bool = False,
    ) -> DomainEventProtocol[UUID]:
        """A domain event from the columns of its stored row. ``sealed``: leave its
        personal data sealed, for a reader that never reads it (the read models), which
        then neither looks up keys nor decrypts."""
        cls = resolve_topic(topic)
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = orjson.loads(data)
            # Upcast first, so fields an upcaster adds or renames get their types too.
            from_version = state.pop("class_version", 1)
            class_version = getattr(cls, "class_version", 1)
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
            for name, convert in field_converters(cls).items():
                value = state.get(name)
                if value.__class__ is str:
                    state[name] = convert(value)
            rules = None if sealed else rules_of(topic)
            if rules is not None:
                open_state(self.keyring, rules, originator_id.hex, state)
        except (orjson.JSONDecodeError, ValueError, TypeError, ArithmeticError) as e:
            raise MapperDeserialisationError(
                f"cannot read stored event {originator_id} v{originator_version} ({topic}): {e}"
            ) from e
        state["originator_id"] = originator_id
        state["originator_version"] = originator_version
        event = blank_event(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)
