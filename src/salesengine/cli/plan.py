"""``salesengine plan``: the ideal funnel for a revenue target against the actual one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from salesengine.cli.plan_shared import (
    check_currency,
    in_progress,
    parse_amount,
    planned_policy,
    print_plan,
)
from salesengine.cli.read_models import (
    all_policies,
    caught_up,
    check_policies_known,
    recording_start,
    store_policies,
)
from salesengine.cli.render import print_json, say
from salesengine.cli.report_options import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    check_policy,
    instants,
)
from salesengine.reports.periods import SYNTAX, parse_period

# The plan report loads sqlalchemy: it is imported when the command runs, not at start-up.


def plan_command(
    period: Annotated[str, typer.Option("--period", help=f"The period: {SYNTAX} (UTC).")],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Revenue target for the period, in the currency (with --per: each "
            "subject's; default their remaining quota).",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Plan the deals of this policy; default the policy of the store's deals, "
            "when they all follow one.",
            show_default=False,
        ),
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="Currency of the target; default the policy's.")
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    per: Annotated[
        str | None,
        typer.Option(
            "--per",
            help="A plan per rep (deal owner) or per team: each one's ideal funnel against "
            "their actual one.",
            show_default=False,
        ),
    ] = None,
    ideal_from: Annotated[
        str,
        typer.Option(
            "--ideal-from",
            help="With --per: plan each from their own previous period (own) or the "
            "pooled one of every deal (team).",
        ),
    ] = "own",
    rep: Annotated[str | None, typer.Option("--rep", help="With --per rep: only this rep.")] = None,
    team: Annotated[
        str | None, typer.Option("--team", help="With --per team: only this team.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deals each stage must hold to reach a target, from last period's conversion and pace."""
    from salesengine.reports.plan import plan

    try:
        chosen = parse_period(period)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--period") from None
    if per is not None or rep is not None or team is not None or ideal_from != "own":
        from salesengine.cli.plan_per import PerRequest, plan_per

        asked = PerRequest.checked(per, ideal_from, rep, team, target, chosen)
        check_policy(policy)
        plan_per(asked, policy, currency, as_of, known_at, as_json)
        return
    if target is None:
        raise typer.BadParameter(
            "give the target (or --per rep|team to plan from each one's remaining quota)",
            param_hint="--target",
        )
    amount = parse_amount(target)
    check_policy(policy)
    check_currency(currency)
    t, k = instants(as_of, known_at)
    policies = all_policies()
    with caught_up() as conn:
        planned = planned_policy(store_policies(conn), policy)
        check_policies_known(conn, planned)
        earliest = recording_start(conn, k)
        result = plan(
            conn,
            policies,
            policy=planned,
            target=amount,
            period=chosen,
            as_of=t,
            known_at=k,
            currency=currency.upper() if currency else None,
        )
    if as_json:
        print_json(result.as_dict() | {"earliest_recorded": earliest})
        return
    print_plan(result)
    if result.previous_in_progress:
        say(f"note: {in_progress(result, datetime.now(UTC))}")
