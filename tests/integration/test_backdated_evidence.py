"""A backdated change of evidence may not undermine a later guarded move (docs/rules.md,
"Backdated evidence"), through the engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.application.results import Refused
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import UnderminesLaterMove
from salesengine.domain.values import Stamp
from salesengine.policies.catalog import PolicyCatalog
from tests.support.cli_runner import run_cli
from tests.support.clock import T0, Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.stores import StoreFactory

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")
DAY = timedelta(days=1)


def contacted(engine: SalesEngine, key: str = "D", policy: str = "five-level") -> None:
    """A deal that entered contacted on day 5 (11-05, say), its evidence recorded day 1."""
    engine.execute(cmd(cmd="open", deal=key, policy=policy, at=T0, facts=FIVE_LEVEL_OPENING))
    for name in CONTACTED:
        engine.execute(cmd(cmd="fact", deal=key, name=name, at=T0 + DAY))
    engine.execute(cmd(cmd="advance", deal=key, to="contacted", at=T0 + 5 * DAY))


def test_a_retraction_backdated_before_the_advance_it_undermines_is_refused_and_stores_nothing(
    make_engine: StoreFactory,
) -> None:
    engine = make_engine()
    contacted(engine)
    events = len(engine.load("D").timeline)
    # When 'meetings_recorded' is retracted effective day 4, before the advance needed it
    retract = cmd(cmd="retract", deal="D", name="meetings_recorded", at=T0 + 4 * DAY)
    with pytest.raises(UnderminesLaterMove, match="the advance to 'contacted'") as refused:
        engine.execute(retract)
    assert "missing meetings_recorded" in refused.value.message
    # Then nothing is stored, and a fresh writer sees the advance with its evidence
    assert len(make_engine().load("D").timeline) == events
    # and the same retraction in a batch is refused on its own, the batch's others applied
    batch = [
        (1, retract, None),
        (2, cmd(cmd="visit", deal="D", at=T0 + 4 * DAY), None),
        (3, cmd(cmd="retract", deal="D", name="meetings_recorded", at=T0 + 6 * DAY), None),
    ]
    outcomes = dict(engine.execute_many(batch))
    assert isinstance(outcomes[1], Refused) and outcomes[1].code == "undermines_later_move"
    assert not isinstance(outcomes[2], Refused) and not isinstance(outcomes[3], Refused)
    # A retraction effective after the entry is the deal's later history: accepted.
    history = make_engine().history("D")
    assert [e.type for e in history.events][-2:] == ["StageAdvanced", "FactRetracted"]
    assert history.state["stage"] == "contacted"


def write_acme(folder: Path, contacted_criteria: str) -> None:
    folder.mkdir(exist_ok=True)
    toml = PolicyCatalog().source("five-level").read_text(encoding="utf-8")
    toml = toml.replace('name = "five-level"', 'name = "acme"')
    toml = re.sub(r'  \{ key = "meetings_recorded".*\n', contacted_criteria, toml)
    (folder / "acme.toml").write_text(toml, encoding="utf-8")


def test_a_move_is_judged_under_the_policy_version_that_decided_it(
    store_url: str, tmp_path: Path
) -> None:
    # Given acme deals advanced to contacted while it asked for meetings_recorded
    folder = tmp_path / "policies"
    meetings = '  { key = "meetings_recorded", description = "meetings recorded" },\n'
    write_acme(folder, meetings)
    clock = Clock()
    engines = [build_engine(store_url, clock=clock, policy_paths=[folder], actor="t")]
    try:
        contacted(engines[0], "A", "acme")
        # When the file drops that criterion, and a new engine (the next command) runs
        write_acme(folder, "")
        engines.append(build_engine(store_url, clock=clock, policy_paths=[folder], actor="t"))
        later = engines[-1]
        # Then the old advance is still judged under its own version: refused
        with pytest.raises(UnderminesLaterMove, match="missing meetings_recorded"):
            later.execute(cmd(cmd="retract", deal="A", name="meetings_recorded", at=T0 + 4 * DAY))
        # while an advance decided under the new version did not need it
        contacted(later, "B", "acme")
        later.execute(cmd(cmd="retract", deal="B", name="meetings_recorded", at=T0 + 4 * DAY))
        assert "meetings_recorded" not in later.load("B").state.facts
    finally:
        for engine in engines:
            engine.close()


def test_history_flags_an_entry_a_store_written_before_this_rule_left_without_criteria(
    make_engine: StoreFactory, store_url: str, clock: Clock
) -> None:
    # Given a store from before backdated evidence was refused: the retraction effective
    # day 4 was accepted after the advance of day 5 (stored here unjudged, as it was then)
    engine = make_engine()
    contacted(engine)
    recorded_before = engine.clock()
    clock.tick(hours=1)
    deal = engine.load("D")
    stamp = Stamp(T0 + 4 * DAY, engine.clock(), "old writer")
    deal.retract_fact("meetings_recorded", None, stamp, guards=lambda _p, _v: None)
    engine.commit(deal)
    # When an auditor reads its history, then the advance is flagged with what it lacked
    history = make_engine().history("D")
    flagged = [(e.type, e.entered_without) for e in history.events if e.entered_without]
    assert flagged == [("StageAdvanced", ["meetings_recorded"])]
    # and as known before the retraction was recorded, it was not
    before = make_engine().history("D", known_at=recorded_before)
    assert not any(e.entered_without for e in before.events)
    # and the command line says so under the advance
    if "://" not in store_url:  # the SQLite file
        out = run_cli("history", "D", db=Path(store_url)).stdout
        advance = out.index("StageAdvanced")
        assert (
            "! entered without its criteria (retracted later): missing meetings_recorded"
            in (out[advance:])
        )
