"""``salesengine plan --per rep|team``: each rep's (team's) plan, from their own or the
pooled previous period, for a target or their remaining quota (docs/metrics.md, "Plan
per rep and per team")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

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
    note_unknown_versions,
    recording_start,
    store_policies,
)
from salesengine.cli.render import fail, money, print_json, say
from salesengine.cli.report_options import instants

if TYPE_CHECKING:
    from salesengine.reports.periods import Period
    from salesengine.reports.plan import Plan
    from salesengine.reports.plan_per import SubjectTarget

PERS = {"rep": "owner", "team": "team"}


@dataclass(frozen=True, slots=True)
class PerRequest:
    per: Literal["rep", "team"]
    ideal_from: Literal["own", "team"]
    subject: str | None
    target: Decimal | None
    period: Period

    @classmethod
    def checked(
        cls,
        per: str | None,
        ideal_from: str,
        rep: str | None,
        team: str | None,
        target: str | None,
        period: Period,
    ) -> PerRequest:

        if per not in PERS:
            hint = (
                "--per"
                if per is not None
                else ("--rep" if rep else "--team" if team else "--ideal-from")
            )
            raise typer.BadParameter(
                f"{per!r} is not rep or team" if per is not None
                else "--rep, --team and --ideal-from apply to a plan --per rep or --per team",
                param_hint=hint,
            )  # fmt: skip
        if ideal_from not in ("own", "team"):
            raise typer.BadParameter(
                f"{ideal_from!r} is not own or team", param_hint="--ideal-from"
            )
        if (per == "rep" and team is not None) or (per == "team" and rep is not None):
            wrong = "--team" if per == "rep" else "--rep"
            raise typer.BadParameter(f"applies with --per {wrong[2:]}", param_hint=wrong)
        amount = None if target is None else parse_amount(target)
        if amount is None and period.unit not in ("year", "quarter", "month"):
            raise typer.BadParameter(
                f"{period.name}: without --target each plan is for the remaining quota, and "
                "quotas are set per year, quarter or month (YYYY, YYYY-Qn, YYYY-MM)",
                param_hint="--period",
            )
        chosen_per: Literal["rep", "team"] = "rep" if per == "rep" else "team"
        chosen_ideal: Literal["own", "team"] = "own" if ideal_from == "own" else "team"
        return cls(chosen_per, chosen_ideal, rep or team, amount, period)


def plan_per(
    asked: PerRequest,
    policy: str | None,
    currency: str | None,
    as_of: str | None,
    known_at: str | None,
    as_json: bool,
) -> None:
    from salesengine.application.quotas import Quotas
    from salesengine.cli.options import STATE
    from salesengine.reports.plan_per import plans_per, remaining_targets
    from salesengine.reports.plan_targets import plan_per_document
    from salesengine.reports.recorded import QUOTAS
    from salesengine.reports.vvalue import vvalue

    check_currency(currency)
    t, k = instants(as_of, known_at)
    policies = all_policies()
    figures = (
        Quotas(STATE.engine(create=False)).figures(asked.period.name, t, k)
        if asked.target is None
        else []
    )
    with caught_up() as conn:
        planned = planned_policy(store_policies(conn), policy)
        check_policies_known(conn, planned)
        note_unknown_versions(conn, planned)
        earliest = recording_start(conn, k, QUOTAS)
        cur = currency.upper() if currency else policies[planned].currency
        targets: dict[str | None, SubjectTarget] = {}
        if asked.target is None:
            v = vvalue(conn, policies, figures, period=asked.period, as_of=t, known_at=k,
                       kind=asked.per)  # fmt: skip
            targets = remaining_targets(v, cur, asked.per)
        plans = plans_per(
            conn, policies, per="owner" if asked.per == "rep" else "team", policy=planned,
            targets=targets, period=asked.period, as_of=t, known_at=k, currency=cur,
            ideal_from=asked.ideal_from, given=asked.target, subject=asked.subject,
        )  # fmt: skip
    if asked.subject is not None and not plans:  # a name mistyped, not a subject idle
        fail(f"no {asked.per} named {asked.subject!r} has deals or quotas in "
             f"{asked.period.name}", 1)  # fmt: skip
    if as_json:
        print_json(
            plan_per_document(
                per=asked.per, ideal_from=asked.ideal_from, policy=planned, currency=cur,
                target=asked.target, period=asked.period, as_of=t, known_at=k, plans=plans,
                earliest=earliest,
            )
        )  # fmt: skip
        return
    if not plans:
        say(f"no {asked.per} to plan for {asked.period.name}")
    for p in plans:
        print_plan(p.plan, f"{asked.per} {p.subject or '(none)'} ({p.target_from}), ")
        if p.quota is not None and p.won_toward_quota is not None:
            say(toward_quota(p.quota, p.won_toward_quota, p.plan))
        say("")
    if plans and plans[0].plan.previous_in_progress:
        from datetime import UTC, datetime

        say(f"note: {in_progress(plans[0].plan, datetime.now(UTC))}")


def toward_quota(quota: Decimal, won: tuple[int, Decimal], p: Plan) -> str:
    """How the remaining quota was reached, and what the won row then counts."""
    deals, amount = won
    line = (
        f"quota {money(quota)} {p.currency} for {p.period.name}: {money(amount)} won in "
        f"{deals} deal{'' if deals == 1 else 's'} so far"
    )
    wins = p.rows[-1].needed
    if p.target is None or wins is None:
        return line + "."
    return (
        f"{line}, {money(p.target)} remaining; the won row needs those {deals} and "
        f"{wins - deals} more (each win counted once)."
    )
