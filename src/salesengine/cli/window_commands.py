"""``salesengine conversion`` and ``salesengine cycle-time``: reports over a window [F, U)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from salesengine.cli.option_groups import option_group, parameter
from salesengine.cli.options import parse_time
from salesengine.cli.read_models import all_policies, run_report
from salesengine.cli.render import say, when
from salesengine.cli.report_options import (
    BY,
    JSON,
    KNOWN_AT,
    POLICY,
    SIZE_BANDS,
    check_chart,
    grouping,
)
from salesengine.cli.report_output import known_label, print_report, print_stage_table
from salesengine.cli.tables import number

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from salesengine.domain.policy import FunnelPolicy
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

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """What a window report is asked: [F, U) as known at K, grouped and kept to a policy;
    and whether as JSON."""

    start: datetime
    end: datetime
    known_at: datetime | None
    by: str | None
    policy: str | None
    size_bands: tuple[Decimal, ...] | None
    as_json: bool

    def ask(
        self,
        report: Callable[..., list[Row]],
        conn: Connection,
        policies: Mapping[str, FunnelPolicy],
    ) -> list[Row]:
        """``report`` (``reports.conversion.conversion``, ``reports.cycle_time.cycle_time``)
        of the window."""
        return report(
            conn,
            policies,
            start=self.start,
            end=self.end,
            known_at=self.known_at,
            by=self.by,
            policy=self.policy,
            size_bands=self.size_bands,
        )

    def title(self, name: str) -> str:
        return f"{name}, [{when(self.start)}, {when(self.end)})" + known_label(self.known_at)

    def document(self, earliest: datetime | None, rows: list[Any]) -> dict[str, Any]:
        """The report as JSON: its window, K, the store's earliest record, its rows."""
        from salesengine.reports.documents import rows_document

        asked = {"from": self.start, "to": self.end, "known_at": self.known_at}
        return rows_document(asked, earliest, rows, self.by)


def window_request(
    *,
    start: str,
    end: str,
    by: str | None,
    policy: str | None,
    known_at: str | None,
    as_json: bool,
    bands: str | None,
) -> WindowRequest:
    """The options of a window report, checked: the grouping's first, then the window's."""
    limits = grouping(by, bands, policy)
    f, u = window(start, end)
    k = parse_time(known_at, "--known-at")
    return WindowRequest(f, u, k, by, policy, limits, as_json)


# Both window reports take these, in this order, around their own options.
window_report = option_group(
    window_request,
    before=[
        parameter("start", FromOption),
        parameter("end", ToOption),
        BY,
        POLICY,
        KNOWN_AT,
        JSON,
    ],
    after=[SIZE_BANDS],
)


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


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


@window_report
def conversion_command(asked: WindowRequest) -> None:
    """Conversion and drop-off per stage, for the deals first entering it in [F, U)."""
    from salesengine.reports.conversion import conversion

    rows, earliest = run_report(
        asked.policy, asked.known_at, lambda conn: asked.ask(conversion, conn, all_policies())
    )
    print_report(
        as_json=asked.as_json,
        document=lambda: asked.document(earliest, rows),
        tables=lambda: print_conversion(rows, asked.by, asked.title("Conversion")),
    )


def print_conversion(rows: list[ConversionRow], by: str | None, title: str) -> None:
    def figures(r: ConversionRow) -> list[str]:
        counts = (r.cohort, r.advanced, r.lost, r.open)
        return [*map(str, counts), _share(r.conversion), _share(r.drop_off)]

    headers = ("cohort", "advanced", "lost", "open", "conversion", "drop-off")
    print_stage_table(rows, by, title, [*map(number, headers)], figures)
    if not rows:
        say("no deal entered a stage in the window")


@window_report
def cycle_time_command(
    asked: WindowRequest,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Write a stage-duration chart: FILE.png or FILE.html."),
    ] = None,
) -> None:
    """Days in each stage for the stays that ended in [F, U); days to win for deals won then."""
    from salesengine.reports.cycle_time import cycle_time

    check_chart(chart)
    policies = all_policies()
    rows, earliest = run_report(
        asked.policy, asked.known_at, lambda conn: asked.ask(cycle_time, conn, policies)
    )
    title = asked.title("Cycle time")

    def draw(path: Path) -> None:
        from salesengine.reports.charts import write_duration_chart

        write_duration_chart(rows, path, title=title, policies=policies)

    print_report(
        as_json=asked.as_json,
        document=lambda: asked.document(earliest, rows),
        tables=lambda: print_cycle_time(rows, asked.by, title),
        chart=chart,
        draw=draw,
    )


def print_cycle_time(rows: list[CycleTimeRow], by: str | None, title: str) -> None:
    def figures(r: CycleTimeRow) -> list[str]:
        return [str(r.count), *map(_days, (r.mean_days, r.median_days, r.p90_days))]

    headers = ("count", "mean days", "median days", "p90 days")
    print_stage_table(rows, by, title, [*map(number, headers)], figures)
    if not rows:
        say("no stage ended and no deal was won in the window")
