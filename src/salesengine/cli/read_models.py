"""The read models a report reads: caught up with the event store first, and checked
against the policy files that weigh them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from salesengine.cli.options import STATE
from salesengine.cli.render import err, note, warn

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from salesengine.domain.policy import FunnelPolicy
    from salesengine.projections.runner import CatchUpReport, Fold, ProjectionRunner

# The projection runner (sqlalchemy, numpy) and the store's settings (eventsourcing) are
# imported when a report runs, not when the command line starts.

# Catching up this many events or more shows a progress bar.
QUIET_BELOW = 20_000

R = TypeVar("R")


def runner(window: int = 5000, *, create: bool = True) -> ProjectionRunner:
    """The read models' runner; ``create=False`` for a report, which only reads: a store
    that does not exist is an error then, not a new empty one."""
    from salesengine.projections.runner import ProjectionRunner
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    engine = STATE.engine(create=create)
    return ProjectionRunner(engine, sql_engine(store_settings(STATE.db)), window=window)


def catch_up(
    r: ProjectionRunner,
    *,
    label: str = "projecting",
    rebuild: list[str] | None = None,
    fold: Fold | None = None,
    quiet: bool = False,
) -> CatchUpReport:
    """Catch the read models up (or rebuild them), with events/s and an ETA on large runs."""
    behind = max((s.behind for s in r.status()), default=0)
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or (rebuild is None and behind < QUIET_BELOW),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=max(behind, 1), rate="", count="")
        started = datetime.now()

        def advance(done: int, total: int) -> None:
            seconds = (datetime.now() - started).total_seconds() or 1e-9
            progress.update(
                task,
                completed=done,
                total=max(total, 1),
                count=f"{done:,}/{total:,} events",
                rate=f"{done / seconds:,.0f} events/s",
            )

        if rebuild is not None:
            return r.rebuild(rebuild, on_progress=advance, fold=fold)
        return r.catch_up(on_progress=advance)


@contextmanager
def read_models(policy: str | None = None) -> Iterator[Connection]:
    """A connection to read models that include every event stored so far (those of
    ``policy``'s deals known to its policy file, or of every policy's)."""
    with caught_up() as conn:
        check_policies_known(conn, policy)
        note_unknown_versions(conn, policy)
        yield conn


def run_report(
    policy: str | None,
    known_at: datetime | None,
    query: Callable[[Connection], R],
    openings: Sequence[str] = (),
) -> tuple[R, datetime | None]:
    """``query`` run on the read models of ``policy`` (or of every policy), caught up
    and checked; with it, the earliest recorded instant of what it reads
    (``recording_start``)."""
    with read_models(policy) as conn:
        earliest = recording_start(conn, known_at, openings)
        return query(conn), earliest


@contextmanager
def caught_up() -> Iterator[Connection]:
    """A connection to read models that include every event stored so far, whichever
    policies its deals follow: the caller checks those it reports on."""
    r = runner(create=False)
    try:
        catch_up(r)
        with r.sql.connect() as conn:
            yield conn
    finally:
        r.sql.dispose()


def store_policies(conn: Connection) -> list[str]:
    """The policies of the store's deals, by name."""
    from sqlalchemy import select

    from salesengine.projections.funnel_points import keys

    return sorted(set(conn.execute(select(keys.c.policy).distinct()).scalars()))


def check_policies_known(conn: Connection, only: str | None = None) -> None:
    """Refuse to report on deals whose policy, or stage, no policy file defines: their
    rows would be left out or weighted by guesswork. A report of one policy checks that
    policy's deals alone."""
    from sqlalchemy import select

    from salesengine.domain.values import OUTCOMES
    from salesengine.projections.funnel_points import keys

    policies = all_policies()
    query = select(keys.c.policy, keys.c.stage)
    if only is not None:
        query = query.where(keys.c.policy == only)
    for policy, stage in sorted(set(conn.execute(query).all())):
        spec = policies.get(policy)
        if spec is None:
            raise typer.BadParameter(
                f"the store holds deals under policy {policy!r}, which no policy file "
                "defines here: give its directory with --policies",
                param_hint="--policies",
            )
        if stage not in spec.stage_keys and stage not in OUTCOMES:
            raise typer.BadParameter(
                f"deals of policy {policy!r} have been in stage {stage!r}, which its "
                "policy file no longer defines: give the file that does with --policies",
                param_hint="--policies",
            )


def note_unknown_versions(conn: Connection, only: str | None = None) -> None:
    """Say on stderr which policy versions weigh by the fallback (docs/metrics.md)."""
    from salesengine.reports.weights import unknown_versions

    for unknown in unknown_versions(conn, all_policies(), only):
        note(unknown)


def all_policies() -> dict[str, FunnelPolicy]:
    """Every policy the reports may meet, by name (read without opening the store)."""
    catalog = STATE.catalog()
    return {name: catalog.get(name) for name in catalog.names()}


def recording_start(
    conn: Connection,
    known_at: datetime | None,
    openings: Sequence[str] = (),
    *,
    deals: bool = True,
) -> datetime | None:
    """The earliest recorded instant of what a report reads (None: it holds no event):
    the deals' (unless ``deals`` is false) and the streams opened by ``openings``
    (``reports.recorded.ACCOUNTS``, ``QUOTAS``). Said on stderr when ``--known-at``
    falls before it: the report is then empty because nothing was known yet, not because
    nothing happened, and the user needs the instant to choose another K. The reports
    give it in ``--json`` as ``earliest_recorded``."""
    from salesengine.reports.recorded import earliest_recorded

    store = STATE.engine(create=False) if openings else None
    earliest = earliest_recorded(conn, store, openings, deals=deals)
    if known_at is not None:
        if earliest is None:
            warn("--known-at: the store holds no events yet; nothing was known at any K")
        elif known_at < earliest:
            warn(
                f"--known-at {known_at.isoformat()} is before anything was recorded: the store's "
                f"earliest record is at {earliest.isoformat()}; nothing was known at K"
            )
    return earliest


def quotas_recording_start(known_at: datetime | None) -> datetime | None:
    """``recording_start`` of a report of quotas alone: when the first quota stream was
    opened, read from the store (no read model is needed, none is caught up)."""
    if known_at is None:
        return None
    from salesengine.reports.recorded import QUOTAS
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    sql = sql_engine(store_settings(STATE.db))
    try:
        with sql.connect() as conn:
            return recording_start(conn, known_at, QUOTAS, deals=False)
    finally:
        sql.dispose()
