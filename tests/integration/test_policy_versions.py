"""Policy versions: the store keeps each one its events were decided under, and reports
weigh every deal with the version its stage was entered under (docs/metrics.md,
"Policy versions"), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from salesengine.application.funnel import funnel_by_replay
from salesengine.application.results import CommandResult
from salesengine.domain.deal import Deal
from salesengine.domain.policy import DECIDED, ON_DISK, FunnelPolicy
from salesengine.reports.forecast import forecast
from salesengine.reports.funnel import funnel
from salesengine.reports.periods import parse_period
from salesengine.reports.plan import plan
from salesengine.reports.weights import unknown_versions
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE
from tests.support.clock import T0
from tests.support.commands import cmd
from tests.support.policy_versions import (
    Store,
    as_stored_before_versions,
    opening,
    to_contacted,
    write_acme,
)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(store_url, tmp_path / "policies")
    yield s
    s.close()


def weighted(sql: Engine, at: datetime, policies: dict[str, FunnelPolicy], by: str | None = None
             ) -> dict[str, Decimal]:  # fmt: skip
    with sql.connect() as conn:
        rows = funnel(conn, policies, as_of=at, by=by)
    found: dict[str, Decimal] = {}
    for r in rows:
        found[r.stage] = found.get(r.stage, Decimal(0)) + r.weighted
    return found


def test_editing_a_probability_reweighs_only_what_is_entered_under_the_new_version(
    store: Store,
) -> None:
    # Given deals opened under acme at 10 % (identified) and 25 % (contacted)
    v1 = write_acme(store.folder, 10, 25)
    store.run(opening("A", T0), opening("B", T0), opening("C", T0))
    store.run(*to_contacted("C", T0 + timedelta(days=1)))
    first_kept = store.clock.now
    # When the policy file is edited to 20 % and 40 % and other deals move on
    v2 = write_acme(store.folder, 20, 40)
    store.run(*to_contacted("B", T0 + timedelta(days=3)), opening("D", T0 + timedelta(days=3)))
    sql = store.project()
    current = {"acme": v2}

    # Then the funnel as of a day before the edit weighs with the old probabilities
    earlier = T0 + timedelta(days=2)
    assert weighted(sql, earlier, current) | {} == weighted(sql, earlier, current, by="owner")
    before = weighted(sql, earlier, current)
    assert (before["identified"], before["contacted"]) == (Decimal("200.0"), Decimal("250.00"))
    # and now mixed: A at 10 % and D at 20 % (identified), C at 25 % and B at 40 % (contacted),
    # on the ungrouped and grouped paths alike
    later = T0 + timedelta(days=4)
    for by in (None, "team", "size"):
        now = weighted(sql, later, current, by=by)
        assert (now["identified"], now["contacted"]) == (Decimal(300), Decimal(650)), by
    # and the forecast's weighted pipeline and weeks agree
    with sql.connect() as conn:
        f = forecast(conn, current, as_of=later)
    assert [(p.deals, p.weighted) for p in f.weighted_pipeline] == [(4, Decimal(950))]
    assert sum(o.weighted for o in f.outside) == Decimal(950)
    # and the reports equal the replay of the raw events with the versions they name
    deals = [store.engines[-1].load(k) for k in "ABCD"]
    versions = {("acme", v.fingerprint): v for v in (v1, v2)}
    with sql.connect() as conn:
        for at in (earlier, later):
            replayed = funnel_by_replay(deals, current, at, versions=versions)
            assert [(r.stage, r.weighted) for r in funnel(conn, current, as_of=at)] == [
                (r.stage, r.weighted) for r in replayed
            ]
    # and the plan's actual funnel is the funnel's (counts and amounts: no probabilities)
    with sql.connect() as conn:
        p = plan(conn, current, policy="acme", target=Decimal(1000),
                 period=parse_period("2026-Q1"), as_of=later)  # fmt: skip
    assert [(r.stage, r.deals) for r in p.rows][:2] == [("identified", 2), ("contacted", 2)]

    # And the store keeps both versions, each recorded with the first event decided under it
    kept = store.engines[-1].kept_policy_versions()
    assert [(v.name, v.fingerprint, v.source) for v in kept] == [
        ("acme", v1.fingerprint, DECIDED),
        ("acme", v2.fingerprint, DECIDED),
    ]
    assert kept[0].recorded_at < first_kept < kept[1].recorded_at
    assert [v.policy() for v in kept] == [v1, v2]
    assert kept[0].recorded_at == store.engines[0].load("A").timeline[0].timestamp


def test_a_refused_write_keeps_no_version_and_two_writers_keep_it_once(store: Store) -> None:
    write_acme(store.folder, 10, 25)
    first, second = store.engine(), store.engine()
    with pytest.raises(Exception, match="entry criteria"):
        first.execute(cmd(cmd="open", deal="X", policy="acme", at=T0, facts={}))
    assert first.kept_policy_versions() == []
    first.execute(cmd(**opening("A", T0)))
    second.execute(cmd(**opening("B", T0)))  # another engine, which has not kept it yet
    outcomes = list(second.execute_many([(1, cmd(**opening("C", T0)), None)]))
    assert isinstance(outcomes[0][1], CommandResult)
    assert outcomes[0][1].status == "applied"
    assert len(second.kept_policy_versions()) == 1


def test_a_store_from_before_kept_versions_keeps_them_when_found_on_disk(store: Store) -> None:
    # Given a store written before versions were kept, its policy file unchanged since
    v1 = write_acme(store.folder, 10, 25)
    store.run(opening("A", T0), opening("B", T0), *to_contacted("B", T0 + timedelta(days=1)))
    as_stored_before_versions(store)
    engine = store.engine()
    assert engine.kept_policy_versions() == []
    last = engine.load("B").timeline[-1]
    assert isinstance(last, Deal.Move)
    assert last.policy_version is None
    # When the read models are caught up (as every report does)
    sql = store.project()
    # Then the version the old events were decided under is kept, as found on disk
    kept = engine.kept_policy_versions()
    assert [(v.fingerprint, v.source) for v in kept] == [(v1.fingerprint, ON_DISK)]
    # and after the file is edited, the old stages still weigh with it
    v2 = write_acme(store.folder, 20, 40)
    store.run(opening("C", T0 + timedelta(days=2)))
    sql = store.project()
    now = weighted(sql, T0 + timedelta(days=3), {"acme": v2})
    assert (now["identified"], now["contacted"]) == (Decimal(300), Decimal(250))
    with sql.connect() as conn:
        assert unknown_versions(conn, {"acme": v2}) == []


def test_a_version_neither_kept_nor_on_disk_weighs_as_the_current_and_is_named(
    store: Store,
) -> None:
    # Given a store written before versions were kept, whose policy file was edited
    # before it was ever upgraded
    v1 = write_acme(store.folder, 10, 25)
    store.run(opening("A", T0), *to_contacted("A", T0 + timedelta(days=1)))
    as_stored_before_versions(store)
    v2 = write_acme(store.folder, 20, 40)
    store.engine()
    sql = store.project()
    # Then its stages weigh with the current version, and a note names the lost one
    now = weighted(sql, T0 + timedelta(days=2), {"acme": v2})
    assert now["contacted"] == Decimal(400)
    with sql.connect() as conn:
        notes = unknown_versions(conn, {"acme": v2})
        kept = conn.execute(select(text("policy")).select_from(text(POLICY_VERSIONS_TABLE)))
        assert kept.all() == []
    assert len(notes) == 1
    assert v1.fingerprint in notes[0] and v2.fingerprint in notes[0]


def test_the_deal_state_says_which_version_its_position_was_entered_under(store: Store) -> None:
    v1 = write_acme(store.folder, 10, 25)
    store.run(opening("A", T0))
    v2 = write_acme(store.folder, 20, 40)
    store.run(*to_contacted("A", T0 + timedelta(days=1)))
    deal: Deal = store.engines[-1].load("A")
    assert deal.state_at(T0).policy_version == v1.fingerprint
    assert deal.state.policy_version == v2.fingerprint
    history = store.engines[-1].history("A")
    advance = history.events[-1]
    assert advance.data["policy_version"] == v2.fingerprint
