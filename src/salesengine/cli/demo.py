"""`salesengine demo`: a realistic quarter seeded into the store, and its funnel.

The quarter itself (teams, reps, visits, moves) is generated in ``demo_quarter``, which
the tests use too; it is imported when the command runs, not at start-up.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import money, say, when
from salesengine.cli.tables import Col, Grid

if TYPE_CHECKING:
    from salesengine.application.funnel import ReplayedFunnelRow


def demo_command(
    seed: Annotated[int, typer.Option(help="Randomness seed.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="Day the quarter ends, YYYY-MM-DD; default today (UTC).")
    ] = None,
) -> None:
    """Seed a realistic quarter (3 teams, 12 reps, five-level policy) and print the funnel."""
    from salesengine.application.funnel import funnel_by_replay
    from salesengine.application.results import Refused
    from salesengine.cli.demo_quarter import QUARTER_DAYS, TEAMS, build_demo, commands
    from salesengine.cli.demo_quotas import YEARLY, seed_quotas

    engine = STATE.engine()
    policy = engine.catalog.get("five-level")
    now = engine.clock()
    try:
        last_day = date.fromisoformat(end) if end is not None else now.date()
    except ValueError:
        raise typer.BadParameter(
            f"{end!r} is not a date (YYYY-MM-DD)", param_hint="--end"
        ) from None
    if last_day > now.date():
        raise typer.BadParameter("the quarter cannot end in the future", param_hint="--end")
    plan = build_demo(policy, last_day, seed)
    applied = duplicates = 0
    refused: list[tuple[str, Refused]] = []
    for ref, outcome in engine.execute_many(commands(plan)):
        if isinstance(outcome, Refused):
            refused.append((ref, outcome))
        elif outcome.status == "duplicate":
            duplicates += 1
        else:
            applied += 1
    deals = [engine.deal_events(k) for k in engine.deal_keys() if k.startswith(plan.prefix)]
    start = plan.anchor - timedelta(days=QUARTER_DAYS)
    visits = sum(d.state_at(plan.anchor).visits - d.state_at(start).visits for d in deals)
    reps = len({d.state.owner for d in deals})
    say(
        f"Demo quarter {when(start)} .. {when(plan.anchor)}: {len(deals)} deals, "
        f"{applied} commands applied, {duplicates} already present, "
        f"{len(refused)} refused by the guard."
    )
    say(f"{visits} visits by {reps} reps: {visits / reps / (QUARTER_DAYS / 7):.1f} per rep a week.")
    set_, kept = seed_quotas(
        engine, plan.prefix, plan.anchor, {team: reps for team, (_, reps) in TEAMS.items()}
    )
    say(
        f"Quotas: {money(YEARLY)} CNY a year per rep, in quarters, for {plan.anchor.year} "
        f"({set_} set, {kept} already present): salesengine vvalue, plan --per rep."
    )
    for ref, r in refused[:5]:
        say(f"  refused {ref}: {r.message}")
    policies = {policy.name: policy}
    versions = {(v.name, v.fingerprint): v.policy() for v in engine.kept_policy_versions()}
    for label, instant in (("today", now), ("30 days ago", now - timedelta(days=30))):
        rows = funnel_by_replay(deals, policies, instant, versions=versions)
        _funnel_table(f"Funnel {label} ({when(instant)})", rows)
    say(
        "Next: salesengine funnel --by team, forecast, health, conversion and cycle-time "
        'read the same store (see README); salesengine review --owner "Li Wei" is a rep\'s '
        "case review (docs/review.md)."
    )
    say(
        "Dashboard: make serve, then open http://127.0.0.1:8000/ with a token from "
        "salesengine token create --name NAME --role manager --team TEAM (docs/dashboard.md)."
    )


def _funnel_table(title: str, rows: list[ReplayedFunnelRow]) -> None:
    sums = (Col(h, "number") for h in ("deals", "amount", "weighted"))
    table = Grid([Col("stage"), *sums, Col("currency")], title=title)
    for row in rows:
        table.add(row.stage, str(row.deals), money(row.amount), money(row.weighted), row.currency)
    table.print()
