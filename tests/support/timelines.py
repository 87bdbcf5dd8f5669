"""Brute-force stage timelines from the raw events, for the window reports' oracles,
and histories whose deals really move through their stages.

The oracle is written from METRICS.md and docs/metrics.md alone: a deal's known events
are replayed with the domain's own fold, and every stage-changing event is an entry
into the position (stage or outcome) the deal holds right after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from salesengine.domain.deal import Deal, fold
from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.common import GROUPS
from salesengine.reports.size_bands import NO_AMOUNT, Banding
from tests.support.clock import T0
from tests.support.histories import OWNERS, POLICIES, TEAMS, Built, Step, histories, several_deals


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    position: str  # a stage key, or won / lost / abandoned


@dataclass(frozen=True, slots=True)
class Known:
    """A deal as known at K: its policy and its stage timeline."""

    deal: Deal
    policy: str
    entries: list[Entry]
    known_at: datetime | None
    banding: Banding

    def group(self, by: str | None, at: datetime) -> Any:
        """The deal's --by attribute at effective instant ``at``, known at K."""
        if by is None:
            return None
        state = self.deal.state_at(at, self.known_at)
        if by == "size":
            return self.banding.band(self.policy, state.amount)
        return getattr(state, by)


def known_deals(
    deals: list[Deal], known_at: datetime | None, banding: Banding | None = None
) -> list[Known]:
    result = []
    for deal in deals:
        events = [e for e in deal.timeline if known_at is None or e.timestamp <= known_at]
        if not events:
            continue
        entries = [
            Entry(e.effective_at, fold(events[: n + 1]).position)
            for n, e in enumerate(events)
            if e.moves_stage
        ]
        bands = banding or Banding(POLICIES)
        result.append(Known(deal, fold(events).policy, entries, known_at, bands))
    return result


def group_rank(by: str | None, banding: Banding) -> Callable[[Any], tuple[Any, ...]]:
    """The order reports list groups in (docs/metrics.md): size bands lowest first, by
    the amounts each starts and ends at, ``no amount`` after them; other groups by name;
    no value last."""
    if by != "size":
        return lambda g: (g is None, "" if g is None else str(g))
    spans: dict[str, tuple[Decimal, Decimal]] = {}
    for bands, _ in banding.sets():
        edges = [Decimal("-Infinity"), *bands.limits, Decimal("Infinity")]
        for n, label in enumerate(bands.labels):
            spans[label] = (edges[n], edges[n + 1])
    return lambda g: (g is None, g == NO_AMOUNT, spans.get(g, (Decimal(0), Decimal(0))))


def ordered_slices(
    present: set[tuple[str, Any]], by: str | None, banding: Banding | None
) -> list[tuple[str, Any]]:
    rank = group_rank(by, banding or Banding(POLICIES))
    return sorted(present, key=lambda s: (s[0], rank(s[1])))


def window(data: st.DataObject, b: Built) -> tuple[datetime, datetime]:
    """[F, U) landing on, between and around the history's own effective instants."""
    times = b.effective_times() or [T0]
    offset = data.draw(st.sampled_from([-1, 0, 0, 1, 600]))
    start = data.draw(st.sampled_from(times)) + timedelta(minutes=offset)
    later = [t for t in times if t > start]
    ends_on_an_instant = data.draw(st.booleans())
    if later and ends_on_an_instant:
        return start, data.draw(st.sampled_from(later))
    days = data.draw(st.sampled_from([0.01, 1, 3, 10, 30, 400]))
    return start, start + timedelta(days=days)


def group_by(data: st.DataObject) -> str | None:
    return data.draw(st.sampled_from([None, None, *GROUPS]))


# The policies with size bands of their own (five-level keeps the default), and limits
# given for every deal (--size-bands).
BANDED: dict[str, FunnelPolicy] = {
    name: policy.model_copy(update={"size_bands": bands}) if bands else policy
    for (name, policy), bands in zip(
        sorted(POLICIES.items()),
        ((), (Decimal(200_000), Decimal(800_000), Decimal(1_500_000)), (Decimal("1000.5"),)),
        strict=True,
    )
}
GIVEN_BANDS = (Decimal(100), Decimal(1_000_000))


def bandings(
    data: st.DataObject,
) -> tuple[dict[str, FunnelPolicy], tuple[Decimal, ...] | None, Banding]:
    """(policies, --size-bands limits, the banding they make) for a report and its replay."""
    policies, given = data.draw(
        st.sampled_from([(POLICIES, None), (BANDED, None), (BANDED, GIVEN_BANDS)])
    )
    return policies, given, Banding(policies, given)


MOVES = (
    "advance", "advance", "advance", "regress", "won", "lost", "abandon",
    "reopen", "reopen", "owner", "amount",
)  # fmt: skip


@st.composite
def moving_deal(draw: st.DrawFn, key: str, start: datetime) -> list[dict[str, Any]]:
    """A deal holding every fact its policy asks for, so its moves mostly succeed: it
    advances (skipping stages too), regresses, closes, reopens and changes hands. Moves
    may share an instant (zero-length intervals) or be backdated (and refused)."""
    policy = draw(st.sampled_from(sorted(POLICIES)))
    spec = POLICIES[policy]
    stages = list(spec.stage_keys)
    facts = {c.key: True for s in spec.stages for c in s.criteria if c.source == "fact"}
    opening: dict[str, Any] = {
        "cmd": "open",
        "deal": key,
        "policy": policy,
        "at": start,
        "owner": draw(st.sampled_from(OWNERS)),
        "team": draw(st.sampled_from(TEAMS)),
        "facts": facts,
    }
    if draw(st.booleans()):
        opening["amount"] = str(draw(st.integers(0, 2_000_000)))
    commands = [opening]
    at = start
    for _ in range(draw(st.integers(0, 10))):
        at += timedelta(hours=draw(st.sampled_from([-24, 0, 0, 1, 30, 200])))
        kind = draw(st.sampled_from(MOVES))
        c: dict[str, Any] = {"cmd": kind, "deal": key, "at": at}
        due = (at + timedelta(days=60)).isoformat()
        if kind == "advance":
            # Stages that ask for a live next step get one at the same instant.
            step = {"cmd": "next_step", "deal": key, "at": at, "action": "call", "due": due}
            commands.append(step)
            c["to"] = draw(st.sampled_from(stages[1:] or stages))
        elif kind == "regress":
            c["to"] = draw(st.sampled_from(stages))
            c["reason"] = "re-qualify"
        elif kind == "reopen":
            c["to"] = draw(st.sampled_from(stages))
            c["next_step"] = {"action": "call", "due": due}
        elif kind == "owner":
            c["owner"] = draw(st.sampled_from(OWNERS))
            c["team"] = draw(st.sampled_from(TEAMS))
        elif kind == "amount":
            c["amount"] = str(draw(st.integers(0, 2_000_000)))
        commands.append(c)
    return commands


@st.composite
def moving_histories(draw: st.DrawFn, max_deals: int = 5) -> list[Step]:
    return several_deals(draw, moving_deal, max_deals, 60)


def any_histories() -> st.SearchStrategy[list[Step]]:
    """The shared random histories (backdating-heavy) and ones that move through stages."""
    return st.one_of(histories(), moving_histories())
