"""`salesengine review`: the case review (案情追踪) a manager runs in a weekly one-to-one:
A deals in full, B deals and what they wait on, a seeded sample of C and D deals,
overdue contacts and the period's prospecting figures (docs/review.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.read_models import all_policies, run_report
from salesengine.cli.render import money, say, short_time
from salesengine.cli.report_options import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    OwnerOption,
    TeamOption,
    instants,
)
from salesengine.cli.report_output import as_of_label, chosen
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    from salesengine.reports.review import Review, ReviewDeal

# Copies of the report's own (tests/e2e/test_review_cli.py holds them equal): the
# report loads sqlalchemy, imported when the command runs, not at start-up.
PERIODS = ("week", "month", "quarter")
DEFAULT_SAMPLE = 3


def review_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    owner: OwnerOption = None,
    team: TeamOption = None,
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help=f"The period of the prospecting figures, the one holding T: {', '.join(PERIODS)}.",
        ),
    ] = "week",
    sample: Annotated[
        int,
        typer.Option("--sample", min=0, help="C and D deals sampled, per grade."),
    ] = DEFAULT_SAMPLE,
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed",
            help="The sample's seed (any text); the same seed draws the same deals. "
            "Default: T's ISO week, e.g. 2026-W10.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The case review as of T (known at K): A deals in full, B deals and what they wait
    on, sampled C and D deals, overdue contacts and new deals this period."""
    if period not in PERIODS:
        raise typer.BadParameter(
            f"{period!r} is not one of {', '.join(PERIODS)}", param_hint="--period"
        )
    t, k = instants(as_of, known_at)
    from salesengine.application.accounts import Accounts
    from salesengine.cli.options import STATE
    from salesengine.reports.accounts_review import review_account_figures
    from salesengine.reports.open_deals import Only
    from salesengine.reports.recorded import ACCOUNTS
    from salesengine.reports.review import review, review_document

    policies = all_policies()
    result, earliest = run_report(
        None,
        k,
        lambda conn: review(
            conn,
            policies,
            STATE.engine(create=False).deal_events,
            as_of=t,
            known_at=k,
            only=Only(owner=owner, team=team),
            period=period,
            sample=sample,
            seed=seed,
            account_figures=review_account_figures(Accounts(STATE.engine(create=False)), policies),
        ),
        ACCOUNTS,
    )
    if as_json:
        from salesengine.cli.render import print_json

        print_json(review_document(result, earliest))
        return
    print_review(result, as_of_label(t, k) + chosen(owner, team))


def print_review(result: Review, title: str) -> None:
    say(f"Case review {title}")
    a = result.grade("A")
    say(f"\nA deals ({a.total}, in full)")
    for d in a.deals:
        _print_in_full(d)
    if not a.deals:
        say("  none")
    b = result.grade("B")
    grid = Grid(
        [key("deal"), key("owner"), key("stage"), key("expected close"),
         text("next step (next contact)"), key("last contact"), text("waiting on"),
         text("missing")],
        title=f"B deals ({b.total}): what they wait on",
    )  # fmt: skip
    for d in b.deals:
        grid.add(
            d.deal,
            d.owner or "",
            d.stage,
            _day(d.expected_close),
            "none"
            if d.next_step is None
            else f"{d.next_step.action} ({short_time(d.next_step.due)})",
            short_time(d.last_contact),
            _waiting(d),
            ", ".join(d.missing),
        )
    grid.print()
    for name in ("C", "D"):
        g = result.grade(name)
        sampled = Grid(
            [key("deal"), key("owner"), key("stage"), key("expected close"),
             number("amount"), key("last contact"), text("missing")],
            title=f"{name} deals: {len(g.deals)} of {g.total} sampled (seed {result.seed})",
        )  # fmt: skip
        for d in g.deals:
            sampled.add(
                d.deal,
                d.owner or "",
                d.stage,
                _day(d.expected_close),
                f"{money(d.amount)} {d.currency or ''}".strip(),
                short_time(d.last_contact),
                ", ".join(d.missing),
            )
        sampled.print()
    contacts = Grid(
        [key("deal"), key("owner"), key("stage"), key("grade"), key("last contact"),
         number("days since"), number("cadence")],
        title=f"Overdue contacts ({len(result.overdue_contacts)}, most overdue first)",
    )  # fmt: skip
    for c in result.overdue_contacts:
        contacts.add(
            c.deal, c.owner or "", c.stage, c.grade, short_time(c.last_contact),
            f"{c.days_since:.1f}", str(c.cadence_days),
        )  # fmt: skip
    contacts.print()
    p = result.period
    new = len(result.new_deals)
    say(f"Prospecting, {p.name} (from {short_time(p.start)} to T): {new} new deal(s)")
    for n in result.new_deals:
        say(f"  {n.deal}  opened {short_time(n.opened_at)}  {n.owner or '-'}  ({n.policy})")
    accounts = result.accounts
    if accounts is None:
        say("Accounts per grade and new accounts: not available (no account figures wired)")
    else:
        grades = ", ".join(f"{g} {n}" for g, n in accounts.per_grade.items())
        say(f"Accounts per grade: {grades}; new accounts: {accounts.new_accounts}")


def _print_in_full(d: ReviewDeal) -> None:
    amount = f"{money(d.amount)} {d.currency or ''}".strip() or "no amount"
    say(
        f"\n● {d.deal}  [{d.policy} · {d.stage}]  {amount}  expected close "
        f"{_day(d.expected_close) or '-'}  owner {d.owner or '-'}"
        + (f"  account {d.account}" if d.account else "")
    )
    source = (
        "recorded directly" if not d.source else ", ".join(f"{k} {v}" for k, v in d.source.items())
    )
    say(f"  came: opened {short_time(d.opened_at)} by {d.opened_by} in {d.opened_in}; {source}")
    for info in d.key_info:
        details = "; ".join(
            f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in info.details.items()
        )
        evidence = f" (evidence: {info.evidence})" if info.evidence else " (no evidence)"
        say(
            f"  {info.topic}: {details}{evidence}; by {info.actor}, {short_time(info.effective_at)}"
        )
    say(f"  missing: {', '.join(d.missing) or 'nothing'} (expected at this stage: "
        f"{', '.join(d.expected) or 'none'})")  # fmt: skip
    step = d.next_step
    say(
        "  next step: "
        + ("none" if step is None else f"{step.action}, due {short_time(step.due)} ({step.owner})")
    )
    say(f"  waiting on: {_waiting(d)}; last contact {short_time(d.last_contact)}")


def _waiting(d: ReviewDeal) -> str:
    if d.next_stage is None:
        return "the close (last stage)"
    if not d.waiting_on:
        return f"nothing: may advance to {d.next_stage}"
    return f"{d.next_stage}: {', '.join(d.waiting_on)}"


def _day(value: object) -> str:
    return "" if value is None else str(value)
