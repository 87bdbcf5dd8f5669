"""Report commands over the read models: funnel, and keeping the read models current."""

from __future__ import annotations

import signal
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import money, print_json, say, when
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
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.domain.policy import FunnelPolicy
    from salesengine.reports.funnel import FunnelReportRow
    from salesengine.reports.funnel_moves import MoveRow

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
OwnerOption = Annotated[
    str | None, typer.Option("--owner", help="Only the deals this owner holds at T.")
]
TeamOption = Annotated[str | None, typer.Option("--team", help="Only the deals of this team at T.")]
SizeBandsOption = Annotated[
    str | None,
    typer.Option(
        "--size-bands",
        help="With --by size: where the bands start, for every deal, e.g. 1000,5000,20000 "
        "(in the deal's currency); default each policy's size_bands.",
    ),
]


def check_by(by: str | None) -> None:
    if by is not None and by not in GROUPS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(GROUPS)}", param_hint="--by")


def size_bands(text: str | None, by: str | None) -> tuple[Decimal, ...] | None:
    """The band limits of --size-bands: amounts separated by commas, rising."""
    if text is None:
        return None
    if by != "size":
        raise typer.BadParameter("only applies with --by size", param_hint="--size-bands")
    from pydantic import TypeAdapter, ValidationError

    from salesengine.domain.policy import BandLimit, check_size_bands

    parts = [part.strip() for part in text.split(",")]
    try:
        limits = TypeAdapter(tuple[BandLimit, ...]).validate_python(parts)
        if not limits:  # pragma: no cover - splitting gives at least one part
            raise ValueError("no band limit given")
        return check_size_bands(limits)
    except ValidationError as e:
        error = e.errors()[0]
        place = error["loc"][0] if error["loc"] else None
        where = f"{parts[place]!r}: " if isinstance(place, int) else ""
        reason = error["msg"].removeprefix("Value error, ")
        raise typer.BadParameter(f"{where}{reason}", param_hint="--size-bands") from None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--size-bands") from None


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
        typer.Option(
            "--compare",
            help="A later instant T2: every move into and out of each stage in (T, T2], "
            "with the funnels at T and T2.",
        ),
    ] = None,
    as_json: JsonOption = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Write a funnel chart (with --compare, of the moves): FILE.png/.html."
        ),
    ] = None,
    bands: SizeBandsOption = None,
) -> None:
    """The funnel as of T (known at K): deals, amount and weighted amount per stage."""
    from salesengine.reports.funnel import funnel

    check_by(by)
    limits = size_bands(bands, by)
    check_policy(policy)
    t, k = instants(as_of, known_at)
    t2 = parse_time(compare_to, "--compare")
    if t2 is not None and t2 <= t:
        raise typer.BadParameter("must be later than --as-of", param_hint="--compare")
    check_chart(chart)
    policies = all_policies()
    if t2 is not None:
        compare(
            t, t2, k, policies, by=by, policy=policy, limits=limits, as_json=as_json, chart=chart
        )
        return
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        rows = funnel(conn, policies, as_of=t, known_at=k, by=by, policy=policy, size_bands=limits)
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


def compare(
    t: datetime,
    t2: datetime,
    k: datetime | None,
    policies: dict[str, FunnelPolicy],
    *,
    by: str | None,
    policy: str | None,
    limits: tuple[Decimal, ...] | None,
    as_json: bool,
    chart: Path | None,
) -> None:
    """``funnel --compare T2``: the moves of (T, T2] (docs/metrics.md)."""
    from salesengine.reports.funnel_moves import moves

    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        rows = moves(
            conn,
            policies,
            start=t,
            end=t2,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
        )
    title = f"Moves between {when(t)} and {when(t2)}" + (f", known at {when(k)}" if k else "")
    if chart is not None:
        from salesengine.reports.charts import write_moves_chart

        with writing_chart(chart):
            write_moves_chart(rows, chart, title=title, policies=policies)
    if as_json:
        instants = {"as_of": t, "compare": t2, "known_at": k, "earliest_recorded": earliest}
        print_json(instants | {"rows": [r.as_dict(by) for r in rows]})
        return
    print_moves(rows, by, title)
    if chart is not None:
        say(f"chart written to {chart}")


def print_moves(rows: list[MoveRow], by: str | None, title: str) -> None:
    """Per policy, currency and group: the deals moved, then their amounts."""
    from salesengine.reports.funnel_moves import MEASURES

    say(title)
    headers = ["at T" if m == "start" else "at T2" if m == "end" else m for m in MEASURES]
    for name, currency, group in dict.fromkeys((r.policy, r.currency, r.group) for r in rows):
        part = [r for r in rows if (r.policy, r.currency, r.group) == (name, currency, group)]
        label = f"{name}, {currency}" + (f", {by} {group or '(none)'}" if by else "")
        deals = Grid([key("stage"), *map(number, headers)], title=f"{label}: deals")
        amounts = Grid([key("stage"), *map(number, headers)], title=f"{label}: amounts")
        for r in part:
            deals.add(r.stage, *(str(r[m].deals) for m in MEASURES))
            amounts.add(r.stage, *(money(r[m].amount) for m in MEASURES))
        deals.print()
        amounts.print()
    if not rows:
        say("nothing was in the funnel or moved in the period")


def print_funnel(rows: list[FunnelReportRow], by: str | None, title: str) -> None:
    columns = [key("policy"), *([key(by)] if by else []), key("stage")]
    table = Grid(
        [*columns, number("deals"), number("amount"), number("weighted"), key("currency")],
        title=title,
    )
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
        table.add(*cells)
    table.print()


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
