"""How each deal command lands on a deal: the opening builds the aggregate, every other
command calls the aggregate's method for it with the guard of the deal's policy. The
engine (``SalesEngine.decide``) stamps the command and checks its id first."""

from __future__ import annotations

from datetime import date, datetime

from salesengine.application.commands import (
    Abandon,
    Advance,
    ChangeAmount,
    ChangeExpectedClose,
    ChangeOwner,
    Command,
    CompleteNextStep,
    LogVisit,
    MarkLost,
    MarkWon,
    OpenDeal,
    RecordFact,
    RecordKeyInfo,
    Regress,
    Reopen,
    RetractFact,
    RetractKeyInfo,
    SetNextStep,
)
from salesengine.application.ports import PolicySource
from salesengine.domain.deal import Deal
from salesengine.domain.errors import CommandRefused
from salesengine.domain.guard import GuardLookup
from salesengine.domain.state import DealState
from salesengine.domain.values import NextStep, Stamp, deal_id, end_of_day


def open_deal(catalog: PolicySource, command: OpenDeal, stamp: Stamp) -> Deal:
    """The deal ``command`` opens, its currency the policy's when an amount has none."""
    guard = catalog.guard(command.policy)
    currency = command.currency or (guard.policy.currency if command.amount is not None else None)
    return Deal.open(
        id=deal_id(command.deal),
        key=command.deal,
        guard=guard,
        stamp=stamp,
        facts=command.facts,
        account=command.account,
        owner=command.owner,
        team=command.team,
        region=command.region,
        amount=command.amount,
        currency=currency,
        expected_close=command.expected_close,
    )


def dispatch(
    deal: Deal, command: Command, stamp: Stamp, catalog: PolicySource, guards: GuardLookup
) -> None:
    """Let ``deal`` record what ``command`` (any deal command but an opening) says."""
    state = deal.state
    match command:
        case RecordFact(name=name, value=value):
            deal.record_fact(name, value, stamp, guards=guards)
        case RetractFact(name=name, reason=reason):
            deal.retract_fact(name, reason, stamp, guards=guards)
        case Advance(to=to):
            deal.advance(catalog.guard(state.policy), to, stamp)
        case Regress(to=to, reason=reason):
            deal.regress(catalog.guard(state.policy), to, reason, stamp)
        case LogVisit():
            deal.log_visit(command.kind, command.effective, command.attendees, command.note, stamp)
        case SetNextStep(action=action, due=due, owner=owner):
            step = next_step(action, due, owner, deal.state_at(stamp.effective_at), stamp)
            deal.set_next_step(step.action, step.due, step.owner, stamp, guards=guards)
        case CompleteNextStep(note=note):
            deal.complete_next_step(note, stamp, guards=guards)
        case ChangeAmount(amount=amount, currency=currency):
            if currency is None:
                # A backdated amount keeps the currency the deal had at its own date.
                stood = deal.state_at(stamp.effective_at).currency
                currency = stood or catalog.get(state.policy).currency
            deal.change_amount(amount, currency, stamp)
        case ChangeExpectedClose(expected_close=expected_close):
            deal.change_expected_close(expected_close, stamp)
        case ChangeOwner(owner=owner, team=team, region=region):
            deal.change_owner(owner, team, region, stamp)
        case MarkWon():
            deal.win(catalog.guard(state.policy), stamp)
        case MarkLost(reason=reason, competitor=competitor):
            deal.lose(catalog.guard(state.policy), reason, competitor, stamp)
        case Abandon(reason=reason):
            deal.abandon(catalog.guard(state.policy), reason, stamp)
        case Reopen(to=to, reason=reason, next_step=given):
            brought = (
                None
                if given is None
                else next_step(
                    given.action,
                    given.due,
                    given.owner,
                    deal.state_at(stamp.effective_at),
                    stamp,
                )
            )
            deal.reopen(catalog.guard(state.policy), to, reason, stamp, brought)
        case RecordKeyInfo(info=info, evidence=evidence):
            details = info.details()
            if info.topic == "budget" and "currency" not in details:
                # As an amount: the currency the deal had at the record's own date.
                stood = deal.state_at(stamp.effective_at).currency
                details["currency"] = stood or catalog.get(state.policy).currency
            deal.record_key_info(info.topic, details, evidence, stamp)
        case RetractKeyInfo(topic=topic, reason=reason):
            deal.retract_key_info(topic, reason, stamp)
        case _:  # pragma: no cover - the union is exhaustive
            raise CommandRefused(f"unsupported command {command.cmd}")


def next_step(
    action: str, due: date | datetime, owner: str | None, state: DealState, stamp: Stamp
) -> NextStep:
    """A date-only due means the end of that day; the owner defaults to the deal's owner
    (as the deal stood at the step's effective time), then the actor."""
    due_at = due if isinstance(due, datetime) else end_of_day(due)
    return NextStep(action, due_at, owner or state.owner or stamp.actor, stamp.effective_at)
