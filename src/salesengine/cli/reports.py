"""Report commands over the read models: funnel, and keeping the read models current."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import add_row, money, out, print_json, say, when
from salesengine.cli.reporting import (
    all_policies,
    as_of_label,
    catch_up,
    check_chart,
    instants,
    read_models,
    recording_start,
    runner,
    writing_chart,
)

if TYPE_CHECKING:
    from salesengine.reports.funnel import FunnelRow

# The reports and read models load sqlalchemy and numpy, so each command imports them when it
# runs; the command line starts without them. Its help names their groupings and read models
# from these copies, which tests/e2e/test_cli_startup.py holds equal to the originals.
GROUPS: tuple[str, ...] = ("owner", "team", "region", "policy", "size")
NAMES: tuple[str, ...] = ("stage_intervals", "deal_attributes", "funnel_points", "visits")

ByOption = Annotated[
    str | None,
    typer.Option("--by", help=f"Group by one of: {', '.join(GROUPS)}."),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Effective instant T; default now.")
]
KnownAtOption = Annotated[
    str | None, typer.Option("--known-at", help="Recording instant K; default: all recorded.")
]
PolicyOption = Annotated[str | None, typer.Option("--policy", help="Only deals of this policy.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print rows as JSON.")]


def check_by(by: str | None) -> None:
    if by is not None and by not in GROUPS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(GROUPS)}", param_hint="--by")


def check_policy(policy: str | None) -> None:
    if policy is not None and policy not in STATE.catalog().names():
        known = ", ".join(STATE.catalog().names())
        raise typer.BadParameter(f"no policy {policy!r} (one of {known})", param_hint="--policy")


def funnel_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    by: ByOption = None,
    policy: PolicyOption = None,
    compare_to: Annotated[
        str | None,
        typer.Option("--compare", help="A later instant T2: what moved between T and T2."),
    ] = None,
    as_json: JsonOption = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write a funnel chart: FILE.png or FILE.html.")
    ] = None,
) -> None:
    """The funnel as of T (known at K): deals, amount and weighted amount per stage."""
    from salesengine.reports.funnel import compare, funnel

    check_by(by)
    check_policy(policy)
    t, k = instants(as_of, known_at)
    t2 = parse_time(compare_to, "--compare")
    if t2 is not None and t2 <= t:
        raise typer.BadParameter("must be later than --as-of", param_hint="--compare")
    check_chart(chart)
    policies = all_policies()
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        if t2 is not None:
            moves = compare(conn, policies, start=t, end=t2, known_at=k, policy=policy)
            if as_json:
                print_json(
                    {"as_of": t, "compare": t2, "known_at": k, "earliest_recorded": earliest}
                    | {"rows": [m.as_dict() for m in moves]}
                )
                return
            table = Table(
                "policy",
                "stage",
                "at T",
                "at T2",
                "in",
                "out",
                "advanced",
                "regressed",
                title=f"Moves between {when(t)} and {when(t2)}",
            )
            for m in moves:
                add_row(
                    table,
                    m.policy,
                    m.stage,
                    str(m.start),
                    str(m.end),
                    str(m.entered),
                    str(m.left),
                    str(m.advanced),
                    str(m.regressed),
                )
            out.print(table)
            return
        rows = funnel(conn, policies, as_of=t, known_at=k, by=by, policy=policy)
    if chart is not None:
        from salesengine.reports.charts import write_funnel_chart

        with writing_chart(chart):
            write_funnel_chart(rows, chart, title=f"Funnel as of {when(t)}", policies=policies)
    if as_json:
        shown = [r.as_dict(by) for r in rows]
        print_json({"as_of": t, "known_at": k, "earliest_recorded": earliest, "rows": shown})
        return
    print_funnel(rows, by, title=f"Funnel {as_of_label(t, k)}")
    if chart is not None:
        say(f"chart written to {chart}")


def print_funnel(rows: list[FunnelRow], by: str | None, title: str) -> None:
    headers = ["policy", *([by] if by else []), "stage", "deals", "amount", "weighted", "currency"]
    table = Table(*headers, title=title)
    for r in rows:
        cells = [
            r.policy,
            *([r.group or "(none)"] if by else []),
            r.stage,
            str(r.deals),
            money(r.amount),
            money(r.weighted),
            r.currency,
        ]
        add_row(table, *cells)
    out.print(table)


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
) -> None:
    """Drop read models and replay them from the first event (events/s and ETA shown)."""
    if name is not None and name not in NAMES:
        raise typer.BadParameter(
            f"no read model {name!r} (one of {', '.join(NAMES)})", param_hint="NAME"
        )
    r = runner()
    report = catch_up(r, label="rebuilding", rebuild=[name] if name else [])
    say(
        f"rebuilt {name or ', '.join(NAMES)}: {report.read:,} events in {report.seconds:.1f} s "
        f"({report.rate:,.0f} events/s)"
    )
