"""`salesengine forecast`: the weighted pipeline and the 4-week stage-based forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salesengine.cli.read_models import all_policies, read_models, recording_start
from salesengine.cli.render import grouped_json, money, print_json
from salesengine.cli.report_options import (
    AsOfOption,
    ByOption,
    JsonOption,
    KnownAtOption,
    OwnerOption,
    PolicyOption,
    SizeBandsOption,
    TeamOption,
    check_by,
    check_policy,
    instants,
    size_bands,
)
from salesengine.cli.report_output import as_of_label, chosen, shown
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.reports.forecast import Forecast

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.


def forecast_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    policy: PolicyOption = None,
    by: ByOption = None,
    owner: OwnerOption = None,
    team: TeamOption = None,
    bands: SizeBandsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The forecast as of T (known at K): weighted pipeline and open deals by close week."""
    from salesengine.reports.forecast import forecast
    from salesengine.reports.open_deals import Only

    check_by(by)
    limits = size_bands(bands, by)
    check_policy(policy)
    t, k = instants(as_of, known_at)
    policies = all_policies()
    only = Only(owner=owner, team=team)
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        result = forecast(
            conn, policies, as_of=t, known_at=k, policy=policy, by=by, only=only, size_bands=limits
        )
    if as_json:
        print_json(as_dict(result) | {"earliest_recorded": earliest})
        return
    suffix = as_of_label(t, k) + chosen(only)
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


def as_dict(result: Forecast) -> dict[str, Any]:
    by = result.by
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "by": by,
        "owner": result.only.owner,
        "team": result.only.team,
        "weighted_pipeline": [grouped_json(p, by) for p in result.weighted_pipeline],
        "weeks": [grouped_json(w, by) for w in result.weeks],
        "outside": [grouped_json(o, by) for o in result.outside],
    }
