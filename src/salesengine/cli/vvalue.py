"""``salesengine vvalue``: each rep's and team's V value, the remaining weighted
pipeline over the remaining quota (docs/metrics.md, "V value")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from salesengine.cli.read_models import all_policies, run_report
from salesengine.cli.render import fail, print_json, say, when
from salesengine.cli.report_options import AsOfOption, JsonOption, KnownAtOption, instants
from salesengine.cli.report_output import known_label
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.reports.periods import Period
    from salesengine.reports.vvalue import VValue

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.

QUOTA_UNITS = ("year", "quarter", "month")


def vvalue_command(
    rep: Annotated[str | None, typer.Option("--rep", help="Only this rep.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team.")] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="YYYY, YYYY-Qn or YYYY-MM (UTC); default the quarter containing T.",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    as_json: JsonOption = False,
) -> None:
    """V value per rep and team: remaining weighted pipeline / remaining quota."""
    from salesengine.application.quotas import Quotas
    from salesengine.cli.options import STATE
    from salesengine.reports.recorded import QUOTAS
    from salesengine.reports.vvalue import vvalue

    if rep is not None and team is not None:
        raise typer.BadParameter("give --rep or --team, not both", param_hint="--rep")
    t, k = instants(as_of, known_at)
    chosen = quota_period(period, t)
    figures = Quotas(STATE.engine(create=False)).figures(chosen.name, t, k)
    policies = all_policies()
    kind: Literal["rep", "team"] | None = (
        "rep" if rep is not None else "team" if team is not None else None
    )
    result, earliest = run_report(
        None,
        k,
        lambda conn: vvalue(
            conn, policies, figures, period=chosen, as_of=t, known_at=k, kind=kind,
            subject=rep if rep is not None else team,
        ),
        QUOTAS,
    )  # fmt: skip
    if kind is not None and not result.rows:  # a name mistyped is not a rep with nothing
        fail(f"no {kind} named {rep or team!r} has deals or quotas in {chosen.name}", 1)
    if as_json:
        print_json(result.as_dict() | {"earliest_recorded": earliest})
        return
    print_vvalue(result)


def quota_period(text: str | None, t: datetime) -> Period:
    """The period of a V value: one quotas are set for (a year, quarter or month); by
    default the quarter containing T."""
    from salesengine.reports.periods import parse_period

    if text is None:
        utc = t.astimezone(UTC)
        return parse_period(f"{utc.year:04d}-Q{(utc.month - 1) // 3 + 1}")
    try:
        chosen = parse_period(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--period") from None
    if chosen.unit not in QUOTA_UNITS:
        raise typer.BadParameter(
            f"{text!r}: quotas are set per year, quarter or month (YYYY, YYYY-Qn, YYYY-MM)",
            param_hint="--period",
        )
    return chosen


def whole(amount: Decimal) -> str:
    """An amount in whole units, for the table to fit (``--json`` gives it exactly)."""
    return f"{amount:,.0f}"


def ratio(value: object) -> str:
    return "-" if value is None else f"{value}"


def print_vvalue(result: VValue) -> None:
    p = result.period
    title = (
        f"V value for {p.name} [{when(p.start)}, {when(p.end)}), as of {when(result.as_of)}"
        + known_label(result.known_at)
    )
    table = Grid(
        [key("kind"), key("subject"), key("cur."), number("quota"), number("won"),
         number("remaining"), number("pipeline"), number("deals"), number("V")],
        title=title,
    )  # fmt: skip
    for r in result.rows:
        quota = (
            "-" if r.quota is None else whole(r.quota) + ("*" if r.quota_source == "reps" else "")
        )
        remaining = "-" if r.remaining is None else whole(r.remaining)
        v = "met" if r.met else ratio(r.v)
        table.add(r.kind, r.subject or "(none)", r.currency or "", quota, whole(r.won),
                  remaining, whole(r.pipeline), str(r.pipeline_deals), v)  # fmt: skip
    table.print()
    say(
        "Amounts in whole units. pipeline: weighted open deals expected to close by the "
        "period's end; V = pipeline / remaining quota."
    )
    if any(r.quota_source == "reps" for r in result.rows):
        say("*: the team has no quota of its own: the sum of its reps' quotas.")
    left_out = sum(r.undated + r.later for r in result.rows if r.kind == "rep")
    if left_out:
        say(f"{left_out} open deal(s) left out: no expected close, or expected after the period.")
    for problem in result.problems:
        say(f"note: {problem}")
