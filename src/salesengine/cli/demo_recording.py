"""The demo's commands recorded as its reps would have recorded them: each day's entries
that evening, the few logged late on the evening they were logged.

While the demo writes, the engine's clock reads each of those instants, so the stored
recorded times are the simulated ones: ``--known-at`` a past day shows what was known
that day, and ``anomalies`` lists as backdated only what was logged late (rather than
the whole quarter, which would otherwise be recorded in the second the demo ran). The
clock is given back afterwards. Events are stamped one by one but saved some thousands
at a time, as an import saves them: a transaction per evening made the demo twice as slow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.domain.account import Account
from salesengine.domain.deal import Deal
from salesengine.domain.errors import SalesEngineError

if TYPE_CHECKING:
    from salesengine.application.engine import SalesEngine
    from salesengine.cli.demo_accounts import Entry
    from salesengine.cli.demo_quarter import DemoPlan

Target = Literal["deal", "account", "quota"]
PROVENANCE = {"source": "demo"}
# Events saved per transaction (as the batch path's 1,000 commands).
SAVE_EVERY = 2000


@dataclass(frozen=True, slots=True)
class Pending:
    recorded: datetime
    order: int
    target: Target
    ref: str
    command: Any


@dataclass(slots=True)
class Tally:
    applied: int = 0
    duplicates: int = 0
    kept: int = 0  # accounts another run of the demo opened: left as they are
    refused: list[tuple[str, str]] = field(default_factory=list)


def evening(at: datetime, now: datetime) -> datetime:
    """When an entry effective at ``at`` is recorded: 23:59 UTC that day, or at once if it
    happened later than that; never after now."""
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return min(max(day + timedelta(hours=23, minutes=59), at), now)


def pending(
    plan: DemoPlan,
    accounts: Iterable[Entry],
    quotas: Iterable[Entry],
    now: datetime,
) -> list[Pending]:
    """Every command with its recorded time, in the order they are recorded."""
    out: list[Pending] = []
    for ref, command in plan.commands:
        assert command.at is not None  # the demo dates every command
        lag = plan.late.get(ref, timedelta(0))
        out.append(Pending(evening(command.at + lag, now), len(out), "deal", ref, command))
    for n, entry in enumerate(accounts):
        raw = {**entry.command, "id": f"{plan.prefix}:account:{n:05d}"}
        when = evening(entry.recorded or entry.at, now)
        out.append(Pending(when, len(out), "account", raw["id"], parse_account_command(raw)))
    for entry in quotas:
        when = evening(entry.recorded or entry.at, now)
        quota = parse_quota_command(entry.command)
        out.append(Pending(when, len(out), "quota", entry.command["id"], quota))
    out.sort(key=lambda p: (p.recorded, p.order))
    return out


def record(engine: SalesEngine, entries: list[Pending]) -> dict[Target, Tally]:
    """Apply ``entries`` (in recorded order), each stamped with its recorded time; how
    many were applied, already there or refused, per target. The deals and accounts are
    saved some thousands of events at a time: the demo is their only writer."""
    tallies: dict[Target, Tally] = {"deal": Tally(), "account": Tally(), "quota": Tally()}
    real = engine.clock
    deals = _Deals(engine, tallies["deal"], {p.command.deal for p in entries if p.target == "deal"})
    books = _Books(Accounts(engine), tallies["account"])
    quotas = Quotas(engine)
    try:
        for p in entries:
            engine.clock = _at(p.recorded)
            if p.target == "deal":
                deals.apply(p)
            elif p.target == "account":
                books.apply(p)
            else:
                _count_one(tallies["quota"], p.ref, quotas.execute, p.command)
            if deals.events + books.events >= SAVE_EVERY:
                deals.save()
                books.save()
        deals.save()
        books.save()
    finally:
        engine.clock = real
    return tallies


def _at(instant: datetime) -> Callable[[], datetime]:
    return lambda: instant


def _count_one(tally: Tally, ref: str, apply: Callable[[Any], Any], command: Any) -> None:
    try:
        result = apply(command)
    except SalesEngineError as e:
        tally.refused.append((ref, str(e)))
        return
    if result.status == "duplicate":
        tally.duplicates += 1
    else:
        tally.applied += 1


class _Deals:
    """The demo's deals, held in memory and saved together now and then."""

    def __init__(self, engine: SalesEngine, tally: Tally, keys: set[str]) -> None:
        self.engine, self.tally = engine, tally
        self.absent = engine.absent(keys)
        self.held: dict[str, Deal | None] = {}
        self.touched: dict[str, Deal] = {}
        self.events = 0

    def apply(self, p: Pending) -> None:
        key = p.command.deal
        if key not in self.held:
            self.held[key] = None if key in self.absent else self.engine.find(key)
        try:
            deal, result = self.engine.decide(p.command, self.held[key], PROVENANCE, p.recorded)
        except SalesEngineError as e:
            self.tally.refused.append((p.ref, str(e)))
            return
        self.held[key] = deal
        if result.status == "duplicate":
            self.tally.duplicates += 1
        else:
            self.tally.applied += 1
            self.touched[key] = deal
            self.events += 1

    def save(self) -> None:
        if self.touched:
            self.engine.commit(*self.touched.values())
        self.touched.clear()
        self.events = 0


class _Books:
    """The demo's accounts, held in memory and saved together now and then."""

    def __init__(self, accounts: Accounts, tally: Tally) -> None:
        self.accounts, self.tally = accounts, tally
        self.held: dict[str, Account | None] = {}
        self.kept: set[str] = set()  # opened by another run of the demo: left alone
        self.touched: dict[str, Account] = {}
        self.events = 0

    def apply(self, p: Pending) -> None:
        key = p.command.account
        if key in self.kept:
            return
        if key not in self.held:
            found = self.accounts.find(key)
            if found is not None and not found.has_applied(p.ref):
                self.kept.add(key)
                self.tally.kept += 1
                return
            self.held[key] = found
        try:
            account, result = self.accounts.decide(p.command, self.held[key], PROVENANCE)
        except SalesEngineError as e:
            self.tally.refused.append((p.ref, str(e)))
            return
        self.held[key] = account
        if result.status == "duplicate":
            self.tally.duplicates += 1
        else:
            self.tally.applied += 1
            self.touched[key] = account
            self.events += 1

    def save(self) -> None:
        if self.touched:
            self.accounts.commit(*self.touched.values())
        self.touched.clear()
        self.events = 0
