"""`salesengine forecast`: the weighted pipeline and the 4-week stage-based forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salesengine.cli.render import money, print_json
from salesengine.cli.reporting import all_policies, as_of_label, instants, read_models
from salesengine.cli.reports import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    check_policy,
)
from salesengine.cli.tables import Grid, key, number

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
        result = forecast(conn, policies, as_of=t, known_at=k, policy=policy)
    if as_json:
        print_json(as_dict(result))
        return
    suffix = as_of_label(t, k)
    sums = [number("deals"), number("amount"), number("weighted"), key("currency")]
    pipeline = Grid([key("policy"), *sums], title=f"Weighted pipeline {suffix}")
    for p in result.weighted_pipeline:
        pipeline.add(p.policy, str(p.deals), money(p.amount), money(p.weighted), p.currency)
    pipeline.print()
    weeks = Grid([key("week"), key("starts"), *sums], title="Open deals by expected close week")
    for w in result.weeks:
        cells = (w.week, w.starts.isoformat(), str(w.deals), money(w.amount), money(w.weighted))
        weeks.add(*cells, w.currency)
    for o in result.outside:
        weeks.add(o.bucket, "", str(o.deals), money(o.amount), money(o.weighted), o.currency)
    weeks.print()


def as_dict(result: Forecast) -> dict[str, Any]:
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "weighted_pipeline": result.weighted_pipeline,
        "weeks": result.weeks,
        "outside": result.outside,
    }
