"""The Deal aggregate: every change to an opportunity is an immutable event.

Each event carries two clocks: ``effective_at`` (when it happened, given by the
writer) and ``timestamp`` (when the engine recorded it, never given by the writer).
A deal's timeline is its events ordered by effective time, ties broken by stream
version; its state is the fold of that timeline (``DealState``).

Why one long module: the events are nested in ``Deal`` (the eventsourcing library's
style) and every stored event names its class by topic, ``salesengine.domain.deal:
Deal.Opened`` and so on, so the events cannot move without renaming the topics of
every store; and the checks and hints below read those nested classes, so moving them
out would make an import cycle with this module.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from salesengine.domain.errors import (
    CommandRefused,
    DealClosed,
    InvalidTime,
    MoveNotAllowed,
    NoOpenNextStep,
    UnderminesLaterMove,
    UnknownFact,
    UnknownKeyInfo,
)
from salesengine.domain.eventsourcing_seam import (
    append_new_event,
    create_aggregate,
)
from salesengine.domain.guard import GuardLookup, StageGuard, Trigger
from salesengine.domain.key_info import KeyInfo, details_problem
from salesengine.domain.stamping import check_not_future, stamp_fields, stamped_event
from salesengine.domain.state import DealState
from salesengine.domain.values import FactValue, NextStep, Stamp, Status


def _without_digest(state: dict[str, Any]) -> None:
    """Upcast a version 1 event: stored before events kept their command's digest."""
    state["command_digest"] = None


def _without_policy_version(state: dict[str, Any]) -> None:
    """Upcast a version 2 stage change: stored before stage changes kept the policy
    version they were decided under. It counts under the deal's previous one."""
    state["policy_version"] = None


class Deal(Aggregate):
    """An opportunity moving through the stages of one funnel policy."""

    class Event(Aggregate.Event):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None

        moves_stage: ClassVar[bool] = False
        # Version 2 added command_digest; events stored before it have none.
        class_version: ClassVar[int] = 2
        upcast_v1_v2 = staticmethod(_without_digest)

        def evolve(self, state: DealState) -> DealState:
            raise NotImplementedError

        def apply(self, deal: Deal) -> None:
            deal._absorb(self)

    class Opened(Aggregate.Created):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None
        deal: str
        policy: str
        policy_version: str
        stage: str
        account: str | None
        owner: str | None
        team: str | None
        region: str | None
        amount: Decimal | None
        currency: str | None
        expected_close: date | None
        facts: dict[str, FactValue]

        moves_stage: ClassVar[bool] = True
        class_version: ClassVar[int] = 2  # as Event's
        upcast_v1_v2 = staticmethod(_without_digest)

        def evolve(self, state: DealState) -> DealState:  # noqa: ARG002 - the first event
            return DealState(
                key=self.deal,
                policy=self.policy,
                policy_version=self.policy_version,
                status=Status.OPEN,
                stage=self.stage,
                opened_at=self.effective_at,
                stage_entered_at=self.effective_at,
                facts=MappingProxyType(dict(self.facts)),
                amount=self.amount,
                currency=self.currency,
                expected_close=self.expected_close,
                account=self.account,
                owner=self.owner,
                team=self.team,
                region=self.region,
            )

        def apply(self, deal: Deal) -> None:
            deal._absorb(self)

    class Move(Event):
        """A stage change, decided by the guard of one policy version (its fingerprint)."""

        policy_version: str | None  # None: stored before moves kept it (see the upcaster)

        moves_stage = True
        # Version 3 added policy_version.
        class_version: ClassVar[int] = 3
        upcast_v2_v3 = staticmethod(_without_policy_version)

        def entered_under(self, state: DealState) -> str:
            """The policy version the deal's new position was entered under."""
            return self.policy_version or state.policy_version

    class FactRecorded(Event):
        name: str
        value: FactValue

        def evolve(self, state: DealState) -> DealState:
            return state.with_fact(self.name, self.value)

    class FactRetracted(Event):
        name: str
        reason: str | None

        def evolve(self, state: DealState) -> DealState:
            return state.without_fact(self.name)

    class StageAdvanced(Move):
        from_stage: str
        to_stage: str

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(
                stage=self.to_stage,
                stage_entered_at=self.effective_at,
                policy_version=self.entered_under(state),
            )

    class StageRegressed(Move):
        from_stage: str
        to_stage: str
        reason: str

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(
                stage=self.to_stage,
                stage_entered_at=self.effective_at,
                policy_version=self.entered_under(state),
            )

    class VisitLogged(Event):
        kind: str
        effective: bool
        attendees: list[str]
        note: str | None

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(
                visits=state.visits + 1,
                effective_visits=state.effective_visits + int(self.effective),
                last_visit_at=self.effective_at,
            )

    class NextStepSet(Event):
        action: str
        due: datetime
        owner: str

        def evolve(self, state: DealState) -> DealState:
            step = NextStep(self.action, self.due, self.owner, self.effective_at)
            return state.evolve(next_step=step)

    class NextStepCompleted(Event):
        note: str | None

        def evolve(self, state: DealState) -> DealState:
            step = state.next_step
            return state.evolve(
                next_step=None,
                next_step_closed_at=self.effective_at,
                next_step_closed_due=step.due if step is not None else None,
            )

    class AmountChanged(Event):
        amount: Decimal
        currency: str

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(amount=self.amount, currency=self.currency)

    class ExpectedCloseChanged(Event):
        expected_close: date | None

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(expected_close=self.expected_close)

    class OwnerChanged(Event):
        owner: str
        team: str | None
        region: str | None

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(
                owner=self.owner,
                team=self.team if self.team is not None else state.team,
                region=self.region if self.region is not None else state.region,
            )

    class Won(Move):
        from_stage: str

        def evolve(self, state: DealState) -> DealState:
            return _closed(state, Status.WON, self, None, None)

    class Lost(Move):
        from_stage: str
        reason: str | None
        competitor: str | None

        def evolve(self, state: DealState) -> DealState:
            return _closed(state, Status.LOST, self, self.reason, self.competitor)

    class Abandoned(Move):
        from_stage: str
        reason: str | None

        def evolve(self, state: DealState) -> DealState:
            return _closed(state, Status.ABANDONED, self, self.reason, None)

    class Reopened(Move):
        from_outcome: str
        to_stage: str
        reason: str | None
        # A closed deal holds no next step, so a reopening may bring the deal's new one.
        next_action: str | None
        next_due: datetime | None
        next_owner: str | None

        def evolve(self, state: DealState) -> DealState:
            return state.evolve(
                status=Status.OPEN,
                stage=self.to_stage,
                stage_entered_at=self.effective_at,
                policy_version=self.entered_under(state),
                closed_at=None,
                outcome_reason=None,
                competitor=None,
                next_step=self.next_step,
            )

        @property
        def next_step(self) -> NextStep | None:
            if self.next_action is None or self.next_due is None:
                return None
            return NextStep(
                self.next_action, self.next_due, self.next_owner or "", self.effective_at
            )

    class KeyInfoRecorded(Event):
        """A topic of the case review's key information, stated whole with its evidence
        (domain/key_info.py); it replaces the topic's earlier record."""

        topic: str
        details: dict[str, str | list[str]]
        evidence: str | None

        def evolve(self, state: DealState) -> DealState:
            info = KeyInfo(
                self.topic,
                MappingProxyType(dict(self.details)),
                self.evidence,
                self.actor,
                self.effective_at,
                self.timestamp,
            )
            return state.with_key_info(info)

    class KeyInfoRetracted(Event):
        topic: str
        reason: str | None

        def evolve(self, state: DealState) -> DealState:
            return state.without_key_info(self.topic)

    def __init__(self) -> None:
        self.state = DealState()
        self.timeline: list[DealEvent] = []
        self.command_ids: set[str] = set()
        self.command_digests: dict[str, str] = {}  # id -> digest, where the event has one

    # ----------------------------------------------------------------- queries

    def state_at(self, at: datetime, known_at: datetime | None = None) -> DealState:
        """The deal as it stood at effective time ``at``, using events recorded by ``known_at``."""
        timeline = self.timeline
        if known_at is None and timeline and at >= timeline[-1].effective_at:
            return self.state  # every event is in view: no need to refold
        return fold(
            e
            for e in self.timeline
            if e.effective_at <= at and (known_at is None or e.timestamp <= known_at)
        )

    def has_applied(self, command_id: str | None) -> bool:
        return command_id is not None and command_id in self.command_ids

    def applied_digest(self, command_id: str) -> str | None:
        """The digest of the command applied under this id (None if its events predate
        digests, or no command of that id was applied)."""
        return self.command_digests.get(command_id)

    # ---------------------------------------------------------------- commands

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        key: str,
        guard: StageGuard,
        stamp: Stamp,
        facts: Mapping[str, FactValue],
        account: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        region: str | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
        expected_close: date | None = None,
    ) -> Deal:
        _check_not_future(stamp)
        first = guard.policy.first_stage.key
        provisional = DealState(facts=MappingProxyType(dict(facts)))
        guard.check("open", provisional, first, stamp.effective_at)
        return create_aggregate(
            cls,
            cls.Opened,
            id=id,
            timestamp=stamp.recorded_at,
            **stamp_fields(stamp),
            deal=key,
            policy=guard.policy.name,
            policy_version=guard.policy.fingerprint,
            stage=first,
            account=account,
            owner=owner,
            team=team,
            region=region,
            amount=amount,
            currency=currency,
            expected_close=expected_close,
            facts=dict(facts),
        )

    # Facts and next steps are the evidence the guard judges moves by. Each of these
    # commands takes the guards of the policy versions the deal's moves were decided
    # under: backdated, it must not undermine a later move (see _check_later_moves).

    def record_fact(
        self, name: str, value: FactValue, stamp: Stamp, *, guards: GuardLookup
    ) -> None:
        self._check_time(stamp)
        doing = f"record fact '{name}' = {value!r}"
        self._trigger(Deal.FactRecorded, stamp, (doing, guards), name=name, value=value)

    def retract_fact(
        self, name: str, reason: str | None, stamp: Stamp, *, guards: GuardLookup
    ) -> None:
        self._check_time(stamp)
        if name not in self.state_at(stamp.effective_at).facts:
            raise UnknownFact(
                f"fact '{name}' is not recorded on deal '{self.state.key}' at "
                f"{stamp.effective_at.isoformat()}{self._fact_hint(name, stamp.effective_at)}"
            )
        doing = f"retract fact '{name}'"
        self._trigger(Deal.FactRetracted, stamp, (doing, guards), name=name, reason=reason)

    # Key information is no evidence the guard judges moves by (facts are): it may be
    # recorded, backdated or retracted at any time after the opening, closed deals too.

    def record_key_info(
        self,
        topic: str,
        details: Mapping[str, str | list[str]],
        evidence: str | None,
        stamp: Stamp,
    ) -> None:
        self._check_time(stamp)
        problem = details_problem(topic, details)
        if problem is not None:
            raise CommandRefused(problem)
        plain = {k: list(v) if isinstance(v, list) else v for k, v in details.items()}
        self._trigger(Deal.KeyInfoRecorded, stamp, topic=topic, details=plain, evidence=evidence)

    def retract_key_info(self, topic: str, reason: str | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        state = self.state_at(stamp.effective_at)
        if topic not in state.key_info:
            held = ", ".join(state.key_info)
            later = [
                e.effective_at
                for e in self.timeline
                if isinstance(e, Deal.KeyInfoRecorded)
                and e.topic == topic
                and e.effective_at > stamp.effective_at
            ]
            if later:
                hint = (
                    f"it is recorded from {later[0].isoformat()}: retract it effective at "
                    "or after then"
                )
            elif held:
                hint = f"topics recorded then: {held} (retract one of those)"
            else:
                hint = "the deal holds no key information then (key_info records a topic)"
            raise UnknownKeyInfo(
                f"key information '{topic}' is not recorded on deal '{self.state.key}' at "
                f"{stamp.effective_at.isoformat()}; {hint}"
            )
        for event in self.timeline:
            # A backdated retraction must leave a later one something to retract.
            if event.effective_at <= stamp.effective_at:
                continue
            if isinstance(event, Deal.KeyInfoRecorded) and event.topic == topic:
                break
            if isinstance(event, Deal.KeyInfoRetracted) and event.topic == topic:
                raise UnknownKeyInfo(
                    f"key information '{topic}' of deal '{self.state.key}' is retracted "
                    f"at {event.effective_at.isoformat()} already; a retraction before "
                    "then would leave that one nothing to retract (its reason can say when "
                    "it really happened)"
                )
        self._trigger(Deal.KeyInfoRetracted, stamp, topic=topic, reason=reason)

    def advance(self, guard: StageGuard, to: str, stamp: Stamp) -> None:
        state = self._check_move(guard, "advance", to, stamp)
        self._trigger(
            Deal.StageAdvanced,
            stamp,
            from_stage=state.stage,
            to_stage=to,
            policy_version=guard.policy.fingerprint,
        )

    def regress(self, guard: StageGuard, to: str, reason: str, stamp: Stamp) -> None:
        if not reason.strip():
            raise CommandRefused("a regression needs a reason: give the regress one (reason)")
        state = self._check_move(guard, "regress", to, stamp)
        self._trigger(
            Deal.StageRegressed,
            stamp,
            from_stage=state.stage,
            to_stage=to,
            reason=reason,
            policy_version=guard.policy.fingerprint,
        )

    def win(self, guard: StageGuard, stamp: Stamp) -> None:
        state = self._check_move(guard, "win", Status.WON.value, stamp)
        self._trigger(
            Deal.Won, stamp, from_stage=state.stage, policy_version=guard.policy.fingerprint
        )

    def lose(
        self, guard: StageGuard, reason: str | None, competitor: str | None, stamp: Stamp
    ) -> None:
        state = self._check_move(guard, "lose", Status.LOST.value, stamp)
        self._trigger(
            Deal.Lost,
            stamp,
            from_stage=state.stage,
            reason=reason,
            competitor=competitor,
            policy_version=guard.policy.fingerprint,
        )

    def abandon(self, guard: StageGuard, reason: str | None, stamp: Stamp) -> None:
        state = self._check_move(guard, "abandon", Status.ABANDONED.value, stamp)
        self._trigger(
            Deal.Abandoned,
            stamp,
            from_stage=state.stage,
            reason=reason,
            policy_version=guard.policy.fingerprint,
        )

    def reopen(
        self,
        guard: StageGuard,
        to: str,
        reason: str | None,
        stamp: Stamp,
        next_step: NextStep | None = None,
    ) -> None:
        state = self._check_move(guard, "reopen", to, stamp, next_step=next_step)
        self._trigger(
            Deal.Reopened,
            stamp,
            from_outcome=state.status.value,
            to_stage=to,
            reason=reason,
            next_action=next_step.action if next_step else None,
            next_due=next_step.due if next_step else None,
            next_owner=next_step.owner if next_step else None,
            policy_version=guard.policy.fingerprint,
        )

    def log_visit(
        self,
        kind: str,
        effective: bool,
        attendees: Sequence[str],
        note: str | None,
        stamp: Stamp,
    ) -> None:
        self._check_time(stamp)
        self._trigger(
            Deal.VisitLogged,
            stamp,
            kind=kind,
            effective=effective,
            attendees=list(attendees),
            note=note,
        )

    def set_next_step(
        self, action: str, due: datetime, owner: str, stamp: Stamp, *, guards: GuardLookup
    ) -> None:
        self._check_time(stamp)
        self._check_open("set a next step on", stamp.effective_at)
        self._trigger(
            Deal.NextStepSet,
            stamp,
            ("set the next step", guards),
            action=action,
            due=due,
            owner=owner,
        )

    def complete_next_step(self, note: str | None, stamp: Stamp, *, guards: GuardLookup) -> None:
        self._check_time(stamp)
        if self.state_at(stamp.effective_at).next_step is None:
            raise NoOpenNextStep(
                f"deal '{self.state.key}' has no open next step at "
                f"{stamp.effective_at.isoformat()}{self._next_step_hint(stamp.effective_at)}"
            )
        self._trigger(Deal.NextStepCompleted, stamp, ("complete the next step", guards), note=note)

    def change_amount(self, amount: Decimal, currency: str, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._trigger(Deal.AmountChanged, stamp, amount=amount, currency=currency)

    def change_expected_close(self, expected_close: date | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._trigger(Deal.ExpectedCloseChanged, stamp, expected_close=expected_close)

    def change_owner(self, owner: str, team: str | None, region: str | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._trigger(Deal.OwnerChanged, stamp, owner=owner, team=team, region=region)

    # ---------------------------------------------------------------- checks

    def _check_time(self, stamp: Stamp, *, move: Trigger | None = None) -> None:
        """``move``: the stage change being checked, if the command is one."""
        _check_not_future(stamp)
        opened_at = self.state.opened_at
        if opened_at is not None and stamp.effective_at < opened_at:
            raise InvalidTime(
                f"effective time {stamp.effective_at.isoformat()} is before the deal "
                f"opened ({opened_at.isoformat()}); record it effective at or after then"
            )
        if move is not None:
            last = self.last_stage_change_at
            if last is not None and stamp.effective_at < last:
                raise InvalidTime(
                    f"a stage change cannot be effective at {stamp.effective_at.isoformat()}, "
                    f"before the deal's latest stage change ({last.isoformat()}); record "
                    f"the {COMMAND_OF[move]} effective at or after then"
                )

    def _check_open(self, doing: str, at: datetime) -> None:
        status = self.state_at(at).status
        if status.is_terminal:
            hint = (
                "a won deal is final: it takes facts, visits, amounts and owners, no next step"
                if status is Status.WON
                else "reopen it, giving the reopen its next step"
            )
            raise DealClosed(
                f"cannot {doing} deal '{self.state.key}': it is {status} at that time; {hint}"
            )

    def _check_no_later_next_step(self, stamp: Stamp, move: Trigger) -> None:
        # Closing before a recorded next step would leave a next step on a closed deal.
        for event in reversed(self.timeline):
            if event.effective_at <= stamp.effective_at:
                return
            if isinstance(event, Deal.NextStepSet | Deal.NextStepCompleted):
                raise InvalidTime(
                    f"cannot close the deal effective {stamp.effective_at.isoformat()}: "
                    f"it has next-step activity at {event.effective_at.isoformat()}; "
                    f"record the {COMMAND_OF[move]} effective at or after then"
                )

    def _fact_hint(self, name: str, at: datetime) -> str:
        """What would retract the fact: a later time, or another fact."""
        recorded = [
            event.effective_at
            for event in self.timeline
            if (isinstance(event, Deal.FactRecorded) and event.name == name)
            or (isinstance(event, Deal.Opened) and name in event.facts)
        ]
        later = [t for t in recorded if t > at]
        if later:
            return (
                f"; it is recorded from {later[0].isoformat()}: retract it effective at or "
                "after then"
            )
        if recorded:
            return "; it was retracted before then (fact records it again)"
        facts = sorted(self.state_at(at).facts)
        if facts:
            return f"; facts recorded then: {', '.join(facts)} (retract one of those)"
        return "; the deal holds no fact then (fact records one)"

    def _next_step_hint(self, at: datetime) -> str:
        """What would complete a next step: a later time, or one set first."""
        status = self.state_at(at).status
        if status is Status.WON:
            return "; a won deal is final and holds none (record a visit or a fact instead)"
        if status.is_terminal:
            return f"; it is {status} then: reopen it, giving the reopen its next step"
        for event in self.timeline:
            if isinstance(event, Deal.NextStepSet) and event.effective_at > at:
                return (
                    f"; one is set at {event.effective_at.isoformat()}: complete it effective "
                    "at or after then"
                )
        return "; set one with next_step first"

    def _check_move(
        self,
        guard: StageGuard,
        trigger: Trigger,
        dest: str,
        stamp: Stamp,
        next_step: NextStep | None = None,
    ) -> DealState:
        self._check_time(stamp, move=trigger)
        if trigger in ("win", "lose", "abandon"):
            self._check_no_later_next_step(stamp, trigger)
        if guard.policy.name != self.state.policy:
            raise MoveNotAllowed(
                f"deal runs under policy '{self.state.policy}', not '{guard.policy.name}'"
            )
        state = self.state_at(stamp.effective_at)
        judged = state if next_step is None else state.evolve(next_step=next_step)
        guard.check(trigger, judged, dest, stamp.effective_at)
        return state

    @property
    def last_stage_change_at(self) -> datetime | None:
        for event in reversed(self.timeline):
            if event.moves_stage:
                return event.effective_at
        return None

    # ---------------------------------------------------------------- plumbing

    def _check_later_moves(self, event: DealEvent, doing: str, guards: GuardLookup) -> None:
        """Refuse a backdated change of evidence that a later guarded move depended on.

        Each event after it in timeline order is judged twice, on the deal without and
        with the change: a stage entry (advance, reopening) that would newly lack entry
        criteria under the policy version that decided it, a retraction whose fact would
        be gone already, a completion whose next step would be. Moves already lacking
        something (stores written before this rule) are not blamed on the change; moves
        under a version no guard is known for are not judged.
        """
        timeline = self.timeline
        if not timeline or _order(event) >= _order(timeline[-1]):
            return  # nothing after it: the usual, undated case
        start = bisect.bisect_right(timeline, _order(event), key=_order)
        without = fold(timeline[:start])
        with_it = event.evolve(without)
        undermined: list[tuple[DealEvent, str]] = []
        for later in timeline[start:]:
            why = _undermined(later, without, with_it, guards)
            if why is not None:
                undermined.append((later, why))
            without, with_it = later.evolve(without), later.evolve(with_it)
        if not undermined:
            return
        first, why = undermined[0]
        last = undermined[-1][0].effective_at.isoformat()
        raise UnderminesLaterMove(
            f"cannot {doing} effective {event.effective_at.isoformat()}: {_describe(first)} "
            f"effective {first.effective_at.isoformat()} (deal version "
            f"{first.originator_version}) was decided on the evidence it changes, and "
            f"{why}. A backdated change may not undermine a later move: make it effective "
            f"at or after {last} (a retraction's reason can say when it really happened)"
        )

    def _trigger(
        self,
        event_class: type[Deal.Event],
        stamp: Stamp,
        judged: tuple[str, GuardLookup] | None = None,
        **fields: Any,
    ) -> None:
        """The library's ``trigger_event`` and ``mutate``, for the next event in sequence
        (built by ``stamping.stamped_event``). ``judged``: for a change of evidence, what
        it does and the guards to check the deal's later moves with.
        """
        event = stamped_event(event_class, self.id, self.version + 1, stamp, fields)
        if judged is not None:
            self._check_later_moves(event, *judged)
        self._absorb(event)  # what the event's apply() does; it raises before any change
        append_new_event(self, event, stamp.recorded_at)

    def _absorb(self, event: DealEvent) -> None:
        timeline = self.timeline
        last = timeline[-1] if timeline else None
        if (
            last is None
            or event.effective_at > last.effective_at
            or (
                event.effective_at == last.effective_at
                and event.originator_version >= last.originator_version
            )
        ):  # _order(event) >= _order(last), without building the tuples on every event
            timeline.append(event)
            self.state = event.evolve(self.state)
        else:
            # A backdated event lands inside the timeline: refold from the start.
            bisect.insort(timeline, event, key=_order)
            self.state = fold(timeline)
        if event.command_id is not None:
            self.command_ids.add(event.command_id)
            if event.command_digest is not None:
                self.command_digests[event.command_id] = event.command_digest


DealEvent = Deal.Event | Deal.Opened


# The command of the language that makes each move, as hints name it.
COMMAND_OF: Mapping[Trigger, str] = MappingProxyType(
    {
        "open": "open",
        "advance": "advance",
        "regress": "regress",
        "win": "won",
        "lose": "lost",
        "abandon": "abandon",
        "reopen": "reopen",
    }
)


def _order(event: DealEvent) -> tuple[datetime, int]:
    return (event.effective_at, event.originator_version)


def fold(events: Iterable[DealEvent]) -> DealState:
    """Fold events (already in timeline order) into the state they produce."""
    state = DealState()
    for event in events:
        state = event.evolve(state)
    return state


def timeline_order(events: Iterable[DealEvent]) -> list[DealEvent]:
    return sorted(events, key=_order)


def unmet_at_entry(move: DealEvent, before: DealState, guards: GuardLookup) -> list[str] | None:
    """The entry criteria an advance or reopening lacks on the deal as it stood just
    before it (``before``), under the version that decided it; None for other events and
    for moves the guard cannot judge (its version unknown, or the move not one it has)."""
    if isinstance(move, Deal.StageAdvanced):
        trigger: Trigger = "advance"
        judged = before
    elif isinstance(move, Deal.Reopened):
        trigger = "reopen"
        step = move.next_step  # what the reopening brought counted for its criteria
        judged = before if step is None else before.evolve(next_step=step)
    else:
        return None
    guard = guards(before.policy, move.entered_under(before))
    if guard is None:
        return None
    try:
        return guard.unmet(trigger, judged, move.to_stage, move.effective_at)
    except MoveNotAllowed:
        return None


def _undermined(
    later: DealEvent, without: DealState, with_it: DealState, guards: GuardLookup
) -> str | None:
    """How a change (``with_it`` against ``without``, the deal just before ``later``)
    would undermine the later event, if it would."""
    if isinstance(later, Deal.FactRetracted):
        if later.name in without.facts and later.name not in with_it.facts:
            return f"fact '{later.name}' would no longer be recorded there to retract"
        return None
    if isinstance(later, Deal.NextStepCompleted):
        if without.next_step is not None and with_it.next_step is None:
            return "no next step would be open there to complete"
        return None
    after = unmet_at_entry(later, with_it, guards)
    if not after:
        return None
    before = unmet_at_entry(later, without, guards) or []
    newly = [key for key in after if key not in before]
    if not newly:
        return None
    return f"its entry criteria would not have been met (missing {', '.join(newly)})"


def _describe(event: DealEvent) -> str:
    if isinstance(event, Deal.StageAdvanced):
        return f"the advance to '{event.to_stage}'"
    if isinstance(event, Deal.Reopened):
        return f"the reopening to '{event.to_stage}'"
    if isinstance(event, Deal.FactRetracted):
        return f"the retraction of fact '{event.name}'"
    return "the completion of the next step"


def _closed(
    state: DealState,
    status: Status,
    event: Deal.Move,
    reason: str | None,
    competitor: str | None,
) -> DealState:
    return state.evolve(
        status=status,
        closed_at=event.effective_at,
        outcome_reason=reason,
        competitor=competitor,
        next_step=None,
        policy_version=event.entered_under(state),
    )


def _check_not_future(stamp: Stamp) -> None:
    check_not_future(stamp, "record it once it has happened, effective now or earlier")
