"""The audit chain's definition and its verifier, runnable on an export alone.

An auditor copies this one file and runs it with Python 3.11+ and ``cryptography``:

    python audit_verifier.py EXPORT.jsonl --public-key KEY.pub [--from-checkpoint C] [--json]
    python audit_verifier.py verify-export FILE --public-key KEY.pub [--json]

(the second checks an XES, CSV or Parquet export against the manifest written beside it)

It imports nothing of the engine, so the engine writes its chain with these very
functions (``state_digest``, ``event_hash``, ``log_hash``) and checks its store with the
same walk (``ChainWalk``) it runs here over an export. docs/audit.md states the
canonical form, the chain, the checkpoint format and this procedure in prose.

- Each stored event's hash covers its aggregate id, version, topic, the SHA-256 of its
  stored state and the hash of its aggregate's previous event (32 zero bytes first).
- The log's hash at each entry covers the previous log hash, the entry's position and
  its event hash: the log hash after n entries is the root a checkpoint of size n signs.
- A checkpoint is a C2SP signed note (origin, size, base64 root) signed with Ed25519.

One file on purpose, past the project's 500 lines: what an auditor must read and copy
is this file and nothing else.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)
EVENT_TAG = b"salesengine/audit/event/v1\n"
LOG_TAG = b"salesengine/audit/log/v1\n"
EXPORT_FORMAT = "salesengine-audit-export"
ED25519 = b"\x01"  # the signed-note signature type of Ed25519
DASH = "\u2014"  # a signature line starts with an em dash and a space

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_sha256 = hashlib.sha256


def state_digest(state: bytes) -> bytes:
    """SHA-256 of the state exactly as stored (the codec's UTF-8 JSON)."""
    return _sha256(state).digest()


def event_hash(prev: bytes, aggregate: str, version: int, topic: str, digest: bytes) -> bytes:
    """An event's hash: its aggregate (32 lowercase hex digits), version, topic and state
    digest, chained to its aggregate's previous event's hash."""
    t = topic.encode()
    return _sha256(
        EVENT_TAG + prev + aggregate.encode() + _U64.pack(version) + _U32.pack(len(t)) + t + digest
    ).digest()


def log_hash(prev: bytes, position: int, event: bytes) -> bytes:
    """The log's hash after an entry: the previous log hash, its position, its event hash."""
    return _sha256(LOG_TAG + prev + _U64.pack(position) + event).digest()


# An event row: (aggregate hex, version, topic, state bytes). A chain link, the row the
# engine wrote beside it: (seq, aggregate hex, version, state digest, event hash, log hash).
Event = tuple[str, int, str, bytes]
Link = tuple[int, str, int, bytes, bytes, bytes]
Entry = tuple[int, Event | None, Link | None]  # (position, event, link): one side may be gone


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold: ``kind`` is edited, removed, inserted, reordered,
    link (the chain's own rows altered) or checkpoint."""

    kind: str
    position: int | None
    aggregate: str | None
    version: int | None
    details: tuple[str, ...]
    stored_as: tuple[str, int] | None = None  # the event found at the position, if another

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "position": self.position,
            "aggregate": self.aggregate,
            "version": self.version,
            "details": list(self.details),
            "stored_as": list(self.stored_as) if self.stored_as else None,
        }

    def line(self) -> str:
        if self.kind == "checkpoint":
            where = f"checkpoint of size {self.version}"
            return f"{self.kind}: {where}: {'; '.join(self.details)}"
        where = f"position {self.position}" if self.position is not None else "log"
        if self.aggregate is not None:
            where += f", aggregate {self.aggregate} version {self.version}"
        return f"{self.kind}: {where}: {'; '.join(self.details)}"


@dataclass
class ChainWalk:
    """Checks a log's entries, fed in position order, and recomputes its roots.

    Per entry it checks the event against its link (identity, state digest, the event
    hash with the aggregate's previous link) and the link against the log chain, and
    reports one finding per position that fails. Beside the stored chain it keeps the
    chain recomputed from the events' content alone: that is what a checkpoint's root
    is compared with, so rewriting the stored hashes to match an edit does not hide it.

    ``earlier(aggregate, version)``: the stored event hash of an aggregate's event
    before where the walk starts (resuming from a checkpoint), or None.
    """

    seq: int = 0
    stored_log: bytes = GENESIS
    true_log: bytes = GENESIS
    earlier: Callable[[str, int], bytes | None] | None = None
    wanted: set[int] = field(default_factory=set)
    roots: dict[int, bytes] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    entries: int = 0
    # aggregate -> [version, stored event hash, recomputed event hash]
    _last: dict[str, list[Any]] = field(default_factory=dict)
    _prev_seq: int = 0
    _position: int = -(2**63)
    _renumbered: dict[tuple[int, int], int] = field(default_factory=dict)
    _alt_log: bytes | None = None

    def resume(self, size: int, root: bytes, earlier: Callable[[str, int], bytes | None]) -> None:
        """Go on from a checkpoint's size and root, the walk's earlier entries unread."""
        self.seq = self._prev_seq = size
        self.stored_log = self.true_log = root
        self.earlier = earlier

    def feed(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.add(*entry)

    def add(self, position: int, event: Event | None, link: Link | None) -> None:
        self.entries += 1
        self._check_order(position, event, link)
        if link is None:
            if event is not None:
                why = "no chain link covers it"
                self.findings.append(Finding("inserted", position, event[0], event[1], (why,)))
            return
        self.seq += 1
        seq, aggregate, version, _digest, stored_event, stored_log = link
        details: list[str] = []
        kind = self._check_number(seq, details)
        expected_log = log_hash(self.stored_log, position, stored_event)
        log_holds = expected_log == stored_log or (
            self._alt_log is not None
            and log_hash(self._alt_log, position, stored_event) == stored_log
        )
        last = self._previous(aggregate, version)
        continuous = last[0] + 1 == version
        gap = f"{last[0] + 1}" if last[0] + 2 == version else f"{last[0] + 1}-{version - 1}"
        stored_as = None
        hashed = stored_event  # what the aggregate's next event is chained to
        if event is None:
            kind = "removed"
            true_event = last[2] = stored_event
            details.append(GONE)
        else:
            stored_as, true_event, local = self._check_event(
                event, link, last, (continuous, log_holds), details
            )
            if ALTERED in details:
                kind, log_holds, hashed = "link", True, local
        if not continuous and stored_as is None:
            kind = "removed"
            details.append(f"versions {gap} of its aggregate are missing before it")
        if not log_holds:
            details.append("the log chain breaks here: its log hash is not the one computed")
            kind = "link" if kind == "edited" and len(details) == 1 else kind
        # A broken link's successor may follow the log hash it should have had.
        self._alt_log = None if log_holds else expected_log
        if continuous or stored_as is None:
            last[0], last[1] = version, hashed
        else:  # the link's identity was altered, not the event's: follow the event's
            e_last = self._previous(*stored_as)
            if e_last[0] + 1 == stored_as[1]:
                e_last[0], e_last[1] = stored_as[1], hashed
        if self.true_log == self.stored_log and true_event == stored_event:
            self.true_log = expected_log
        else:
            self.true_log = log_hash(self.true_log, position, true_event)
        self.stored_log = stored_log
        if self.seq in self.wanted:
            self.roots[self.seq] = self.true_log
        if details:
            self.findings.append(
                Finding(kind, position, aggregate, version, tuple(details), stored_as)
            )

    def _check_order(self, position: int, event: Event | None, link: Link | None) -> None:
        if position <= self._position:  # an export's lines out of order
            why = f"out of log order: it comes after position {self._position}"
            aggregate, version = (
                (link[1], link[2]) if link else (event[0], event[1]) if event else ("", 0)
            )
            self.findings.append(Finding("reordered", position, aggregate, version, (why,)))
        self._position = position

    def _check_number(self, seq: int, details: list[str]) -> str:
        """The link's number against the count: off both the count and its predecessor
        is an edited number, or the first link after links were removed (the ones after
        it follow it again: no finding for them)."""
        self._prev_seq, previous = seq, self._prev_seq
        if seq in (self.seq, previous + 1):
            return "edited"
        details.append(f"its link is numbered {seq}, the log's entry {self.seq}")
        self._renumbered[(seq, self.seq)] = len(self.findings)
        return "link"

    def _check_event(
        self,
        event: Event,
        link: Link,
        last: list[Any],
        holds: tuple[bool, bool],
        details: list[str],
    ) -> tuple[tuple[str, int] | None, bytes, bytes]:
        """Compare the event with its link (adding to ``details``); the event's identity
        when it is not the link's, its hash recomputed from its content alone, and its
        hash chained to its aggregate's previous link."""
        _seq, aggregate, version, digest, stored_event, _log = link
        e_aggregate, e_version, topic, state = event
        found = state_digest(state)
        stored_as = None
        if e_aggregate != aggregate or e_version != version:
            stored_as = (e_aggregate, e_version)
            details.append(
                f"identity: chained {aggregate} v{version}, stored {e_aggregate} v{e_version}"
            )
        if found != digest:
            details.append("state: differs from the state chained")
        local = event_hash(last[1], e_aggregate, e_version, topic, found)
        continuous, log_holds = holds  # a gap before it: its chained predecessor is gone
        if local != stored_event and not details and continuous:
            details.append("topic: differs from the topic chained" if log_holds else ALTERED)
        true_last = last if stored_as is None else self._previous(e_aggregate, e_version)
        # Where the stored chain and the content agree so far, one hash serves both.
        if true_last is last and last[2] == last[1]:
            true_event = local
        else:
            true_event = event_hash(true_last[2], e_aggregate, e_version, topic, found)
        true_last[2] = true_event
        return stored_as, true_event, local

    def _previous(self, aggregate: str, version: int) -> list[Any]:
        last = self._last.get(aggregate)
        if last is None:
            before = self.earlier(aggregate, version - 1) if self.earlier and version > 1 else None
            last = [version - 1, before, before] if before is not None else [0, GENESIS, GENESIS]
            self._last[aggregate] = last
        return last

    def _find(self, kind: str, position: int, aggregate: str, version: int, why: str) -> None:
        self.findings.append(Finding(kind, position, aggregate, version, (why,)))

    def finish(self) -> list[Finding]:
        """The findings, with two positions holding each other's events, or an event
        gone from one position and found at another, named as the reordering they are."""
        chained_at = {(f.aggregate, f.version): f for f in self.findings if f.position}
        swapped = {
            i
            for (numbered, entry), i in self._renumbered.items()
            if (entry, numbered) in self._renumbered
        }
        out = []
        for i, f in enumerate(self.findings):
            if i in swapped:  # two entries, links and all, in each other's place
                why = "it holds the entry the chain numbers elsewhere: entries swapped"
                out.append(
                    Finding("reordered", f.position, f.aggregate, f.version, (why, *f.details))
                )
                continue
            other = chained_at.get(f.stored_as) if f.stored_as else None
            if other is not None and other.stored_as == (f.aggregate, f.version):
                why = f"it holds the event chained at position {other.position}, and that one its"
                out.append(
                    Finding(
                        "reordered",
                        f.position,
                        f.aggregate,
                        f.version,
                        (why, *f.details),
                        f.stored_as,
                    )
                )
            elif f.kind == "removed" and f.details == (GONE,):
                moved = [
                    g
                    for g in self.findings
                    if g.kind == "inserted" and (g.aggregate, g.version) == (f.aggregate, f.version)
                ]
                if moved:
                    why = f"the event chained here was moved to position {moved[0].position}"
                    out.append(Finding("reordered", f.position, f.aggregate, f.version, (why,)))
                else:
                    out.append(f)
            else:
                out.append(f)
        return out


GONE = "the event chained here is gone from the events table"
ALTERED = "the link's event hash was altered"


# --- Signed notes (C2SP signed-note, checkpoints per C2SP tlog-checkpoint) -------------


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte id of an Ed25519 note key: SHA-256(name, newline, 0x01, key)[:4]."""
    return _sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A verifier key ``name+hexid+base64(0x01 || key)``, as the note format writes it."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise ValueError("a verifier key reads name+keyid+base64key")
        name, hex_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ValueError("the verifier key's key is not base64") from None
        if len(raw) != 33 or raw[:1] != ED25519:
            raise ValueError("the verifier key is not an Ed25519 key")
        key = cls(name, raw[1:])
        if key_id(name, key.public).hex() != hex_id.lower():
            raise ValueError("the verifier key's id does not match its name and key")
        return key

    def text(self) -> str:
        encoded = base64.b64encode(ED25519 + self.public).decode()
        return f"{self.name}+{key_id(self.name, self.public).hex()}+{encoded}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    body: str
    signatures: tuple[tuple[str, bytes], ...]  # (key name, key id + signature)
    note: str

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        """A signed checkpoint note; ValueError saying what is malformed."""
        body, sep, rest = note.partition("\n\n")
        if not sep:
            raise ValueError("a checkpoint note needs a blank line before its signatures")
        body += "\n"
        lines = body.split("\n")
        if len(lines) < 4 or not lines[0]:
            raise ValueError("a checkpoint reads: origin, size, root hash")
        if not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
            raise ValueError(f"the checkpoint's size is not a number: {lines[1]!r}")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except ValueError:
            raise ValueError("the checkpoint's root hash is not base64") from None
        if len(root) != 32:
            raise ValueError("the checkpoint's root hash is not 32 bytes")
        signatures = []
        for line in rest.split("\n"):
            if not line:
                continue
            dash, _, signed = line.partition(" ")
            name, _, encoded = signed.rpartition(" ")
            if dash != DASH or not name:
                raise ValueError(f"not a signature line: {line!r}")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise ValueError(f"the signature of {name} is not base64") from None
            signatures.append((name, raw))
        if not signatures:
            raise ValueError("the checkpoint is not signed")
        return cls(lines[0], int(lines[1]), root, body, tuple(signatures), note)

    def signed_by(self, key: VerifierKey) -> bool:
        """Whether a signature of ``key`` (its name and id) over the body holds."""
        wanted = key_id(key.name, key.public)
        public = Ed25519PublicKey.from_public_bytes(key.public)
        for name, raw in self.signatures:
            if name == key.name and raw[:4] == wanted and len(raw) == 68:
                try:
                    public.verify(raw[4:], self.body.encode())
                except InvalidSignature:
                    continue
                return True
        return False


def check_checkpoints(
    checkpoints: Iterable[Checkpoint],
    walk: ChainWalk,
    *,
    origin: str,
    keys: list[VerifierKey],
    resumed_at: int = 0,
) -> list[Finding]:
    """Each checkpoint's origin, signature (by one of ``keys``) and root, against the
    log the walk recomputed. A checkpoint at or below ``resumed_at`` (the one a walk
    resumed from) is checked for its signature and origin only."""
    findings = []
    for c in checkpoints:
        why = []
        if c.origin != origin:
            why.append(f"it is for origin {c.origin!r}, this log is {origin!r}")
        if not keys:
            why.append("no public key was given to check its signature")
        elif not any(c.signed_by(k) for k in keys):
            why.append("no valid signature by the given public key")
        if c.size > walk.seq:
            why.append(f"it covers {c.size} entries, the log holds {walk.seq}: truncated")
        elif c.size > resumed_at and walk.roots.get(c.size) != c.root:
            why.append("its root is not the root recomputed from the events")
        if why:
            findings.append(Finding("checkpoint", None, None, c.size, tuple(why)))
    return findings


# --- The export (JSON Lines) -------------------------------------------------------------


def read_export(lines: Iterable[str]) -> tuple[dict[str, Any], list[Checkpoint], Iterator[Entry]]:
    """The header, the checkpoints and the entries of an export; ValueError naming the
    line that is malformed. The header and checkpoints come first."""
    numbered = enumerate(lines, 1)
    header: dict[str, Any] | None = None
    checkpoints: list[Checkpoint] = []
    for number, text in numbered:
        record = _record(number, text)
        if header is None:
            if record.get("kind") != "header" or record.get("format") != EXPORT_FORMAT:
                raise ValueError(f"line {number}: not a {EXPORT_FORMAT} header")
            header = record
        elif record.get("kind") == "checkpoint":
            try:
                checkpoints.append(Checkpoint.parse(str(record["note"])))
            except (KeyError, ValueError) as e:
                raise ValueError(f"line {number}: checkpoint: {e}") from None
        else:
            first = _entry(number, record)
            break
    else:
        first = None
    if header is None:
        raise ValueError("the export is empty")

    def entries() -> Iterator[Entry]:
        if first is not None:
            yield first
        for number, text in numbered:
            yield _entry(number, _record(number, text))

    return header, checkpoints, entries()


def _record(number: int, text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except ValueError as e:
        raise ValueError(f"line {number}: not JSON: {e}") from None
    if not isinstance(record, dict):
        raise ValueError(f"line {number}: not a JSON object")
    return record


def _entry(number: int, r: dict[str, Any]) -> Entry:
    try:
        if r["kind"] != "entry":
            raise ValueError(f"unexpected kind {r['kind']!r}")
        e, k = r["event"], r["link"]
        event = (e["aggregate"], int(e["version"]), e["topic"], _state(e)) if e else None
        link = (
            (
                int(k["seq"]),
                k["aggregate"],
                int(k["version"]),
                bytes.fromhex(k["state_digest"]),
                bytes.fromhex(k["event_hash"]),
                bytes.fromhex(k["log_hash"]),
            )
            if k
            else None
        )
        return int(r["position"]), event, link
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"line {number}: not an entry: {e!r}") from None


def _state(event: dict[str, Any]) -> bytes:
    """The stored state bytes: UTF-8 text, or base64 when they were not UTF-8."""
    if "state_base64" in event:
        return base64.b64decode(event["state_base64"], validate=True)
    return str(event["state"]).encode()


@dataclass
class Report:
    entries: int
    size: int
    root: bytes
    findings: list[Finding]
    checkpoints: int

    @property
    def holds(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "entries": self.entries,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoints": self.checkpoints,
            "findings": [f.as_json() for f in self.findings],
        }


def verify_export(
    lines: Iterable[str], keys: list[VerifierKey], since: Checkpoint | None = None
) -> Report:
    """Verify an export; ``since``: resume from that checkpoint (trusted, once its
    signature holds): entries up to its size only feed their aggregates' hashes."""
    header, checkpoints, entries = read_export(lines)
    origin = str(header.get("origin"))
    walk = ChainWalk(wanted={c.size for c in checkpoints})
    findings: list[Finding] = []
    resumed_at = 0
    if since is not None and since.size > 0:
        resumed_at = since.size
        entries = _resume(walk, entries, since, findings)
    walk.feed(entries)
    findings += walk.finish()
    given = [since] if since is not None else []
    findings += check_checkpoints(
        [*given, *checkpoints], walk, origin=origin, keys=keys, resumed_at=resumed_at
    )
    return Report(walk.entries, walk.seq, walk.true_log, findings, len(checkpoints))


def _resume(
    walk: ChainWalk, entries: Iterator[Entry], since: Checkpoint, findings: list[Finding]
) -> Iterator[Entry]:
    """Entries after the checkpoint's size, the walk set up as the checkpoint left it."""
    earlier: dict[str, tuple[int, bytes]] = {}
    for position, _event, link in entries:
        if link is None:
            continue
        earlier[link[1]] = (link[2], link[4])
        if link[0] == since.size:
            if link[5] != since.root:
                why = "the log is not consistent with it: its entry's log hash differs"
                findings.append(Finding("checkpoint", position, None, since.size, (why,)))
            break
    else:
        why = f"the log holds fewer than the {since.size} entries it covers: truncated"
        findings.append(Finding("checkpoint", None, None, since.size, (why,)))
    walk.resume(
        since.size, since.root, lambda a, v: earlier[a][1] if earlier.get(a, (0,))[0] == v else None
    )
    return entries


# --- The manifest beside an XES, CSV or Parquet export -------------------------------------

MANIFEST_FORMAT = "salesengine-export-manifest"
MANIFEST_SUFFIX = ".manifest.json"  # log.xes -> log.xes.manifest.json
MANIFEST_IN_DIRECTORY = "manifest.json"  # CSV and Parquet: one per export directory


def manifest_path(path: Path) -> Path:
    """The manifest of an export named by its file, its directory or the manifest itself."""
    if path.is_dir():
        return path / MANIFEST_IN_DIRECTORY
    if path.name == MANIFEST_IN_DIRECTORY or path.name.endswith(MANIFEST_SUFFIX):
        return path
    return path.with_name(path.name + MANIFEST_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = _sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ManifestFinding:
    """What does not hold of an export against its manifest: ``kind`` is file (the
    exported file's bytes), checkpoint, chain (the manifest's chain rows) or position (an
    exported event the rows do not cover); ``subject`` names the file or position."""

    kind: str
    subject: str
    why: str

    def line(self) -> str:
        return f"{self.kind}: {self.subject}: {self.why}"


@dataclass
class ManifestReport:
    manifest: Path
    files: int
    rows: int
    checkpoint_size: int | None
    findings: list[ManifestFinding]

    @property
    def holds(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "manifest": str(self.manifest),
            "files": self.files,
            "rows": self.rows,
            "checkpoint_size": self.checkpoint_size,
            "findings": [
                {"kind": f.kind, "subject": f.subject, "why": f.why} for f in self.findings
            ],
        }


def verify_manifest(path: Path, keys: list[VerifierKey]) -> ManifestReport:
    """Check an export (its file, directory or manifest) against its manifest: each
    file's SHA-256, the checkpoint's origin and signature, that the chain rows link from
    the manifest's previous log hash to the checkpoint's root, and that every exported
    position has a row. ValueError (OSError) when the manifest cannot be read at all."""
    found = manifest_path(path)
    try:
        m = json.loads(found.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{found}: not JSON: {e}") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{found}: not a {MANIFEST_FORMAT}")
    try:
        files = [(str(f["name"]), str(f["sha256"])) for f in m["files"]]
        rows = [
            (
                int(r["position"]),
                int(r["seq"]),
                bytes.fromhex(r["event_hash"]),
                bytes.fromhex(r["log_hash"]),
            )
            for r in m["chain"]
        ]
        previous = bytes.fromhex(m["previous_log_hash"])
        exported = [int(p) for p in m["positions"]]
        note = m["checkpoint"]
        origin = str(m["origin"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{found}: a field is missing or malformed: {e!r}") from None
    findings = _check_files(found.parent, files)
    checkpoint, more = _check_manifest_checkpoint(note, origin, keys)
    findings += more
    # An export with no events has no rows to tie to the checkpoint.
    findings += _check_rows(rows, previous, checkpoint if rows or exported else None)
    covered = {position for position, *_ in rows}
    for position in exported:
        if position not in covered:
            why = "an exported event the manifest's chain rows do not cover"
            findings.append(ManifestFinding("position", str(position), why))
    size = checkpoint.size if checkpoint else None
    return ManifestReport(found, len(files), len(rows), size, findings)


def _check_files(base: Path, files: list[tuple[str, str]]) -> list[ManifestFinding]:
    findings = []
    for name, wanted in files:
        if Path(name).name != name:
            findings.append(ManifestFinding("file", name, "not a name beside the manifest"))
            continue
        try:
            got = file_sha256(base / name)
        except OSError as e:
            findings.append(ManifestFinding("file", name, f"cannot be read: {e.strerror}"))
            continue
        if got != wanted.lower():
            why = f"its SHA-256 is {got}, the manifest says {wanted}: altered since the export"
            findings.append(ManifestFinding("file", name, why))
    return findings


def _check_manifest_checkpoint(
    note: Any, origin: str, keys: list[VerifierKey]
) -> tuple[Checkpoint | None, list[ManifestFinding]]:
    if note is None:
        why = "the manifest carries none: no signature ties the export to the log"
        return None, [ManifestFinding("checkpoint", "none", why)]
    try:
        checkpoint = Checkpoint.parse(str(note))
    except ValueError as e:
        return None, [ManifestFinding("checkpoint", "note", f"malformed: {e}")]
    subject = f"size {checkpoint.size}"
    findings = []
    if checkpoint.origin != origin:
        why = f"it is for origin {checkpoint.origin!r}, the manifest names {origin!r}"
        findings.append(ManifestFinding("checkpoint", subject, why))
    if not keys:
        why = "no public key was given to check its signature"
        findings.append(ManifestFinding("checkpoint", subject, why))
    elif not any(checkpoint.signed_by(k) for k in keys):
        why = "no valid signature by the given public key"
        findings.append(ManifestFinding("checkpoint", subject, why))
    return checkpoint, findings


def _check_rows(
    rows: list[tuple[int, int, bytes, bytes]], previous: bytes, checkpoint: Checkpoint | None
) -> list[ManifestFinding]:
    """The rows' log hashes recomputed from the previous one: a row whose event hash or
    log hash was edited breaks the link there; the last must be the checkpoint's root."""
    findings = []
    seq = None
    for position, number, hashed, log in rows:
        subject = f"position {position}"
        if seq is not None and number != seq + 1:
            why = f"entry {number} follows entry {seq}: rows are missing or reordered"
            findings.append(ManifestFinding("chain", subject, why))
        if log_hash(previous, position, hashed) != log:
            why = "its log hash is not recomputed from the previous one and its event hash"
            findings.append(ManifestFinding("chain", subject, why))
        previous, seq = log, number
    if checkpoint is not None:
        if seq is None or seq < checkpoint.size:
            why = f"the rows end at entry {seq or 0}, before its size: not tied to its root"
            findings.append(ManifestFinding("checkpoint", f"size {checkpoint.size}", why))
        elif seq > checkpoint.size:
            why = f"the rows run to entry {seq}, past what it signs"
            findings.append(ManifestFinding("checkpoint", f"size {checkpoint.size}", why))
        elif previous != checkpoint.root:
            why = "the last row's log hash is not its root"
            findings.append(ManifestFinding("checkpoint", f"size {checkpoint.size}", why))
    return findings


def manifest_main(argv: list[str], out: TextIO) -> int:
    parser = argparse.ArgumentParser(
        prog="audit_verifier.py verify-export",
        description="Verify an XES, CSV or Parquet export against its manifest.",
    )
    parser.add_argument("export", type=Path, help="the export file, its directory or manifest")
    parser.add_argument("--public-key", type=Path, action="append", default=[])
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    args = parser.parse_args(argv)
    try:
        keys = [VerifierKey.parse(p.read_text(encoding="utf-8")) for p in args.public_key]
        report = verify_manifest(args.export, keys)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_manifest_report(report, args.json, out)
    return 0 if report.holds else 1


def write_manifest_report(report: ManifestReport, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(report.as_json(), indent=2) + "\n")
        return
    for f in report.findings:
        out.write(f.line() + "\n")
    verdict = "holds" if report.holds else f"does NOT hold ({len(report.findings)} findings)"
    signed = (
        f"checkpoint of size {report.checkpoint_size}"
        if report.checkpoint_size
        else "no checkpoint"
    )
    out.write(f"{report.files} files, {report.rows} chain rows, {signed}: {verdict}\n")


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify-export"]:
        return manifest_main(argv[1:], out)
    parser = argparse.ArgumentParser(description="Verify a salesengine audit export offline.")
    parser.add_argument(
        "export", type=Path, help="the JSON Lines file `salesengine audit export` wrote"
    )
    parser.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="a verifier key file (name+keyid+base64key); repeatable",
    )
    parser.add_argument(
        "--from-checkpoint", type=Path, help="a signed checkpoint note to resume from"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    args = parser.parse_args(argv)
    try:
        keys = [VerifierKey.parse(p.read_text(encoding="utf-8")) for p in args.public_key]
        since = (
            Checkpoint.parse(args.from_checkpoint.read_text(encoding="utf-8"))
            if args.from_checkpoint
            else None
        )
        with args.export.open(encoding="utf-8") as f:
            report = verify_export(f, keys, since)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        out.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        for f in report.findings:
            out.write(f.line() + "\n")
        verdict = "holds" if report.holds else f"does NOT hold ({len(report.findings)} findings)"
        counts = f"{report.entries} entries, size {report.size}, {report.checkpoints} checkpoints"
        out.write(f"{counts}: {verdict}\n")
    return 0 if report.holds else 1


if __name__ == "__main__":
    sys.exit(main())
