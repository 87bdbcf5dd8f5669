"""`salesengine forecast`: the weighted pipeline and the 4-week stage-based forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING

from salesengine.cli.open_deals import OpenDealsRequest, open_deals_report
from salesengine.cli.render import money
from salesengine.cli.report_output import print_report, shown
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.reports.forecast import Forecast

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.


@open_deals_report
def forecast_command(asked: OpenDealsRequest) -> None:
    """The forecast as of T (known at K): weighted pipeline and open deals by close week."""
    from salesengine.reports.documents import forecast_document
    from salesengine.reports.forecast import forecast

    result, earliest = asked.run(forecast)
    print_report(
        as_json=asked.as_json,
        document=lambda: forecast_document(result, earliest),
        tables=lambda: print_forecast(result, asked.title),
    )


def print_forecast(result: Forecast, suffix: str) -> None:
    by = result.by
    group = [key(by)] if by else []
    sums = [number("deals"), number("amount"), number("weighted"), key("currency")]
    pipeline = Grid([key("policy"), *group, *sums], title=f"Weighted pipeline {suffix}")
    for p in result.weighted_pipeline:
        figures = (str(p.deals), money(p.amount), money(p.weighted), p.currency)
        pipeline.add(p.policy, *shown(p.group, by), *figures)
    pipeline.print()
    weeks = Grid(
        [key("week"), key("starts"), *group, *sums], title="Open deals by expected close week"
    )
    for w in result.weeks:
        cells = (str(w.deals), money(w.amount), money(w.weighted), w.currency)
        weeks.add(w.week, w.starts.isoformat(), *shown(w.group, by), *cells)
    for o in result.outside:
        cells = (str(o.deals), money(o.amount), money(o.weighted), o.currency)
        weeks.add(o.bucket, "", *shown(o.group, by), *cells)
    weeks.print()
