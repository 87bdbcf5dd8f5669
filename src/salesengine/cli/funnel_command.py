"""``salesengine funnel``: the funnel as of T, or with ``--compare`` the moves between two
instants."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.options import parse_time
from salesengine.cli.read_models import all_policies, run_report
from salesengine.cli.render import money, say, when
from salesengine.cli.report_options import (
    AsOfOption,
    ByOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    SizeBandsOption,
    check_chart,
    grouping,
    instants,
)
from salesengine.cli.report_output import (
    as_of_label,
    known_label,
    print_report,
    print_stage_table,
)
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.domain.policy import FunnelPolicy
    from salesengine.reports.funnel import FunnelReportRow
    from salesengine.reports.funnel_moves import MoveRow

# The reports load sqlalchemy and numpy: each is imported when the command runs, not at
# start-up.


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
    from salesengine.reports.documents import rows_document
    from salesengine.reports.funnel import funnel

    limits = grouping(by, bands, policy)
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
    rows, earliest = run_report(
        policy,
        k,
        lambda conn: funnel(
            conn, policies, as_of=t, known_at=k, by=by, policy=policy, size_bands=limits
        ),
    )

    def draw(path: Path) -> None:
        from salesengine.reports.charts import write_funnel_chart

        write_funnel_chart(rows, path, title=f"Funnel as of {when(t)}", policies=policies)

    print_report(
        as_json=as_json,
        document=lambda: rows_document({"as_of": t, "known_at": k}, earliest, rows, by),
        tables=lambda: print_funnel(rows, by, title=f"Funnel {as_of_label(t, k)}"),
        chart=chart,
        draw=draw,
    )


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
    from salesengine.reports.documents import rows_document
    from salesengine.reports.funnel_moves import moves

    rows, earliest = run_report(
        policy,
        k,
        lambda conn: moves(
            conn,
            policies,
            start=t,
            end=t2,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
        ),
    )
    title = f"Moves between {when(t)} and {when(t2)}" + known_label(k)

    def draw(path: Path) -> None:
        from salesengine.reports.charts import write_moves_chart

        write_moves_chart(rows, path, title=title, policies=policies)

    asked = {"as_of": t, "compare": t2, "known_at": k}
    print_report(
        as_json=as_json,
        document=lambda: rows_document(asked, earliest, rows, by),
        tables=lambda: print_moves(rows, by, title),
        chart=chart,
        draw=draw,
    )


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
    def figures(r: FunnelReportRow) -> list[str]:
        return [str(r.deals), money(r.amount), money(r.weighted), r.currency]

    sums = [number("deals"), number("amount"), number("weighted"), key("currency")]
    print_stage_table(rows, by, title, sums, figures)
