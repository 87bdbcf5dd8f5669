"""Personal data encrypted under a key per data subject (crypto-shredding).

Each subject (``domain.personal``) has a random 256-bit key in
``salesengine_personal_keys``, a table beside the events that is not part of the log:
erasing a subject deletes its row, in the same transaction as the erasure event. Each
personal value is sealed with AES-256-GCM under its subjects' keys (one subject: its
key; several: an HKDF of all of them, so that erasing any one erases the value), bound
to its event and field, and stored in the event as an envelope::

    {"$p": [subject ids], "c": base64 of the 12-byte nonce and the ciphertext}

The hash chain covers the stored envelope, so an erasure changes nothing it covers.

A key is written in the transaction of the first events sealed with it, never before,
and the recorder checks there that every key the transaction's events were sealed
with is stored (a new one inserted, a known one still present); when one is not (a
concurrent writer created the subject first, or erased it), the write fails as a
conflict and is replayed with the stored key. Keys sealed by a thread are its own until
its write, so two threads never rely on each other's uncommitted keys.
"""

from __future__ import annotations

import binascii
import os
import threading
import time
import uuid
from binascii import a2b_base64, b2a_base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import IntegrityError

from salesengine.domain.personal import ERASED, RECORD_LABEL, Subject

KEYS_TABLE = "salesengine_personal_keys"
ENVELOPE = "$p"
_KDF_INFO = b"salesengine personal data v1"
# How long a process trusts what it read of the keys: an erasure made by another
# process shows in this one's reads within this many seconds.
KEY_CACHE_SECONDS = 2.0
# Subjects a process's writers remember (emptied when full).
WRITING_LIMIT = 200_000
# Single lookups a process makes in one cache period before it reads all keys at once.
_LOOKUPS_BEFORE_LOAD = 32


def sqlite_statements() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} ("
        "subject TEXT PRIMARY KEY, scope TEXT NOT NULL, label TEXT NOT NULL, "
        "key BLOB NOT NULL, UNIQUE (scope, label))",
    ]


def postgres_statements(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.{KEYS_TABLE} ("
        "subject text PRIMARY KEY, scope text NOT NULL, label text NOT NULL, "
        "key bytea NOT NULL, UNIQUE (scope, label))",
    ]


KeyRow = tuple[str, str, str, bytes]  # subject id, scope, label, key


class KeySource(Protocol):
    """The store's side: the recorders read the keys table."""

    def personal_keys(
        self, *, subjects: Sequence[str] | None = None, pairs: Sequence[Subject] | None = None
    ) -> list[KeyRow]:
        """Rows by subject id, by (scope, label), or all of them when given neither."""
        ...

    def scrub_erased(self) -> bool:
        """Leave no copy of deleted keys in the store's files it can reach."""
        ...


def raced_error() -> IntegrityError:
    """A key this write was sealed with is not the stored one (or is gone): the write
    fails as a conflict with a concurrent writer, and is replayed."""
    return IntegrityError("a data subject's key was created or erased by another writer")


@dataclass
class Used:
    """What one thread's sealing used since its last write: new keys to insert, and
    known subject ids that must still be stored."""

    new: dict[str, KeyRow] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    pairs: dict[Subject, tuple[str, bytes]] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)  # aggregates first written now
    raced: bool = False  # the write found a key not stored

    def __bool__(self) -> bool:
        return bool(self.new or self.known)


class Keyring:
    """The process's view of the subjects' keys, and the sealing and opening of values."""

    def __init__(self, source: KeySource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._by_id: dict[str, bytes] = {}
        self._absent: set[str] = set()
        self._since = time.monotonic()
        self._lookups = 0
        self._loaded = False
        self._local = threading.local()
        self._ciphers: dict[tuple[str, ...], AESGCM] = {}
        # The writers' own map, kept past the readers' cache period: a subject's id and
        # key never change, and one erased meanwhile fails the write's check (replayed).
        self._writing: dict[Subject, tuple[str, bytes]] = {}

    # ----------------------------------------------------------------- the cache

    def _fresh(self) -> None:
        if time.monotonic() - self._since > KEY_CACHE_SECONDS:
            with self._lock:
                self._by_id, self._absent = {}, set()
                self._ciphers = {}
                self._since, self._lookups, self._loaded = time.monotonic(), 0, False

    def _adopt(self, rows: Iterable[KeyRow]) -> None:
        if len(self._writing) > WRITING_LIMIT:
            self._writing = {}
        for subject, scope, label, key in rows:
            self._by_id[subject] = key
            self._writing[(scope, label)] = (subject, key)
            self._absent.discard(subject)

    def forget(self, subjects: Iterable[str]) -> None:
        """Drop erased subjects from this process's view: they read as erased."""
        self._drop(subjects, erased=True)

    def _drop(self, subjects: Iterable[str], *, erased: bool) -> None:
        """Drop subjects from the caches in one step under the lock: an erased one is
        then known absent; any other (a write that used it was refused) is read again
        when next needed, so no reader meanwhile takes a live key for an erased one."""
        with self._lock:
            gone = set(subjects)
            self._by_id = {s: k for s, k in self._by_id.items() if s not in gone}
            self._writing = {p: w for p, w in self._writing.items() if w[0] not in gone}
            self._ciphers = {ids: c for ids, c in self._ciphers.items() if gone.isdisjoint(ids)}
            if erased:
                self._absent |= gone
            else:
                self._absent -= gone

    def subjects_of(
        self, *, pairs: Sequence[Subject] = (), label: str | None = None
    ) -> list[tuple[str, str, str]]:
        """(id, scope, label) of the stored subjects of ``pairs``, and of every subject
        whose label is ``label`` (a person named on deals' visits or on any account's
        activities; the caller tells a contact keyed so from a person)."""
        rows = self._source.personal_keys(pairs=list(pairs)) if pairs else []
        if label:
            rows += [r for r in self._source.personal_keys() if r[2] == label]
        return sorted({(r[0], r[1], r[2]) for r in rows})

    def scrub(self) -> bool:
        """After an erasure: no copy of the deleted keys left in the store's files."""
        return self._source.scrub_erased()

    def forget_all(self) -> None:
        with self._lock:
            self._since -= KEY_CACHE_SECONDS + 1
        self._fresh()

    def _key(self, subject: str) -> bytes | None:
        self._fresh()
        key = self._by_id.get(subject)
        if key is not None or subject in self._absent:
            return key
        load = not self._loaded and self._lookups >= _LOOKUPS_BEFORE_LOAD
        if not load:
            self._lookups += 1
        # Read outside the lock; the key is taken from what was read, not from the
        # cache, which another thread may have dropped it from meanwhile (a new cache
        # period, a refused write): only a key the store does not hold is marked absent.
        rows = (
            self._source.personal_keys() if load else self._source.personal_keys(subjects=[subject])
        )
        key = next((row[3] for row in rows if row[0] == subject), None)
        with self._lock:
            self._adopt(rows)
            self._loaded = self._loaded or load
            if key is None:
                self._absent.add(subject)
        return key

    # ------------------------------------------------------------ writing side

    def _used(self) -> Used:
        used: Used | None = getattr(self._local, "used", None)
        if used is None:
            used = self._local.used = Used()
        return used

    def take_used(self) -> Used:
        """What this thread's sealing used since its last write (the recorder calls it
        in the write's transaction)."""
        used = self._used()
        self._local.used = Used()
        return used

    def written(self, used: Used) -> None:
        """The write that carried ``used`` committed: its new keys are stored."""
        with self._lock:
            self._adopt(used.new.values())

    def raced(self, used: Used) -> None:
        """The write that carried ``used`` found a key not stored: forget them all, so
        that its replay reads what is stored."""
        self._drop([*used.new, *used.known], erased=False)

    def note_created(self, aggregate: str) -> None:
        """The aggregate's first event is in this thread's next write."""
        self._used().created.add(aggregate)

    def is_created(self, aggregate: str) -> bool:
        return aggregate in self._used().created

    def subject_key(self, pair: Subject, *, new: bool) -> tuple[str, bytes]:
        """The id and key to seal a value of ``pair`` with. ``new``: the subject cannot
        be stored yet (its record's first event is in the same write), so no lookup."""
        used = self._used()
        known = used.pairs.get(pair)
        if known is not None:
            return known
        found = None if new else self._writing.get(pair)
        if found is None and not new:
            rows = self._source.personal_keys(pairs=[pair])
            with self._lock:
                self._adopt(rows)
            found = next(((r[0], r[3]) for r in rows), None)
        if found is not None:
            used.known.add(found[0])
        else:
            found = (uuid.uuid4().hex, os.urandom(32))
            used.new[found[0]] = (found[0], pair[0], pair[1], found[1])
        used.pairs[pair] = found
        return found

    # ---------------------------------------------------------- seal and open

    def _cipher(self, ids: tuple[str, ...], keys: Sequence[bytes]) -> AESGCM:
        cipher = self._ciphers.get(ids)
        if cipher is None:
            if len(keys) == 1:
                key = keys[0]
            else:
                kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO)
                key = kdf.derive(b"".join(keys))
            cipher = AESGCM(key)
            with self._lock:  # _drop rebuilds the cache from its items under the lock
                self._ciphers[ids] = cipher
        return cipher

    def seal(self, value: Any, subjects: Sequence[tuple[str, bytes]], aad: bytes) -> dict[str, Any]:
        if len(subjects) == 1:
            ids: tuple[str, ...] = (subjects[0][0],)
            keys = [subjects[0][1]]
        else:
            ordered = sorted(subjects)
            ids, keys = tuple(s for s, _ in ordered), [k for _, k in ordered]
        nonce = os.urandom(12)
        sealed = self._cipher(ids, keys).encrypt(nonce, orjson.dumps(value), aad)
        return {ENVELOPE: list(ids), "c": b2a_base64(nonce + sealed, newline=False).decode()}

    def open(self, envelope: dict[str, Any], aad: bytes, erased: Any = ERASED) -> Any:
        """The value, or ``erased`` when any of its subjects' keys is gone."""
        ids = tuple(envelope[ENVELOPE])
        keys = []
        for subject in ids:
            key = self._key(subject)
            if key is None:
                return erased
            keys.append(key)
        try:
            sealed = a2b_base64(envelope["c"])
            plain = self._cipher(ids, keys).decrypt(sealed[:12], sealed[12:], aad)
        except (InvalidTag, ValueError, binascii.Error):
            # Not a decryption error to the reader: the audit chain names an edited
            # event; here the value is simply not readable.
            return erased
        return orjson.loads(plain)


def is_envelope(value: Any) -> bool:
    return value.__class__ is dict and ENVELOPE in value


def record_subject(aggregate: str) -> Subject:
    return (aggregate, RECORD_LABEL)


def erased_subjects(state: object) -> list[str]:
    """The subject ids an erasure event's stored state names (none if it does not
    parse: an edited event, which the audit chain names)."""
    try:
        found = orjson.loads(state if isinstance(state, str) else bytes(state))  # type: ignore[call-overload]
        return [str(s) for s in found.get("subjects", [])]
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return []
