"""The anomalies as of T, known at K, equal a brute-force replay of the raw events, and
their stale rows are health's stale list."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from salesengine.application.results import DealEvents
from salesengine.domain.deal import Deal, fold
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import Status
from salesengine.reports.anomalies import (
    KINDS,
    Anomalies,
    Anomaly,
    BackdatedAfter,
    anomalies,
    anomalies_document,
)
from salesengine.reports.health import health
from salesengine.reports.open_deals import Only
from tests.support.busy_histories import moments
from tests.support.histories import OWNERS, POLICIES, TEAMS, Step, built
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(40))

# The command that makes each event (docs/metrics.md, "Anomalies"), written out here.
COMMANDS: dict[type, str] = {
    Deal.Opened: "open", Deal.FactRecorded: "fact", Deal.FactRetracted: "retract",
    Deal.StageAdvanced: "advance", Deal.StageRegressed: "regress", Deal.VisitLogged: "visit",
    Deal.NextStepSet: "next_step", Deal.NextStepCompleted: "done", Deal.AmountChanged: "amount",
    Deal.ExpectedCloseChanged: "expected_close", Deal.OwnerChanged: "owner", Deal.Won: "won",
    Deal.Lost: "lost", Deal.Abandoned: "abandon", Deal.Reopened: "reopen",
}  # fmt: skip


def fails(value: object) -> bool:
    """A fact value that does not meet a criterion: false or empty."""
    return value is None or value is False or value == ""


def without_next_step(state: DealState) -> bool:
    return state.status is Status.OPEN and state.next_step is None


def replayed(
    deals: list[Deal],
    policies: Mapping[str, FunnelPolicy],
    t: datetime,
    k: datetime | None,
    policy: str | None,
    only: Only,
    after: BackdatedAfter,
) -> set[tuple[Any, ...]]:
    """Every anomaly as (kind, deal, since, what), from docs/metrics.md literally."""
    found: set[tuple[Any, ...]] = set()
    for deal in deals:
        known = [
            e for e in deal.timeline if e.effective_at <= t and (k is None or e.timestamp <= k)
        ]
        if not known:
            continue
        s = deal.state_at(t, k)
        if policy is not None and s.policy != policy:
            continue
        if (only.owner is not None and s.owner != only.owner) or (
            only.team is not None and s.team != only.team
        ):
            continue
        spec = policies[s.policy]
        stages = list(spec.stage_keys)

        def add(kind: str, since: datetime, what: Any) -> None:
            found.add((kind, s.key, since, what, s.position, s.owner))  # noqa: B023

        # Moves that skip stages; wins from before the last stage.
        for e in known:
            if isinstance(e, Deal.StageAdvanced):
                start, end = stages.index(e.from_stage), stages.index(e.to_stage)
                if end - start > 1:
                    jump = spec.stages[end].probability - spec.stages[start].probability
                    add("probability_jump", e.effective_at, (e.from_stage, e.to_stage, jump))
            if isinstance(e, Deal.Won) and e.from_stage != stages[-1]:
                jump = spec.won_probability - spec.stage(e.from_stage).probability
                add("probability_jump", e.effective_at, (e.from_stage, "won", jump))
        # Entries recorded late.
        for e in known:
            kind = COMMANDS[type(e)]
            limit = after.per_kind.get(kind, after.days)
            if e.timestamp - e.effective_at > timedelta(days=float(limit)):
                add("backdated", e.effective_at, (kind, e.originator_version))
        if s.status is not Status.OPEN:
            continue
        # Criteria of the stage and the stages before it that lapsed.
        place = stages.index(s.stage)
        required = [
            c.key for st_ in spec.stages[: place + 1] for c in st_.criteria if c.source == "fact"
        ]
        for key in dict.fromkeys(required):
            if not fails(s.facts.get(key)):
                continue
            about = [
                e
                for e in known
                if (isinstance(e, Deal.FactRecorded | Deal.FactRetracted) and e.name == key)
                or (isinstance(e, Deal.Opened) and key in e.facts)
            ]
            if not about:
                continue
            last = about[-1]
            if isinstance(last, Deal.FactRetracted) or (
                isinstance(last, Deal.FactRecorded) and fails(last.value)
            ):
                add("criteria_lapsed", last.effective_at, key)
        # Health's stale reasons, with since when.
        assert s.stage_entered_at is not None
        if s.next_step is None:
            # The trailing run of events after which the deal is open without a next step.
            run_start = len(known) - 1
            while run_start > 0 and without_next_step(fold(known[:run_start])):
                run_start -= 1
            add("no_next_step", known[run_start].effective_at, s.stage)
        elif s.next_step.due < t:
            add("next_step_overdue", s.next_step.due, s.stage)
        limit_days = spec.stage(s.stage).time_rules.max_days
        if limit_days is not None and t - s.stage_entered_at > timedelta(days=limit_days):
            add("over_stage_limit", s.stage_entered_at + timedelta(days=limit_days), s.stage)
    return found


def what(a: Anomaly) -> Any:
    e = a.evidence
    if a.kind == "probability_jump":
        return (e["from"], e["to"], e["jump"])
    if a.kind == "backdated":
        return (e["event"], e["version"])
    if a.kind == "criteria_lapsed":
        return e["criterion"]
    return e["stage"]


def reported(result: Anomalies) -> set[tuple[Any, ...]]:
    return {(a.kind, a.deal, a.since, what(a), a.position, a.owner) for a in result.rows}


@st.composite
def lapsing_histories(draw: st.DrawFn) -> list[Step]:
    """Histories with some facts recorded false or empty, and retractions added among
    them (of the facts their deals' policies ask for)."""
    steps = list(draw(any_histories()))
    policy_of = {
        s.command["deal"]: s.command["policy"] for s in steps if s.command["cmd"] == "open"
    }
    out: list[Step] = []
    for step in steps:
        c = step.command
        if c["cmd"] == "fact" and draw(st.integers(0, 3)) == 0:
            c = {**c, "value": draw(st.sampled_from([False, ""]))}
        out.append(Step(step.tick_minutes, c))
        if "at" in c and draw(st.integers(0, 4)) == 0:
            spec = POLICIES[policy_of[c["deal"]]]
            facts = sorted({x.key for s in spec.stages for x in s.criteria if x.source == "fact"})
            if facts:
                later = c["at"] + timedelta(hours=draw(st.sampled_from([0, 1, 30])))
                name = draw(st.sampled_from(facts))
                retract: dict[str, Any] = {
                    "cmd": "retract",
                    "deal": c["deal"],
                    "name": name,
                    "at": later,
                }
                if draw(st.booleans()):
                    retract["reason"] = "no longer true"
                out.append(Step(draw(st.sampled_from([0, 60, 1440 * 9])), retract))
    return out


def thresholds(data: st.DataObject) -> BackdatedAfter:
    """Thresholds around the histories' delays (most are recorded 150-400 days late)."""
    days = st.sampled_from([Decimal(0), Decimal(7), Decimal("0.5"), Decimal(200), Decimal(300)])
    kinds = data.draw(
        st.lists(st.sampled_from(sorted(set(COMMANDS.values()))), max_size=3, unique=True)
    )
    return BackdatedAfter(data.draw(days), {kind: data.draw(days) for kind in kinds})


@PROPERTY
@given(steps=lapsing_histories(), data=st.data())
def test_anomalies_as_of_t_known_at_k_equal_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        events = [DealEvents.of(d) for d in deals]
        # Next steps fall due between the history's instants: T lands around them too.
        dues = sorted({e.due for d in deals for e in d.timeline if isinstance(e, Deal.NextStepSet)})
        for _ in range(3):
            t, k = moments(data, b)
            around_a_due = data.draw(st.booleans())
            if dues and around_a_due:
                t = data.draw(st.sampled_from(dues)) + timedelta(
                    minutes=data.draw(st.sampled_from([-1, 1]))
                )
            policy = data.draw(st.sampled_from([None, *sorted(POLICIES)]))
            only = Only(
                owner=data.draw(st.sampled_from([None, None, *OWNERS])),
                team=data.draw(st.sampled_from([None, None, *TEAMS])),
            )
            after = thresholds(data)
            result = anomalies(
                POLICIES, events, as_of=t, known_at=k, policy=policy, only=only,
                backdated_after=after,
            )  # fmt: skip
            where = f"T={t} K={k} policy={policy} {only} {after}"
            assert reported(result) == replayed(deals, POLICIES, t, k, policy, only, after), where
            # Listed by kind, then since, deal; counted per kind.
            keys = [(KINDS.index(a.kind), a.since, a.deal) for a in result.rows]
            assert keys == sorted(keys), where
            assert sum(result.counts.values()) == len(result.rows)
            for found, n in result.counts.items():
                event(f"{found}: {'some' if n else 'none'}")
            # The stale rows are health's stale list, read from the read models.
            with b.sql.connect() as conn:
                h = health(conn, POLICIES, as_of=t, known_at=k, policy=policy, only=only)
            stale = {(s.deal, r) for s in h.stale for r in s.reasons}
            assert {
                (a.deal, a.kind) for a in result.rows if a.kind in ("no_next_step",
                "next_step_overdue", "over_stage_limit")
            } == stale, where  # fmt: skip


def test_the_document_lists_each_kind_up_to_the_limit_and_counts_them_all() -> None:
    t = datetime(2026, 4, 1, tzinfo=UTC)
    rows = [
        Anomaly(
            "backdated", f"D{n}", "p", None, None, "s", t, {"event": "visit", "delay_days": 1 / 3}
        )
        for n in range(3)
    ] + [Anomaly("no_next_step", "D9", "p", None, None, "s", t, {"stage": "s"})]
    result = Anomalies(t, None, None, Only(), BackdatedAfter(), rows)
    document = anomalies_document(result, 2, None)
    assert [r["deal"] for r in document["rows"]] == ["D0", "D1", "D9"]
    assert document["counts"]["backdated"] == 3 and document["counts"]["criteria_lapsed"] == 0
    assert document["backdated_events"] == {"visit": 3}
    assert document["rows"][0]["evidence"]["delay_days"] == 0.33
