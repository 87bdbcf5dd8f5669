"""``salesengine project`` and ``salesengine rebuild``: keeping the read models current."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from salesengine.cli.options import STATE
from salesengine.cli.read_models import catch_up, runner
from salesengine.cli.render import print_json, say
from salesengine.cli.report_options import JsonOption

# The read models load sqlalchemy and numpy, so each command imports them when it runs;
# the command line starts without them. Its help names the read models from this copy,
# which tests/e2e/test_cli_startup.py holds equal to the original.
NAMES: tuple[str, ...] = ("stage_intervals", "deal_attributes", "funnel_points", "visits")


def project_command(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep running; poll for new events.")
    ] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between polls.")] = 1.0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1_000_000, help="Events per transaction.")
    ] = 5000,
    as_json: JsonOption = False,
) -> None:
    """Catch every read model up with the event store (and keep it current with --follow)."""
    r = runner(window=batch_size)
    report = catch_up(r, quiet=as_json)
    if as_json and not follow:
        print_json(
            {
                "read": report.read,
                "seconds": report.seconds,
                "rebuilt": report.rebuilt,
                "positions": {s.name: s.position for s in r.status()},
            }
        )
        return
    if report.rebuilt:
        say(f"rebuilt (their definition changed): {', '.join(report.rebuilt)}")
    say(f"caught up: {report.read:,} events in {report.seconds:.1f} s; position {report.head:,}")
    if not follow:
        return
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    r.follow(
        poll_seconds=poll,
        on_batch=lambda b: say(f"{b.read:,} new events, position {b.head:,}"),
        stop=lambda: stopping,
    )


def rebuild_command(
    name: Annotated[
        str | None, typer.Argument(help=f"One of: {', '.join(NAMES)}; default all.")
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Build every read model anew beside the old ones, which keep answering "
            "(and keep being caught up), then swap them in at once; a build stopped "
            "part way resumes on the next --online run.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Fold processes: each folds a share of the deals while this process "
            "writes; 1 folds here.",
        ),
    ] = 1,
) -> None:
    """Drop read models and replay them from the first event (events/s and ETA shown)."""
    if name is not None and name not in NAMES:
        raise typer.BadParameter(
            f"no read model {name!r} (one of {', '.join(NAMES)})", param_hint="NAME"
        )
    if online:
        if name is not None:
            raise typer.BadParameter(
                "--online rebuilds every read model together (they are swapped in at "
                "once); leave NAME out",
                param_hint="NAME",
            )
        if workers > 1:
            raise typer.BadParameter(
                "--online rebuilds in one process; leave --workers out", param_hint="--workers"
            )
        rebuild_everything_online()
        return
    fold = None
    if workers > 1:
        from salesengine.cli.parallel_rebuild import FoldInProcesses

        engines = STATE.worker_engines()
        if engines.in_one_process:
            raise typer.BadParameter(
                "an in-memory store lives in one process: leave --workers out",
                param_hint="--workers",
            )
        fold = FoldInProcesses(engines, workers)
    r = runner()
    report = catch_up(r, label="rebuilding", rebuild=[name] if name else [], fold=fold)
    say(
        f"rebuilt {name or ', '.join(NAMES)}: {report.read:,} events in {report.seconds:.1f} s "
        f"({report.rate:,.0f} events/s)"
    )


def rebuild_everything_online() -> None:
    from salesengine.projections.online_rebuild import rebuild_online
    from salesengine.store.settings import store_settings

    engine = STATE.engine(create=False)
    result = rebuild_online(engine, store_settings(STATE.db))
    resumed = f" (resumed at position {result.resumed_from:,})" if result.resumed_from else ""
    say(
        f"rebuilt every read model beside the old ones: {result.read:,} events in "
        f"{result.build_seconds:.1f} s{resumed}; swapped in at position "
        f"{result.position:,} in {result.swap_seconds:.2f} s"
    )
