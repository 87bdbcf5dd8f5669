"""``salesengine conversion`` and ``salesengine cycle-time``: reports over a window [F, U)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.cli.options import parse_time
from salesengine.cli.read_models import all_policies, read_models, recording_start
from salesengine.cli.render import print_json, say, when
from salesengine.cli.report_options import (
    ByOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    SizeBandsOption,
    check_by,
    check_chart,
    check_policy,
    size_bands,
)
from salesengine.cli.report_output import writing_chart
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.reports.conversion import ConversionRow
    from salesengine.reports.cycle_time import CycleTimeRow

# The reports load sqlalchemy: each command imports its own when it runs, not at start-up.

FromOption = Annotated[
    str,
    typer.Option(
        "--from", help="Window start F (included): ISO 8601 with offset, or YYYY-MM-DD (UTC)."
    ),
]
ToOption = Annotated[
    str,
    typer.Option(
        "--to", help="Window end U (excluded): ISO 8601 with offset, or YYYY-MM-DD (UTC)."
    ),
]


def parse_instant(value: str, option: str) -> datetime:
    """An instant with offset, or a plain date meaning its midnight UTC (parse_time)."""
    parsed = parse_time(value, option)
    if parsed is None:  # pragma: no cover - a value was given
        raise typer.BadParameter("an instant is required", param_hint=option)
    return parsed


def window(start: str, end: str) -> tuple[datetime, datetime]:
    f, u = parse_instant(start, "--from"), parse_instant(end, "--to")
    if u <= f:
        raise typer.BadParameter(f"must be after --from ({when(f)})", param_hint="--to")
    return f, u


def _title(name: str, f: datetime, u: datetime, k: datetime | None) -> str:
    return f"{name}, [{when(f)}, {when(u)})" + (f", known at {when(k)}" if k else "")


def _window_json(
    f: datetime, u: datetime, k: datetime | None, earliest: datetime | None, rows: list[Any]
) -> dict[str, Any]:
    return {"from": f, "to": u, "known_at": k, "earliest_recorded": earliest, "rows": rows}


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def conversion_command(
    start: FromOption,
    end: ToOption,
    by: ByOption = None,
    policy: PolicyOption = None,
    known_at: KnownAtOption = None,
    as_json: JsonOption = False,
    bands: SizeBandsOption = None,
) -> None:
    """Conversion and drop-off per stage, for the deals first entering it in [F, U)."""
    from salesengine.reports.conversion import conversion

    check_by(by)
    limits = size_bands(bands, by)
    check_policy(policy)
    f, u = window(start, end)
    k = parse_time(known_at, "--known-at")
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        rows = conversion(
            conn,
            all_policies(),
            start=f,
            end=u,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
        )
    if as_json:
        print_json(_window_json(f, u, k, earliest, [r.as_dict(by) for r in rows]))
        return
    print_conversion(rows, by, _title("Conversion", f, u, k))


def print_conversion(rows: list[ConversionRow], by: str | None, title: str) -> None:
    columns = [key("policy"), *([key(by)] if by else []), key("stage")]
    counts = ("cohort", "advanced", "lost", "open", "conversion", "drop-off")
    table = Grid([*columns, *map(number, counts)], title=title)
    for r in rows:
        table.add(
            r.policy,
            *([r.group or "(none)"] if by else []),
            r.stage,
            str(r.cohort),
            str(r.advanced),
            str(r.lost),
            str(r.open),
            _share(r.conversion),
            _share(r.drop_off),
        )
    table.print()
    if not rows:
        say("no deal entered a stage in the window")


def cycle_time_command(
    start: FromOption,
    end: ToOption,
    by: ByOption = None,
    policy: PolicyOption = None,
    known_at: KnownAtOption = None,
    as_json: JsonOption = False,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Write a stage-duration chart: FILE.png or FILE.html."),
    ] = None,
    bands: SizeBandsOption = None,
) -> None:
    """Days in each stage for the stays that ended in [F, U); days to win for deals won then."""
    from salesengine.reports.cycle_time import cycle_time

    check_by(by)
    limits = size_bands(bands, by)
    check_policy(policy)
    f, u = window(start, end)
    k = parse_time(known_at, "--known-at")
    check_chart(chart)
    policies = all_policies()
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        rows = cycle_time(
            conn,
            policies,
            start=f,
            end=u,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
        )
    title = _title("Cycle time", f, u, k)
    if chart is not None:
        from salesengine.reports.charts import write_duration_chart

        with writing_chart(chart):
            write_duration_chart(rows, chart, title=title, policies=policies)
    if as_json:
        print_json(_window_json(f, u, k, earliest, [r.as_dict(by) for r in rows]))
        return
    print_cycle_time(rows, by, title)
    if chart is not None:
        say(f"chart written to {chart}")


def print_cycle_time(rows: list[CycleTimeRow], by: str | None, title: str) -> None:
    columns = [key("policy"), *([key(by)] if by else []), key("stage")]
    days = ("count", "mean days", "median days", "p90 days")
    table = Grid([*columns, *map(number, days)], title=title)
    for r in rows:
        table.add(
            r.policy,
            *([r.group or "(none)"] if by else []),
            r.stage,
            str(r.count),
            _days(r.mean_days),
            _days(r.median_days),
            _days(r.p90_days),
        )
    table.print()
    if not rows:
        say("no stage ended and no deal was won in the window")
