"""`salesengine forecast`: the weighted pipeline and the 4-week stage-based forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from salesengine.cli.render import add_row, money, out, print_json
from salesengine.cli.reporting import (
    all_policies,
    as_of_label,
    instants,
    read_models,
    recording_start,
)
from salesengine.cli.reports import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    check_policy,
)

if TYPE_CHECKING:
    from salesengine.reports.forecast import Forecast

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.


def forecast_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The forecast as of T (known at K): weighted pipeline and open deals by close week."""
    from salesengine.reports.forecast import forecast

    check_policy(policy)
    t, k = instants(as_of, known_at)
    policies = all_policies()
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        result = forecast(conn, policies, as_of=t, known_at=k, policy=policy)
    if as_json:
        print_json(as_dict(result) | {"earliest_recorded": earliest})
        return
    suffix = as_of_label(t, k)
    pipeline = Table("policy", "deals", "amount", "weighted", "currency")
    pipeline.title = f"Weighted pipeline {suffix}"
    for p in result.weighted_pipeline:
        add_row(pipeline, p.policy, str(p.deals), money(p.amount), money(p.weighted), p.currency)
    out.print(pipeline)
    weeks = Table("week", "starts", "deals", "amount", "weighted", "currency")
    weeks.title = "Open deals by expected close week"
    for w in result.weeks:
        cells = (w.week, w.starts.isoformat(), str(w.deals), money(w.amount), money(w.weighted))
        add_row(weeks, *cells, w.currency)
    for o in result.outside:
        add_row(weeks, o.bucket, "", str(o.deals), money(o.amount), money(o.weighted), o.currency)
    out.print(weeks)


def as_dict(result: Forecast) -> dict[str, Any]:
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "weighted_pipeline": result.weighted_pipeline,
        "weeks": result.weeks,
        "outside": result.outside,
    }
