"""What report commands share: read models caught up before a query, and the two clocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import err, warn, when

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from salesengine.domain.policy import FunnelPolicy
    from salesengine.projections.runner import CatchUpReport, ProjectionRunner
    from salesengine.reports.open_deals import Only

# The projection runner (sqlalchemy, numpy) and the store's settings (eventsourcing) are
# imported when a report runs, not when the command line starts.

# Catching up this many events or more shows a progress bar.
QUIET_BELOW = 20_000


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
            return r.rebuild(rebuild, on_progress=advance)
        return r.catch_up(on_progress=advance)


@contextmanager
def read_models(policy: str | None = None) -> Iterator[Connection]:
    """A connection to read models that include every event stored so far (those of
    ``policy``'s deals known to its policy file, or of every policy's)."""
    with caught_up() as conn:
        check_policies_known(conn, policy)
        note_unknown_versions(conn, policy)
        yield conn


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

    for note in unknown_versions(conn, all_policies(), only):
        err.print(f"[yellow]note:[/] {escape(note)}")


def check_chart(chart: Path | None) -> None:
    """A chart file the report can write, checked before the report runs."""
    if chart is None:
        return
    if chart.suffix.lower() not in (".png", ".html"):
        raise typer.BadParameter("the chart file must end in .png or .html", param_hint="--chart")
    if chart.is_dir():
        raise typer.BadParameter(f"{chart} is a directory", param_hint="--chart")
    if not chart.parent.is_dir():
        raise typer.BadParameter(f"no directory {chart.parent} to write into", param_hint="--chart")


@contextmanager
def writing_chart(chart: Path) -> Iterator[None]:
    """A failed chart write (full disk, no permission) as a clear error, not a traceback."""
    try:
        yield
    except OSError as e:
        raise typer.BadParameter(
            f"cannot write {chart}: {e.strerror or e}", param_hint="--chart"
        ) from None


def all_policies() -> dict[str, FunnelPolicy]:
    """Every policy the reports may meet, by name (read without opening the store)."""
    catalog = STATE.catalog()
    return {name: catalog.get(name) for name in catalog.names()}


def recording_start(conn: Connection, known_at: datetime | None) -> datetime | None:
    """The store's earliest recorded instant (None: it holds no event), said on stderr
    when ``--known-at`` falls before it: the report is then empty because nothing was
    known yet, not because nothing happened, and the user needs the instant to choose
    another K. The reports give it in ``--json`` as ``earliest_recorded``."""
    from salesengine.reports.recorded import earliest_recorded

    earliest = earliest_recorded(conn)
    if known_at is not None:
        if earliest is None:
            warn("--known-at: the store holds no events yet; nothing was known at any K")
        elif known_at < earliest:
            warn(
                f"--known-at {known_at.isoformat()} is before anything was recorded: the store's "
                f"earliest record is at {earliest.isoformat()}; nothing was known at K"
            )
    return earliest


def as_of_label(t: datetime, k: datetime | None) -> str:
    return f"as of {when(t)}" + (f", known at {when(k)}" if k else "")


def instants(as_of: str | None, known_at: str | None) -> tuple[datetime, datetime | None]:
    """T defaults to now (the engine's clock: UTC now); K to "everything known" (None).
    Neither opens the store: every option is checked before a missing store is named."""
    t = parse_time(as_of, "--as-of") or datetime.now(UTC)
    return t, parse_time(known_at, "--known-at")


def shown(group: str | None, by: str | None) -> list[str]:
    """The group's cell, when the report is grouped."""
    return [group or "(none)"] if by else []


def chosen(only: Only) -> str:
    """The owner and team a report was kept to, for its title."""
    parts = [f"owner {only.owner}" if only.owner is not None else "",
             f"team {only.team}" if only.team is not None else ""]  # fmt: skip
    return "".join(f", {p}" for p in parts if p)
