"""Worked examples of each anomaly (docs/metrics.md, "Anomalies as of T (known at K)"),
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.reports.anomalies import (
    Anomalies,
    BackdatedAfter,
    anomalies,
    parse_backdated_after,
)
from salesengine.reports.health import health
from salesengine.reports.open_deals import Only
from tests.support.clock import T0, Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import POLICIES
from tests.support.report_examples import CONTACTED
from tests.support.stores import store_with_read_models

QUALIFIED = ["needs_agreed", "solution_defined", "financial_capability_confirmed", "delivery_plan"]
P25 = ["project_approved", "sales_plan", "decision_chain_path"]
P50 = ["right_man", "right_proposal", "budget", "schedule"]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@dataclass
class Store:
    engine: SalesEngine
    clock: Clock

    def run(self, at: float, recorded: float | None = None, **fields: Any) -> None:
        """A command effective on day ``at``, recorded on day ``recorded`` (default the
        same instant, a second later)."""
        self.clock.now = max(self.clock.now, day(at if recorded is None else recorded))
        self.clock.tick(seconds=1)
        self.engine.execute(cmd(at=day(at), **fields))

    def report(self, t: float, k: datetime | None = None, **options: Any) -> Anomalies:
        deals = [self.engine.deal_events(key) for key in self.engine.deal_keys()]
        return anomalies(POLICIES, deals, as_of=day(t), known_at=k, **options)

    def to_p25(self, deal: str, at: float, owner: str = "li") -> None:
        self.run(at, cmd="open", deal=deal, policy="funnel-list", owner=owner)
        for name in P25:
            self.run(at, cmd="fact", deal=deal, name=name)
        due = day(at + 60).isoformat()
        self.run(at, cmd="next_step", deal=deal, action="call", due=due)
        self.run(at, cmd="advance", deal=deal, to="p25")


@contextmanager
def store(kind: str, tmp_path: Path) -> Iterator[tuple[Store, Any]]:
    with store_with_read_models(kind, tmp_path) as (engine, clock, catch_up):
        clock.now = T0
        yield Store(engine, clock), catch_up


def rows(result: Anomalies, kind: str) -> list[tuple[str, datetime, dict[str, Any]]]:
    return [(a.deal, a.since, dict(a.evidence)) for a in result.rows if a.kind == kind]


def test_criteria_that_no_longer_hold_are_named_with_the_event_that_lapsed_them(
    kind: str, tmp_path: Path
) -> None:
    with store(kind, tmp_path) as (s, _):
        # Given A at 25%: its sales plan retracted on day 5, its approval recorded false
        # on day 6
        s.to_p25("A", 1)
        s.run(5, cmd="retract", deal="A", name="sales_plan", reason="plan withdrawn")
        k = s.clock.now
        s.run(6, cmd="fact", deal="A", name="project_approved", value=False)
        # B: retracted on day 5 too, then recorded again on day 7
        s.to_p25("B", 1)
        s.run(5, cmd="retract", deal="B", name="sales_plan")
        s.run(7, cmd="fact", deal="B", name="sales_plan")
        # C: a 25% fact retracted while C is still an opportunity (nothing requires it)
        s.run(1, cmd="open", deal="C", policy="funnel-list")
        s.run(1, cmd="fact", deal="C", name="sales_plan")
        s.run(3, cmd="retract", deal="C", name="sales_plan")
        # E: at 50% from day 3, the 25% criterion of approval retracted on day 4
        s.to_p25("E", 1)
        for name in P50:
            s.run(3, cmd="fact", deal="E", name=name)
        s.run(3, cmd="advance", deal="E", to="p50")
        s.run(4, cmd="retract", deal="E", name="project_approved")
        # F: at 50% on day 3, its budget retracted on day 4, back to 25% on day 5
        s.to_p25("F", 1)
        for name in P50:
            s.run(3, cmd="fact", deal="F", name=name)
        s.run(3, cmd="advance", deal="F", to="p50")
        s.run(4, cmd="retract", deal="F", name="budget")
        s.run(5, cmd="regress", deal="F", to="p25", reason="budget cut")

        # When the anomalies are read as of day 10, day 4.5 and day 5.5
        now = s.report(10)
        early = s.report(4.5)
        between = s.report(5.5)
        then = s.report(10, k)

    # Then each lapsed criterion is named, with what lapsed it and since when
    lapsed = rows(now, "criteria_lapsed")
    named = [(d, since, e["criterion"], e["required_by"], e["event"]) for d, since, e in lapsed]
    assert named == [
        ("E", day(4), "project_approved", "p25", "retract"),
        ("A", day(5), "sales_plan", "p25", "retract"),
        ("A", day(6), "project_approved", "p25", "fact"),
    ]  # fmt: skip
    assert lapsed[1][2]["reason"] == "plan withdrawn" and lapsed[2][2]["value"] is False
    assert lapsed[1][2]["version"] == 7 and lapsed[1][2]["actor"] == "tester"
    assert [a.position for a in now.rows if a.kind == "criteria_lapsed"] == ["p50", "p25", "p25"]
    # F lacked its budget while at 50%, not after it went back to 25%
    assert [(d, e["criterion"]) for d, _, e in rows(early, "criteria_lapsed")] == [
        ("E", "project_approved"), ("F", "budget")
    ]  # fmt: skip
    # and B lacked its plan from day 5 until it was recorded again on day 7.
    assert [(d, e["criterion"]) for d, _, e in rows(between, "criteria_lapsed")] == [
        ("E", "project_approved"), ("A", "sales_plan"), ("B", "sales_plan")
    ]  # fmt: skip
    # and known at K, after the retraction was recorded but before the false approval
    # (and before the other deals), only the retraction.
    assert [(d, e["criterion"]) for d, _, e in rows(then, "criteria_lapsed")] == [
        ("A", "sales_plan")
    ]


def test_given_a_lapsed_criterion_recorded_again_then_it_lapses_no_more_from_that_instant(
    kind: str, tmp_path: Path
) -> None:
    def lapsed(result: Anomalies) -> list[tuple[str, datetime]]:
        return [(d, since) for d, since, e in rows(result, "criteria_lapsed")]

    with store(kind, tmp_path) as (s, _):
        # Given A's sales plan retracted on day 5 and recorded again on day 7;
        s.to_p25("A", 1)
        s.run(5, cmd="retract", deal="A", name="sales_plan")
        s.run(7, cmd="fact", deal="A", name="sales_plan")
        # B's retracted and recorded again at the same instant, day 5;
        s.to_p25("B", 1)
        s.run(5, cmd="retract", deal="B", name="sales_plan")
        s.run(5, cmd="fact", deal="B", name="sales_plan")
        # C's retracted on day 5, then recorded on day 12 as effective on day 6 (backdated);
        s.to_p25("C", 1)
        s.run(5, cmd="retract", deal="C", name="sales_plan")
        before_c = s.clock.now
        s.run(6, recorded=12, cmd="fact", deal="C", name="sales_plan")
        # D's retracted on day 5, recorded again on day 7 and retracted again on day 9.
        s.to_p25("D", 1)
        s.run(5, cmd="retract", deal="D", name="sales_plan")
        s.run(7, cmd="fact", deal="D", name="sales_plan")
        s.run(9, cmd="retract", deal="D", name="sales_plan")

        # When read between the retractions and the recordings, at them and after them
        between = s.report(5.5)
        at_seven = s.report(7)
        just_before = s.report(7 - 1e-6)
        later = s.report(8)
        last = s.report(10)
        known_before_c = s.report(8, before_c)

    # Then a criterion lapses from its retraction until it is recorded again, that very
    # instant included, and lapses again from a later retraction;
    assert lapsed(between) == [("A", day(5)), ("C", day(5)), ("D", day(5))]
    assert lapsed(just_before) == [("A", day(5)), ("D", day(5))]
    assert lapsed(at_seven) == []
    assert lapsed(later) == []
    assert lapsed(last) == [("D", day(9))]
    # and a recording backdated before T clears it only as known once it was recorded.
    assert lapsed(known_before_c) == [("C", day(5))]


def test_a_move_that_skips_stages_is_a_probability_jump(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path) as (s, _):
        # Given G advanced from identified to qualified on day 2 and won on day 3, and H
        # advanced one stage on day 1
        for deal in ("G", "H"):
            s.run(0, cmd="open", deal=deal, policy="five-level", facts=FIVE_LEVEL_OPENING)
            for name in CONTACTED:
                s.run(1, cmd="fact", deal=deal, name=name)
        for name in QUALIFIED:
            s.run(1, cmd="fact", deal="G", name=name)
        s.run(2, cmd="advance", deal="G", to="qualified")
        s.run(3, cmd="won", deal="G")
        s.run(1, cmd="advance", deal="H", to="contacted")
        # When read as of day 10 and day 2.5
        now, before_win = s.report(10), s.report(2.5)

    # Then both of G's moves are listed, with the stages skipped and the jump
    jumps = rows(now, "probability_jump")
    assert [(d, since) for d, since, _ in jumps] == [("G", day(2)), ("G", day(3))]
    advance, win = jumps[0][2], jumps[1][2]
    assert (advance["move"], advance["from"], advance["to"], advance["skipped"]) == (
        "advance", "identified", "qualified", ["contacted"]
    )  # fmt: skip
    assert (advance["from_probability"], advance["to_probability"], advance["jump"]) == (10, 50, 40)
    assert (win["move"], win["from"], win["to"], win["skipped"], win["jump"]) == (
        "won", "qualified", "won", ["developed", "committed"], 50
    )  # fmt: skip
    assert [a.position for a in now.rows if a.kind == "probability_jump"] == ["won", "won"]
    # and as of day 2.5 only the advance had happened.
    assert [e["move"] for _, _, e in rows(before_win, "probability_jump")] == ["advance"]


def test_entries_recorded_late_are_backdated_by_the_threshold_of_their_kind(
    kind: str, tmp_path: Path
) -> None:
    with store(kind, tmp_path) as (s, _):
        # Given J opened on day 0, a visit of day 1 recorded on day 11 and a fact of day
        # 2 recorded on day 5
        s.run(0, cmd="open", deal="J", policy="five-level", facts=FIVE_LEVEL_OPENING)
        s.run(2, recorded=5, cmd="fact", deal="J", name="meetings_recorded")
        k = s.clock.now
        s.run(1, recorded=11, cmd="visit", deal="J")
        # When read with the default threshold, with visits given 14 days, with 2 days
        default = s.report(20)
        lenient = s.report(20, backdated_after=parse_backdated_after("7,visit=14"))
        strict = s.report(20, backdated_after=BackdatedAfter(Decimal(2)))
        known = s.report(20, k, backdated_after=BackdatedAfter(Decimal(2)))

    # Then the visit is 10 days late: backdated under 7 days, not under 14
    late = rows(default, "backdated")
    assert [(d, since, e["event"]) for d, since, e in late] == [("J", day(1), "visit")]
    assert late[0][2]["delay_days"] == pytest.approx(10, abs=1e-4)
    assert late[0][2]["threshold_days"] == 7
    assert default.backdated_events == {"visit": 1}
    assert rows(lenient, "backdated") == []
    # with 2 days the fact is too, and known before the visit was recorded, only the fact.
    assert [(since, e["event"]) for _, since, e in rows(strict, "backdated")] == [
        (day(1), "visit"),
        (day(2), "fact"),
    ]
    assert [e["event"] for _, _, e in rows(known, "backdated")] == ["fact"]


def test_stale_deals_are_healths_with_since_when(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path) as (s, catch_up):
        # Given five-level deals (identified: 30 days at most): K without a next step, L
        # with one due on day 10, M whose next step was completed on day 3
        for deal in ("K", "L", "M"):
            s.run(
                0, cmd="open", deal=deal, policy="five-level", owner="li", facts=FIVE_LEVEL_OPENING
            )
        s.run(1, cmd="next_step", deal="L", action="call", due=day(10).isoformat())
        s.run(1, cmd="next_step", deal="M", action="call", due=day(50).isoformat())
        s.run(3, cmd="done", deal="M")
        s.run(2, cmd="owner", deal="M", owner="wang")
        # When read as of day 40, and for li alone
        now = s.report(40)
        lis = s.report(40, only=Only(owner="li"))
        with catch_up().connect() as conn:
            stale = health(conn, POLICIES, as_of=day(40)).stale

    # Then each reason is a row, with the instant it began
    found = [(a.kind, a.deal, a.since) for a in now.rows if a.kind in ("over_stage_limit",
             "no_next_step", "next_step_overdue")]  # fmt: skip
    assert found == [
        ("over_stage_limit", "K", day(30)),
        ("over_stage_limit", "L", day(30)),
        ("over_stage_limit", "M", day(30)),
        ("no_next_step", "K", day(0)),
        ("no_next_step", "M", day(3)),
        ("next_step_overdue", "L", day(10)),
    ]
    over = next(a for a in now.rows if a.kind == "over_stage_limit")
    assert over.evidence["max_days"] == 30 and over.evidence["days_in_stage"] == 40
    # the same deals and reasons as health's stale list
    assert {(d, k) for k, d, _ in found} == {(x.deal, r) for x in stale for r in x.reasons}
    # and --owner keeps the deals the owner holds at T.
    assert {a.deal for a in lis.rows} == {"K", "L"}
