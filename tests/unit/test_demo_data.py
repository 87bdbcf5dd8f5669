"""The demo's generated data: the same seed gives the same store, accounts belong to
their deals' owners, and every entry is recorded once it has happened (docs/demo.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from salesengine.bootstrap import policy_catalog
from salesengine.cli.demo_accounts import (
    BOOK_SIZE,
    Entry,
    account_entries,
    account_name,
    book,
)
from salesengine.cli.demo_quarter import LATE_DAYS, QUARTER_DAYS, TEAMS, DemoPlan, build_demo
from salesengine.cli.demo_quotas import quota_entries
from salesengine.cli.demo_recording import evening, pending

END = date(2026, 6, 30)
NOW = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
REPS = [(rep, team, region) for team, (region, names) in TEAMS.items() for rep in names]


def plan_of(seed: int = 7) -> tuple[DemoPlan, list[Entry], list[Entry]]:
    policy = policy_catalog([]).get("five-level")
    plan = build_demo(policy, END, seed)
    start = plan.anchor - timedelta(days=QUARTER_DAYS)
    accounts = account_entries(REPS, start, plan.anchor, seed)
    quotas = quota_entries(plan.prefix, plan.anchor, {t: r for t, (_, r) in TEAMS.items()})
    return plan, accounts, quotas


def test_given_one_seed_the_demo_is_the_same_and_another_seed_differs() -> None:
    first, accounts, _ = plan_of(7)
    again, accounts_again, _ = plan_of(7)
    other, accounts_other, _ = plan_of(8)
    assert first.commands == again.commands and first.late == again.late
    assert accounts == accounts_again
    assert accounts != accounts_other and first.commands != other.commands


def test_every_account_name_is_distinct_and_every_deal_is_for_its_owners_book() -> None:
    names = [account_name(n) for n in range(len(REPS) * BOOK_SIZE)]
    assert len(set(names)) == len(names)
    plan, _, _ = plan_of()
    books = {rep: set(book(n)) for n, (rep, _, _) in enumerate(REPS)}
    openings = [c for _, c in plan.commands if c.cmd == "open"]
    assert openings
    for opening in openings:
        assert getattr(opening, "account", None) in books[getattr(opening, "owner", "")]


def test_every_entry_is_recorded_after_it_happened_in_recorded_order() -> None:
    plan, accounts, quotas = plan_of()
    entries = pending(plan, accounts, quotas, NOW)
    assert [e.recorded for e in entries] == sorted(e.recorded for e in entries)
    for entry in entries:
        at = entry.command.at
        assert at is not None and at <= entry.recorded <= NOW
    late = {e.ref: e for e in entries if e.ref in plan.late}
    assert late and all(late[ref].command.cmd == "visit" for ref in late)
    for ref, entry in late.items():
        assert timedelta(days=LATE_DAYS[0]) < entry.recorded - entry.command.at
        assert plan.late[ref] <= timedelta(days=LATE_DAYS[1])


def test_an_entry_is_recorded_that_evening_but_never_after_now() -> None:
    morning = datetime(2026, 6, 29, 9, 15, tzinfo=UTC)
    assert evening(morning, NOW) == datetime(2026, 6, 29, 23, 59, tzinfo=UTC)
    assert evening(NOW - timedelta(minutes=5), NOW) == NOW
    last_minute = datetime(2026, 6, 29, 23, 59, 30, tzinfo=UTC)
    assert evening(last_minute, NOW) == last_minute


def test_one_quota_is_raised_after_the_year_began_and_the_teams_split_their_year() -> None:
    _, _, quotas = plan_of()
    raised = [q for q in quotas if q.recorded is not None]
    assert [q.command["rep"] for q in raised] == ["Wang Fang"]
    assert raised[0].recorded is not None and raised[0].recorded > raised[0].at
    teams = [q.command for q in quotas if "rep" not in q.command]
    assert len(teams) == len(TEAMS)
    assert all(sum(int(p) for p in t["split"]) == int(t["amount"]) for t in teams)
