"""``execute_many`` with groups (one source row each) against a brute-force model: each
group decided on the deal as stored, saved only if every command of it was accepted."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from salesengine.application.commands import Command
from salesengine.application.engine import SalesEngine
from salesengine.application.results import Refused
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import SalesEngineError
from salesengine.policies.catalog import PolicyCatalog
from tests.support.clock import T0, Clock
from tests.support.commands import cmd

POLICY = PolicyCatalog().get("five-level")
STAGES = list(POLICY.stage_keys)
FACTS = sorted({c.key for s in POLICY.stages for c in s.criteria if c.source == "fact"})
DEALS = ("G-1", "G-2", "G-3")


@st.composite
def grouped_commands(draw: st.DrawFn) -> list[tuple[int, Command]]:
    """Groups of one to four commands of one deal each, in time order; a deal's first
    group opens it (sometimes twice, to be refused)."""
    items: list[tuple[int, Command]] = []
    opened: set[str] = set()
    hour = 0
    kinds = ["fact", "fact", "fact", "advance", "advance", "visit", "lost", "open"]
    for group in range(draw(st.integers(1, 12))):
        deal = draw(st.sampled_from(DEALS))
        for position in range(draw(st.integers(1, 4))):
            hour += 1
            first = position == 0 and deal not in opened
            kind = "open" if first else draw(st.sampled_from(kinds))
            opened.add(deal)
            fields: dict[str, Any] = {"cmd": kind, "deal": deal, "at": T0 + timedelta(hours=hour)}
            if kind == "open":
                fields["policy"] = "five-level"
                fields["facts"] = dict.fromkeys(draw(st.sets(st.sampled_from(FACTS))), True)
            elif kind == "fact":
                fields["name"] = draw(st.sampled_from(FACTS))
            elif kind == "advance":
                fields["to"] = draw(st.sampled_from(STAGES[1:3]))
            items.append((group, cmd(**fields)))
    return items


def brute_force(engine: SalesEngine, items: list[tuple[int, Command]]) -> list[str]:
    """Each group on the stored deal, saved whole or dropped; the outcome codes."""
    codes: list[str] = []
    index = 0
    while index < len(items):
        group, deal_key = items[index][0], items[index][1].deal
        members = [
            c for g, c in items[index:] if g == group and c.deal == deal_key
        ]  # consecutive by construction
        deal = engine.find(deal_key)
        mine: list[str] = []
        refused = False
        for command in members:
            if refused:
                mine.append("group_refused")
                continue
            try:
                deal, result = engine.decide(command, deal, None)
                mine.append(result.status)
            except SalesEngineError as e:
                mine.append(e.code)
                refused = True
        if refused:
            mine = [c if c not in ("applied", "duplicate") else "group_refused" for c in mine]
        elif deal is not None:
            engine.commit(deal)
        codes += mine
        index += len(members)
    return codes


@settings(max_examples=80, deadline=None)
@given(items=grouped_commands(), batch_size=st.integers(1, 5))
def test_groups_apply_whole_or_not_at_all_like_one_group_at_a_time(
    items: list[tuple[int, Command]], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast = build_engine(str(Path(tmp) / "fast.db"), clock=Clock(), actor="t")
        slow = build_engine(str(Path(tmp) / "slow.db"), clock=Clock(), actor="t")
        try:
            refs = [((n, group), command, None) for n, (group, command) in enumerate(items)]
            outcomes = list(
                fast.execute_many(refs, batch_size=batch_size, group_of=lambda ref: ref[1])
            )
            got = [
                o.code if isinstance(o, Refused) else o.status
                for _, o in sorted(outcomes, key=lambda pair: pair[0][0])
            ]
            assert got == brute_force(slow, items)
            for key in DEALS:
                mine, theirs = fast.find(key), slow.find(key)
                assert (mine is None) == (theirs is None), key
                if mine is not None and theirs is not None:
                    assert mine.state == theirs.state
                    assert [type(e) for e in mine.timeline] == [type(e) for e in theirs.timeline]
        finally:
            fast.close()
            slow.close()
