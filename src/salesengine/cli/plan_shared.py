"""What ``plan`` and ``plan --per`` share: their option checks and the plan's table."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import typer

from salesengine.cli.render import money, say, when
from salesengine.cli.report_output import known_label
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.reports.plan import Plan


def check_currency(currency: str | None) -> None:
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise typer.BadParameter(f"{currency!r} is not a currency code", param_hint="--currency")


def planned_policy(held: list[str], given: str | None) -> str:
    """The policy to plan: the one given, which the store must hold deals of, else the
    one policy of the store's deals. A plan of a policy without deals would be all
    dashes, and one chosen among several would be a guess."""
    if given is not None:
        if given not in held:
            holds = f"it holds deals of {', '.join(held)}" if held else "it holds no deals"
            raise typer.BadParameter(
                f"the store holds no deals of policy {given!r} to plan from ({holds})",
                param_hint="--policy",
            )
        return given
    if not held:
        raise typer.BadParameter(
            "the store holds no deals to plan from: record or import some first",
            param_hint="--policy",
        )
    if len(held) > 1:
        raise typer.BadParameter(
            f"the store holds deals of several policies ({', '.join(held)}): choose one",
            param_hint="--policy",
        )
    return held[0]


def in_progress(p: Plan, now: datetime) -> str:
    """What a plan from a reference period not over at T uses (docs/metrics.md, "Plan")."""
    prev = p.previous
    cutoff = p.known_at or now
    by = f"known at {when(p.known_at)}" if p.known_at else "recorded so far"
    what = (
        "only its part recorded by then"
        if cutoff < prev.end
        else "the whole period, events after T included"
    )
    return (
        f"{prev.name} [{when(prev.start)}, {when(prev.end)}), the period planned from, has "
        f"not ended at T ({when(p.as_of)}): its conversion, won deals and days in stage are "
        f"those {by}, {what}"
    )


def parse_amount(text: str) -> Decimal:
    from salesengine.reports.plan import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--target") from None


def print_plan(p: Plan, subject: str = "") -> None:
    """``subject``: whose plan it is, in a plan per rep or team."""
    aim = "no target" if p.target is None else f"target {money(p.target)} {p.currency}"
    title = (
        f"Plan for {subject}{p.policy}, {p.period.name} [{when(p.period.start)}, "
        f"{when(p.period.end)}): {aim}; actual as of {when(p.as_of)}" + known_label(p.known_at)
    )
    numbers = ("conv.", "win rate", "needed", "actual", "gap", f"amount {p.currency}", "days")
    table = Grid([key("stage"), *map(number, numbers), key("enter by")], title=title)
    passed = False
    for r in p.rows:
        late = r.latest_entry is not None and r.latest_entry < p.as_of
        passed = passed or late
        table.add(
            r.stage,
            _share(r.conversion),
            _share(r.win_rate),
            "-" if r.needed is None else str(r.needed),
            str(r.deals),
            "-" if r.gap is None else f"{r.gap:+d}",
            f"{r.amount:,.0f}",
            "-" if r.mean_days is None else f"{r.mean_days:,.1f}",
            "-" if r.latest_entry is None else r.latest_entry.date().isoformat() + "*" * late,
        )
    table.print()
    average = p.average_won
    size = "-" if average is None else f"{money(average)} {p.currency}"
    say(
        f"From {p.previous.name} [{when(p.previous.start)}, {when(p.previous.end)}): "
        f"{p.won_deals} deal{'' if p.won_deals == 1 else 's'} won, average {size}; "
        "conversion and mean days in stage from then."
    )
    say("needed: deals the stage must hold for the target; actual: as of T (won: in the period).")
    say(
        "enter by: the latest entry into the stage to close by the period's end"
        + (" (* already past at T)." if passed else ".")
    )
    for problem in p.problems:
        say(f"note: {problem}")


def _share(value: Fraction | None) -> str:
    return "-" if value is None else f"{float(value):.1%}"
