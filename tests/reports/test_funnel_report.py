"""The funnel read from the projections equals the funnel replayed from the raw events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.funnel import funnel_by_replay
from salesengine.domain.values import OUTCOMES, Status
from salesengine.projections.funnel_points import FunnelPoints
from salesengine.reports.common import GROUPS
from salesengine.reports.funnel import funnel
from tests.support.histories import POLICIES, VERSIONS, Step, built, instants, with_edits
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories, bandings, group_rank

PROPERTY = store_property(examples(150))


@pytest.fixture(params=[3, 20_000], ids=["tiny-blocks", "one-open-block"])
def block_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Sealed blocks of a few points exercise the sums and both strips of the query."""
    monkeypatch.setattr(FunnelPoints, "block_size", request.param)
    return int(request.param)


@PROPERTY
@given(steps=with_edits(any_histories()), data=st.data())
def test_the_funnel_as_of_t_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, block_size: int, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(4):
            t, k = instants(data, b)
            expected = [
                (r.policy, r.stage, r.currency, r.deals, r.amount, r.weighted)
                for r in funnel_by_replay(deals, POLICIES, t, k, VERSIONS)
            ]
            with b.sql.connect() as conn:
                rows = funnel(conn, POLICIES, as_of=t, known_at=k)
            got = [(r.policy, r.stage, r.currency, r.deals, r.amount, r.weighted) for r in rows]
            assert got == expected, f"T={t} K={k}"


@PROPERTY
@given(steps=with_edits(any_histories()), data=st.data())
def test_the_funnel_grouped_by_any_attribute_equals_a_replay(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            t, k = instants(data, b)
            by = data.draw(st.sampled_from(GROUPS))
            policies, given, banding = bandings(data)
            expected: dict[tuple[str, str, str, str | None], list[Decimal]] = defaultdict(
                lambda: [Decimal(0), Decimal(0), Decimal(0)]
            )
            for deal in deals:
                state = deal.state_at(t, k)
                if state.status is Status.NEW:
                    continue
                if by == "size":
                    group: str | None = banding.band(state.policy, state.amount)
                else:
                    group = getattr(state, by)
                currency = state.currency or POLICIES[state.policy].currency
                cell = expected[(state.policy, state.position, currency, group)]
                cell[0] += 1
                cell[1] += state.amount or 0
                # Weighed under the version the deal's position was entered under.
                entered_under = VERSIONS[(state.policy, state.policy_version)]
                share = Decimal(entered_under.probability(state.position)) / 100
                cell[2] += (state.amount or 0) * share
            with b.sql.connect() as conn:
                rows = funnel(conn, policies, as_of=t, known_at=k, by=by, size_bands=given)
            got = {
                (r.policy, r.stage, r.currency, r.group): [Decimal(r.deals), r.amount, r.weighted]
                for r in rows
                if r.deals
            }
            assert got == dict(expected), f"T={t} K={k} by={by} bands={given}"
            # Slices by policy, currency and group (size bands lowest first).
            slices = list(dict.fromkeys((r.policy, r.currency, r.group) for r in rows))
            rank = group_rank(by, banding)
            assert slices == sorted(slices, key=lambda s: (s[0], s[1], rank(s[2])))
            for name, currency, group in slices:
                listed = [
                    r.stage
                    for r in rows
                    if (r.policy, r.currency, r.group) == (name, currency, group)
                ]
                assert listed == [*POLICIES[name].stage_keys, *OUTCOMES]


def test_a_deal_opened_at_midnight_counts_at_that_very_instant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given points sealed in one-point blocks, when T is the midnight a deal opened at,
    then the deal is in the funnel: the day's own points are summed up to T inclusive."""
    monkeypatch.setattr(FunnelPoints, "block_size", 1)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    opening = {
        "cmd": "open",
        "deal": "M",
        "policy": "funnel-list",
        "at": midnight,
        "amount": "100",
    }
    steps = [
        Step(1, opening),
        Step(
            1, {"cmd": "amount", "deal": "M", "at": midnight + timedelta(hours=1), "amount": "300"}
        ),
    ]
    with fresh_db("sqlite", tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        at_midnight = {r.stage: (r.deals, r.amount) for r in funnel(conn, POLICIES, as_of=midnight)}
        before = funnel(conn, POLICIES, as_of=midnight - timedelta(microseconds=1))
        later = {
            r.stage: (r.deals, r.amount)
            for r in funnel(conn, POLICIES, as_of=midnight + timedelta(hours=2))
        }
    assert at_midnight["opportunity"] == (1, Decimal(100))
    assert before == []
    assert later["opportunity"] == (1, Decimal(300))
