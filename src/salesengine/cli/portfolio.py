"""``salesengine portfolio``: the Funnel List's view of reps and teams. ``shape`` (funnel
shape against the pyramid, new deals per period), ``project`` (if no new prospects are
added, in one sales cycle...), ``backtest`` (the projection against what followed) and
``reps`` (each rep's funnel against the ideal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from salesengine.cli.option_groups import option_group, parameter
from salesengine.cli.options import parse_time
from salesengine.cli.read_models import (
    all_policies,
    caught_up,
    check_policies_known,
    recording_start,
    store_policies,
)
from salesengine.cli.render import print_json, say
from salesengine.cli.report_options import (
    JSON,
    KNOWN_AT,
    AsOfOption,
    OwnerOption,
    TeamOption,
    check_policy,
    instants,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from salesengine.application.quota_figures import QuotaFigure
    from salesengine.domain.policy import FunnelPolicy
    from salesengine.reports.portfolio_deals import Selection
    from salesengine.reports.portfolio_reps import RepsReport

# The reports load sqlalchemy and numpy: each command imports them when it runs.
# Copied from reports.portfolio_shape.UNITS (tests/e2e/test_portfolio_cli.py holds them equal).
UNITS = ("week", "month", "quarter")

app = typer.Typer(
    help="Portfolio analysis per rep and team: funnel shape, projection, backtest, "
    "evaluation against the ideal funnel.",
    no_args_is_help=True,
)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Asked:
    """What every portfolio command is asked besides its instants."""

    known_at: datetime | None
    policy: str | None
    currency: str | None
    owner: str | None
    team: str | None
    as_json: bool

    def run(
        self, query: Callable[[Connection, dict[str, FunnelPolicy], Selection], R]
    ) -> tuple[R, datetime | None]:
        """``query`` on the read models, caught up, of the chosen policy; with the store's
        earliest recorded instant. A report's ValueError is a usage error."""
        from salesengine.cli.plan_shared import planned_policy
        from salesengine.reports.open_deals import Only
        from salesengine.reports.portfolio_deals import Selection

        policies = all_policies()
        with caught_up() as conn:
            name = planned_policy(store_policies(conn), self.policy)
            check_policies_known(conn, name)
            earliest = recording_start(conn, self.known_at)
            chosen = Selection(name, self.currency, Only(self.owner, self.team))
            return query(conn, policies, chosen), earliest


def _asked(
    known_at: str | None,
    policy: str | None,
    currency: str | None,
    owner: str | None,
    team: str | None,
    as_json: bool,
) -> Asked:
    check_policy(policy)
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise typer.BadParameter(f"{currency!r} is not a currency code", param_hint="--currency")
    return Asked(
        parse_time(known_at, "--known-at"),
        policy,
        currency.upper() if currency else None,
        owner,
        team,
        as_json,
    )


POLICY = parameter(
    "policy",
    Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="The deals of this policy; default the policy of the store's deals, when "
            "they all follow one.",
            show_default=False,
        ),
    ],
    None,
)
CURRENCY = parameter(
    "currency",
    Annotated[
        str | None,
        typer.Option("--currency", help="The deals in this currency; default the policy's."),
    ],
    None,
)
OWNER = parameter("owner", OwnerOption, None)
TEAM = parameter("team", TeamOption, None)
shared = option_group(_asked, after=[KNOWN_AT, POLICY, CURRENCY, OWNER, TEAM, JSON])

PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="The plan's period, whose previous period gives the conversions; default T's "
        "calendar quarter (YYYY, YYYY-Qn, YYYY-MM, YYYY-Www or F..U).",
        show_default=False,
    ),
]
WindowOption = Annotated[
    float,
    typer.Option("--window", min=0.001, help="Days before T the stage exits are read from."),
]
HorizonOption = Annotated[
    float | None,
    typer.Option(
        "--horizon",
        min=0.001,
        help="Days to project; default one sales cycle: the median days from opening to won "
        "of the deals won in the window.",
        show_default=False,
    ),
]
RunsOption = Annotated[int, typer.Option("--runs", min=1, help="Monte Carlo runs.")]
SeedOption = Annotated[
    int, typer.Option("--seed", help="Randomness seed (same seed, same figures).")
]


def _period(text: str | None) -> Any:
    if text is None:
        return None
    from salesengine.reports.periods import parse_period

    try:
        return parse_period(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--period") from None


def _usage(option: str) -> Callable[[Callable[[], R]], R]:
    """Run a report whose ValueError is about ``option``."""

    def run(report: Callable[[], R]) -> R:
        try:
            return report()
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint=option) from None

    return run


@app.command("shape")
@shared
def shape_command(
    asked: Asked,
    as_of: AsOfOption = None,
    period: PeriodOption = None,
    every: Annotated[
        str, typer.Option("--every", help=f"New deals per period: one of {', '.join(UNITS)}.")
    ] = "month",
    periods: Annotated[
        int, typer.Option("--periods", min=1, help="How many periods of new deals, T's last.")
    ] = 3,
) -> None:
    """Funnel shape per rep and team as of T against the pyramid the policy expects, and
    the new deals entering per period."""
    if every not in UNITS:
        raise typer.BadParameter(
            f"{every!r} is not one of {', '.join(UNITS)}", param_hint="--every"
        )
    chosen_period = _period(period)
    t, _ = instants(as_of, None)
    from salesengine.cli.portfolio_tables import print_shape
    from salesengine.reports.portfolio_shape import shape

    result, earliest = asked.run(
        lambda conn, policies, chosen: shape(
            conn,
            policies,
            chosen,
            as_of=t,
            known_at=asked.known_at,
            period=chosen_period,
            every=every,
            periods=periods,
        )
    )
    if asked.as_json:
        print_json(result.as_dict() | {"earliest_recorded": earliest})
        return
    print_shape(result)


@app.command("project")
@shared
def project_command(
    asked: Asked,
    as_of: AsOfOption = None,
    window: WindowOption = 91.0,
    horizon: HorizonOption = None,
    runs: RunsOption = 1000,
    seed: SeedOption = 7,
    empty_share: Annotated[
        float,
        typer.Option(
            "--empty-share",
            min=0.0,
            max=1.0,
            help="A funnel empties when the band's upper end of its open deals is at most "
            "this share of those open now.",
        ),
    ] = 0.25,
) -> None:
    """If no new prospects are added, in one sales cycle: each rep's and team's open
    funnel projected by Monte Carlo, with 80% bands."""
    t, _ = instants(as_of, None)
    from salesengine.cli.portfolio_tables import print_projection
    from salesengine.reports.portfolio_projection import project

    result, earliest = asked.run(
        lambda conn, policies, chosen: _usage("--horizon")(
            lambda: project(
                conn,
                policies,
                chosen,
                as_of=t,
                known_at=asked.known_at,
                window_days=window,
                horizon_days=horizon,
                runs=runs,
                seed=seed,
                empty_share=empty_share,
            )
        )
    )
    if asked.as_json:
        print_json(result.as_dict() | {"earliest_recorded": earliest})
        return
    print_projection(result)


@app.command("backtest")
@shared
def backtest_command(
    asked: Asked,
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            "--as-of",
            help="A past instant T to project from (repeat for several).",
            show_default=False,
        ),
    ] = None,
    window: WindowOption = 91.0,
    horizon: HorizonOption = None,
    runs: RunsOption = 1000,
    seed: SeedOption = 7,
) -> None:
    """The projection as of past instants against what followed: the share of (rep,
    figure) pairs whose actual outcome fell inside the 80% band."""
    if not as_of:
        raise typer.BadParameter(
            "give at least one past instant to project from", param_hint="--as-of"
        )
    moments = [parse_time(text, "--as-of") for text in as_of]
    now = datetime.now(UTC)
    for text, moment in zip(as_of, moments, strict=True):
        if moment is None or moment >= now:
            raise typer.BadParameter(f"{text!r} is not in the past", param_hint="--as-of")
    from salesengine.cli.portfolio_tables import print_backtest
    from salesengine.reports.portfolio_backtest import backtest

    result, earliest = asked.run(
        lambda conn, policies, chosen: _usage("--horizon")(
            lambda: backtest(
                conn,
                policies,
                chosen,
                as_ofs=[m for m in moments if m is not None],
                known_at=asked.known_at,
                window_days=window,
                horizon_days=horizon,
                runs=runs,
                seed=seed,
            )
        )
    )
    if asked.as_json:
        print_json(result.as_dict() | {"earliest_recorded": earliest})
        return
    print_backtest(result)


@app.command("reps")
@shared
def reps_command(
    asked: Asked,
    as_of: AsOfOption = None,
    period: PeriodOption = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Every rep's target for the period, in the currency; default each rep's "
            "quota for the period, else the rep's own won amount in the previous period.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Each rep's actual funnel as of T against the ideal funnel the plan reverse-calculates
    from the rep's target (the rep's quota, else last period's wins), with the funnel-fill
    score."""
    goal = _target(target)
    chosen_period = _period(period)
    t, _ = instants(as_of, None)
    from salesengine.cli.portfolio_tables import print_reps
    from salesengine.reports.portfolio_reps import evaluate_reps, quota_targets
    from salesengine.reports.portfolio_shape import period_of

    planned = chosen_period or period_of(t, "quarter")
    figures, notes = ([], ()) if goal is not None else _quotas(planned.name, t, asked.known_at)
    found: list[tuple[str, ...]] = []

    def evaluate(
        conn: Connection, policies: dict[str, FunnelPolicy], chosen: Selection
    ) -> RepsReport:
        targets, other_currency = quota_targets(figures, chosen.currency_of(policies))
        found.append(other_currency)
        return evaluate_reps(
            conn,
            policies,
            chosen,
            as_of=t,
            known_at=asked.known_at,
            period=planned,
            target=goal,
            targets=targets,
        )

    result, earliest = asked.run(evaluate)
    notes = (*notes, *found[0])
    if asked.as_json:
        print_json(result.as_dict() | {"notes": list(notes), "earliest_recorded": earliest})
        return
    print_reps(result)
    for note in notes:
        say(f"note: {note}")
    if result.plan.previous_in_progress:
        from salesengine.cli.plan_shared import in_progress

        say(f"note: {in_progress(result.plan, datetime.now(UTC))}")


def _quotas(
    period: str, t: datetime, known_at: datetime | None
) -> tuple[list[QuotaFigure], tuple[str, ...]]:
    """The reps' quotas for the period as of T, known at K; none (and why) for a period
    quotas are not set for."""
    from salesengine.application.quotas import Quotas
    from salesengine.cli.options import STATE
    from salesengine.reports.portfolio_reps import no_quota_period

    why = no_quota_period(period)
    if why is not None:
        return [], (why,)
    return Quotas(STATE.engine(create=False)).figures(period, t, known_at), ()


def _target(text: str | None) -> Decimal | None:
    if text is None:
        return None
    from salesengine.reports.plan import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--target") from None
