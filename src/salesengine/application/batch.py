"""The batch path: ``SalesEngine.execute_many`` deciding and saving commands a batch at a
time, with the cached deals, the groups applied whole or not at all, and the replays
after another writer moved a deal of the batch.

It drives the engine through ``DealWriter``, the engine's write path named as an
interface: find a deal, decide a command on it, save deals, find which deals are new.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from salesengine.application.commands import Command
from salesengine.application.results import CommandResult, Outcome, Refused
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    CommandRefused,
    ConcurrencyConflict,
    GroupRefused,
    SalesEngineError,
)

Ref = TypeVar("Ref")

# Concurrent writers to one deal retry this often, backing off with jitter so that a
# hot deal's writers spread out instead of colliding again in lock step.
WRITE_RETRIES = 20
BACKOFF_CAP_SECONDS = 0.25


class DealWriter(Protocol):
    """The engine's write path, as the batch runner uses it (``SalesEngine`` implements
    it). Nothing here saves but ``commit``."""

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def absent(self, keys: set[str]) -> set[str]:
        """The keys among ``keys`` of deals that do not exist yet, in one query."""
        ...

    def find(self, key: str) -> Deal | None:
        """The stored deal, or None if there is none."""
        ...

    def decide(
        self,
        command: Command,
        deal: Deal | None,
        provenance: dict[str, str] | None,
        now: datetime | None = None,
    ) -> tuple[Deal, CommandResult]:
        """The deal with the command's event pending, or the domain's refusal raised."""
        ...

    def commit(self, *deals: Deal) -> None:
        """Save the deals' pending events atomically; ConcurrencyConflict if stale."""
        ...


Item = tuple[Ref, Command, dict[str, str] | None]


def chunks(
    items: Iterator[Item[Ref]],
    size: int,
    group: Callable[[Ref, Command], object | None],
) -> Iterator[list[Item[Ref]]]:
    """Batches of about ``size`` commands, each extended to the end of its last group."""
    pending: list[Item[Ref]] = []
    while True:
        chunk = pending + list(islice(items, size))
        pending = []
        if not chunk:
            return
        last = group(chunk[-1][0], chunk[-1][1])
        if last is not None:
            for item in items:
                if group(item[0], item[1]) != last:
                    pending = [item]
                    break
                chunk.append(item)
        yield chunk


class _Stale(Exception):
    """A batch decided on a cached deal that the store has moved past."""


class BatchRun(Generic[Ref]):
    """The state of one ``execute_many``: cached deals, the batch being decided, and the
    group (if any) refused last."""

    def __init__(
        self,
        engine: DealWriter,
        cache_size: int,
        group_of: Callable[[Ref], object] | None,
    ) -> None:
        self.engine = engine
        self.cache_size = cache_size
        self.group_of = group_of
        self.cache: OrderedDict[str, Deal] = OrderedDict()
        self.batch: list[Item[Ref]] = []
        self.outcomes: list[tuple[Ref, Outcome]] = []
        self.touched: dict[UUID, Deal] = {}
        self.absent: set[str] = set()  # keys of this batch known not to exist yet
        self.failed: tuple[str, object] | None = None  # (deal, group) refused last
        self.current: tuple[str, object] | None = None  # the group being decided
        self.start = 0  # where in the batch the current group began
        # One recorded time per transaction: "known at K" shows all of a saved batch
        # (a source row's commands among them) or none of it.
        self.now: datetime | None = None

    def group(self, ref: Ref, command: Command) -> tuple[str, object] | None:
        return None if self.group_of is None else (command.deal, self.group_of(ref))

    def reset(self) -> list[Item[Ref]]:
        """Forget the batch's decisions and its deals' cached copies; the batch's items."""
        batch = list(self.batch)
        for _, command, _ in batch:
            self.cache.pop(command.deal, None)
        self.batch.clear()
        self.outcomes.clear()
        self.touched.clear()
        self.failed = self.current = None
        return batch

    def apply(self, chunk: list[Item[Ref]], attempt: int = 0) -> Iterator[tuple[Ref, Outcome]]:
        engine = self.engine
        self.now = engine.clock()
        self.absent = engine.absent({c.deal for _, c, _ in chunk if c.deal not in self.cache})
        try:
            for ref, command, provenance in chunk:
                member = self.group(ref, command)
                if member != self.current:
                    self.current, self.start = member, len(self.batch)
                self.batch.append((ref, command, provenance))
                if member is not None and member == self.failed:
                    self.outcomes.append((ref, Refused(_group_refused())))
                    continue
                outcome = self.decide(command, provenance)
                self.outcomes.append((ref, outcome))
                if member is not None and isinstance(outcome, Refused):
                    self.failed = member
                    self.take_back(command.deal)
        except _Stale:
            # An undone group showed a cached deal out of date: decide the whole batch
            # again on what the store holds.
            yield from self.retry(chunk, attempt)
            return
        yield from self.flush(chunk, attempt)

    def retry(self, chunk: list[Item[Ref]], attempt: int) -> Iterator[tuple[Ref, Outcome]]:
        self.reset()
        if attempt < WRITE_RETRIES:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.01 * 2**attempt)))
            yield from self.apply(chunk, attempt + 1)
        else:
            yield from self.one_group_at_a_time(chunk)

    def flush(self, chunk: list[Item[Ref]], attempt: int) -> Iterator[tuple[Ref, Outcome]]:
        try:
            self.engine.commit(*self.touched.values())
        except ConcurrencyConflict:
            # Another writer moved a deal of the batch: decide the batch again on fresh
            # state, groups and all; after too many tries, one group at a time.
            yield from self.retry(chunk, attempt)
            return
        yield from self.outcomes
        self.batch.clear()
        self.outcomes.clear()
        self.touched.clear()
        self.current = None
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def one_group_at_a_time(self, chunk: list[Item[Ref]]) -> Iterator[tuple[Ref, Outcome]]:
        """The last resort of a contended batch: each group (or command) decided on the
        stored deal and saved whole, retried on conflict like a single write."""
        index = 0
        while index < len(chunk):
            member = self.group(chunk[index][0], chunk[index][1])
            end = index + 1
            while member is not None and end < len(chunk):
                if self.group(chunk[end][0], chunk[end][1]) != member:
                    break
                end += 1
            yield from self.one_group(chunk[index:end])
            index = end

    def one_group(self, items: list[Item[Ref]]) -> Iterator[tuple[Ref, Outcome]]:
        engine = self.engine
        key = items[0][1].deal
        outcomes: list[tuple[Ref, Outcome]] = []
        for _ in range(WRITE_RETRIES):
            deal, outcomes, refused = engine.find(key), [], False
            now = engine.clock()  # the group's transaction
            for ref, command, provenance in items:
                if refused:
                    outcomes.append((ref, Refused(_group_refused())))
                    continue
                try:
                    deal, result = engine.decide(command, deal, provenance, now)
                    outcomes.append((ref, result))
                except SalesEngineError as e:
                    refused = True
                    outcomes = [(r, Refused(_group_refused())) for r, _ in outcomes]
                    outcomes.append((ref, Refused(e)))
            if refused or deal is None or not deal.pending_events:
                break
            try:
                engine.commit(deal)
                break
            except ConcurrencyConflict:
                time.sleep(random.uniform(0, BACKOFF_CAP_SECONDS))
        else:
            conflict = ConcurrencyConflict(
                f"deal '{key}' kept changing under {WRITE_RETRIES} attempts; try again"
            )
            outcomes = [(ref, Refused(conflict)) for ref, _, _ in items]
        self.cache.pop(key, None)
        yield from outcomes

    def decide(self, command: Command, provenance: dict[str, str] | None) -> Outcome:
        engine, cache = self.engine, self.cache
        cached = cache.get(command.deal)
        try:
            if cached is not None:
                deal = cached
            elif command.deal in self.absent:
                deal = None
            else:
                deal = engine.find(command.deal)
            try:
                deal, result = engine.decide(command, deal, provenance, self.now)
            except CommandRefused:
                # A copy cached from an earlier batch may be stale: another writer may
                # have supplied what was missing. Judge again on the stored deal.
                if cached is None or cached.id in self.touched:
                    raise
                fresh = engine.find(command.deal)
                if fresh is None or fresh.version == cached.version:
                    raise
                cache[command.deal] = fresh
                deal, result = engine.decide(command, fresh, provenance, self.now)
        except SalesEngineError as e:
            return Refused(e)
        cache[command.deal] = deal
        cache.move_to_end(command.deal)
        if result.status == "applied":
            self.touched[deal.id] = deal
        return result

    def take_back(self, key: str) -> None:
        """Undo the current group's accepted commands: the deal is rebuilt from the
        store with the batch's other accepted commands. (Its cost grows with the deal's
        accepted commands in the batch, paid only when a group is refused midway.)"""
        batch, outcomes = self.batch, self.outcomes
        undone = False
        for index in range(self.start, len(batch) - 1):  # the group, but its refused last
            result = outcomes[index][1]
            if isinstance(result, CommandResult):  # applied, or there already
                outcomes[index] = (batch[index][0], Refused(_group_refused()))
                undone = undone or result.status == "applied"
        if not undone:
            return
        deal = self.cache.pop(key, None)
        if deal is not None:
            self.touched.pop(deal.id, None)
        rebuilt = None if key in self.absent else self.engine.find(key)
        for index, (ref, command, provenance) in enumerate(batch):
            if command.deal == key and _applied(outcomes[index][1]):
                try:
                    rebuilt, result = self.engine.decide(command, rebuilt, provenance)
                except SalesEngineError:
                    raise _Stale from None  # it was accepted on a copy the store moved past
                outcomes[index] = (ref, result)
        if rebuilt is not None:
            self.cache[key] = rebuilt
            if rebuilt.pending_events:
                self.touched[rebuilt.id] = rebuilt


def _applied(outcome: Outcome) -> bool:
    return isinstance(outcome, CommandResult) and outcome.status == "applied"


def _group_refused() -> GroupRefused:
    return GroupRefused("not applied: another command of its row was refused")
