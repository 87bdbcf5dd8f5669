"""Verifying a store's chain and checkpoints, and signing a new checkpoint once it holds.

The walk over the store is the standalone verifier's own (``ChainWalk``), fed with the
store's rows instead of an export's lines, so that both verdicts agree by construction;
the tests hold them to it all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from salesengine.audit.checkpoints import keep, kept
from salesengine.audit.erasures import check_erasures
from salesengine.audit.keys import SignerKey
from salesengine.audit.log_rows import ChainStart, LogRows
from salesengine.audit_verifier import (
    ChainWalk,
    Checkpoint,
    Finding,
    Report,
    VerifierKey,
    check_checkpoints,
    checkpoint_body,
)
from salesengine.store.identity import store_id
from salesengine.store.settings import StoreSettings


def origin_of(sql: Engine) -> str:
    """The log's origin line in its checkpoints: the store's own id."""
    return f"salesengine/{store_id(sql)}"


@dataclass(frozen=True)
class StoreReport:
    report: Report
    start: ChainStart
    origin: str
    erasures: int = 0  # erasures the log records (each checked to have deleted its keys)


def kept_checkpoints(sql: Engine) -> tuple[list[Checkpoint], list[Finding]]:
    """The store's checkpoints, and a finding for each one that no longer parses."""
    parsed, findings = [], []
    for number, note in kept(sql):
        try:
            parsed.append(Checkpoint.parse(note))
        except ValueError as e:
            why = f"kept checkpoint {number} is not a signed checkpoint: {e}"
            findings.append(Finding("checkpoint", None, None, None, (why,)))
    return parsed, findings


def verify_store(
    settings: StoreSettings,
    sql: Engine,
    keys: list[VerifierKey],
    since: Checkpoint | None = None,
    *,
    signed_by: str | None = None,
) -> StoreReport:
    """Recompute the store's chain (after ``since``, resuming from it) and check every
    kept checkpoint (only those signed by ``signed_by``, when given)."""
    origin = origin_of(sql)
    checkpoints, findings = kept_checkpoints(sql)
    if signed_by is not None:
        checkpoints = [c for c in checkpoints if any(n == signed_by for n, _ in c.signatures)]
    rows = LogRows(settings)
    walk = ChainWalk(wanted={c.size for c in checkpoints})
    resumed_at = 0
    with rows.snapshot(sql) as conn:
        start = rows.start(conn)
        after: int | None = 0
        if since is not None and since.size > 0:
            after = _resume(rows, conn, walk, since, findings)
            resumed_at = since.size
        if after is not None:
            walk.feed(rows.entries(conn, after))
        erasures, erasure_findings = check_erasures(rows, conn)
    findings += walk.finish()
    findings += erasure_findings
    given = [since] if since is not None else []
    findings += check_checkpoints(
        [*given, *checkpoints], walk, origin=origin, keys=keys, resumed_at=resumed_at
    )
    report = Report(walk.entries, walk.seq, walk.true_log, findings, len(checkpoints))
    return StoreReport(report, start, origin, erasures)


def _resume(
    rows: LogRows, conn: Connection, walk: ChainWalk, since: Checkpoint, findings: list[Finding]
) -> int | None:
    """Set the walk where ``since`` left the log; the position to read on from (None:
    the log no longer reaches it)."""
    link = rows.link_at(conn, since.size)
    if link is None:
        why = f"the log holds fewer than the {since.size} entries it covers: truncated"
        findings.append(Finding("checkpoint", None, None, since.size, (why,)))
        walk.seq = since.size
        return None
    position, stored = link
    if stored != since.root:
        why = "the log is not consistent with it: the log hash of its last entry differs"
        findings.append(Finding("checkpoint", position, None, since.size, (why,)))
    walk.resume(since.size, since.root, lambda a, version: rows.stored_hash(conn, a, version))
    return position


def latest_signed_by(sql: Engine, key: VerifierKey) -> Checkpoint | None:
    """The store's latest checkpoint whose signature by ``key`` holds."""
    checkpoints, _ = kept_checkpoints(sql)
    for c in reversed(checkpoints):
        if c.signed_by(key):
            return c
    return None


def make_checkpoint(
    settings: StoreSettings, sql: Engine, signer: SignerKey, *, incremental: bool = False
) -> tuple[Checkpoint | None, StoreReport]:
    """Verify the whole log (``incremental``: only what came after the latest checkpoint
    this key signed) and, when it holds, sign and keep a checkpoint of it as verified."""
    key = signer.verifier()
    since = latest_signed_by(sql, key) if incremental else None
    verified = verify_store(settings, sql, [key], since, signed_by=signer.name)
    report = verified.report
    if not report.holds:
        return None, verified
    note = signer.sign(checkpoint_body(verified.origin, report.size, report.root))
    checkpoint = Checkpoint.parse(note)
    keep(sql, checkpoint, signer.name)
    return checkpoint, verified
