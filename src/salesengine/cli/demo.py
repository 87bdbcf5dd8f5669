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
    from salesengine.cli.demo_recording import Tally


def demo_command(
    seed: Annotated[int, typer.Option(help="Randomness seed.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="Day the quarter ends, YYYY-MM-DD; default today (UTC).")
    ] = None,
) -> None:
    """Seed a realistic quarter (3 teams, 12 reps, five-level policy, their accounts and
    quotas) and print the funnel."""
    from salesengine.application.funnel import funnel_by_replay
    from salesengine.cli.demo_accounts import BOOK_SIZE, account_entries
    from salesengine.cli.demo_quarter import QUARTER_DAYS, TEAMS, build_demo
    from salesengine.cli.demo_quotas import (
        RAISED_REP,
        RAISED_TO,
        TEAM_YEARLY,
        YEARLY,
        quota_entries,
    )
    from salesengine.cli.demo_recording import pending, record

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
    start = plan.anchor - timedelta(days=QUARTER_DAYS)
    teams = {team: reps for team, (_, reps) in TEAMS.items()}
    reps = [(rep, team, region) for team, (region, names) in TEAMS.items() for rep in names]
    accounts = account_entries(reps, start, plan.anchor, seed)
    quotas = quota_entries(plan.prefix, plan.anchor, teams)
    tallies = record(engine, pending(plan, accounts, quotas, now))
    deal_tally = tallies["deal"]
    refused = deal_tally.refused
    deals = [engine.deal_events(k) for k in engine.deal_keys() if k.startswith(plan.prefix)]
    visits = sum(d.state_at(plan.anchor).visits - d.state_at(start).visits for d in deals)
    owners = len({d.state.owner for d in deals})
    say(
        f"Demo quarter {when(start)} .. {when(plan.anchor)}: {len(deals)} deals, "
        f"{deal_tally.applied} commands applied, {deal_tally.duplicates} already present, "
        f"{len(refused)} refused by the guard."
    )
    say(
        f"{visits} visits by {owners} reps: {visits / owners / (QUARTER_DAYS / 7):.1f} per rep "
        f"a week; {len(plan.late)} logged late (salesengine anomalies)."
    )
    _say_accounts(tallies["account"], len(reps) * BOOK_SIZE)
    quota_tally = tallies["quota"]
    quarter = f"{plan.anchor.year}-Q{(plan.anchor.month - 1) // 3 + 1}"
    say(
        f"Quotas for {plan.anchor.year}: {money(YEARLY)} CNY per rep and "
        f"{money(TEAM_YEARLY)} per team, in quarters; {RAISED_REP}'s raised to "
        f"{money(RAISED_TO)} three weeks before the end ({quota_tally.applied} set, "
        f"{quota_tally.duplicates} already present): salesengine quota list [--known-at], "
        f"vvalue, plan --per rep --period {quarter}."
    )
    for ref, message in [*refused[:5], *tallies["account"].refused, *quota_tally.refused]:
        say(f"  refused {ref}: {message}")
    policies = {policy.name: policy}
    versions = {(v.name, v.fingerprint): v.policy() for v in engine.kept_policy_versions()}
    for label, instant in (("today", now), ("30 days ago", now - timedelta(days=30))):
        rows = funnel_by_replay(deals, policies, instant, versions=versions)
        _funnel_table(f"Funnel {label} ({when(instant)})", rows)
    say(
        "Next: salesengine funnel --by team, forecast, health, conversion and cycle-time "
        "read the same store (see README). The key-account method on it:"
    )
    month_ago = (plan.anchor - timedelta(days=30)).date().isoformat()
    for line in (
        'salesengine review --owner "Li Wei"          # the case review (docs/review.md)',
        "salesengine account list; account coverage   # grades, RAD cells, SOA",
        f'salesengine account show "Huaxin Steel" --as-of {month_ago}   # SOW 30%, D1',
        'salesengine account chain "Jinling Pharma"   # the decision chain',
        f"salesengine quota list --known-at {month_ago}   # {RAISED_REP}'s old quota",
        f"salesengine vvalue; plan --per rep --period {quarter}",
        "salesengine portfolio shape; anomalies       # the pyramid; what was logged late",
    ):
        say(f"  {line}")
    say(
        "Dashboard: make serve, then open http://127.0.0.1:8000/ with a token from "
        "salesengine token create --name NAME --role manager --team TEAM (docs/dashboard.md)."
    )


def _say_accounts(tally: Tally, accounts: int) -> None:
    say(
        f"Accounts: {accounts} in the reps' books, with buying power, share of wallet, grade, "
        f"decision chain and activities ({tally.applied} commands applied, "
        f"{tally.duplicates} already present, {tally.kept} accounts kept as another run "
        'left them): salesengine account list, account show "Huaxin Steel" '
        "[--as-of, --known-at], account chain, account coverage."
    )


def _funnel_table(title: str, rows: list[ReplayedFunnelRow]) -> None:
    sums = (Col(h, "number") for h in ("deals", "amount", "weighted"))
    table = Grid([Col("stage"), *sums, Col("currency")], title=title)
    for row in rows:
        table.add(row.stage, str(row.deals), money(row.amount), money(row.weighted), row.currency)
    table.print()
