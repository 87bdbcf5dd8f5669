"""Salesforce OpportunityFieldHistory exports: one row per change of one tracked field.

The mapping's ``field_history.fields`` says what each tracked field becomes: ``open``
(Salesforce's ``created`` row), ``stage``, ``amount``, ``close``, ``owner`` or a fact.
The rows of one save are put in one order whatever the file's, and what a field held
before its first change is what it held at opening; the rules are in docs/importing.md,
"Salesforce OpportunityFieldHistory".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from salesengine.application.commands import OpenDeal
from salesengine.domain.policy import FunnelPolicy
from salesengine.importing.common.csv_files import require_columns
from salesengine.importing.common.items import Noted, Rejected, Skipped, SourceCommand, SourceItem
from salesengine.importing.salesforce_mapping import FactField, FieldUse, SalesforceMapping
from salesengine.importing.salesforce_rows import (
    Opportunity,
    Row,
    day,
    moves,
    replayed,
    source_id,
)

Emit = Callable[[dict[str, Any]], SourceCommand]

# The uses whose value before the first change is the value at opening, and the
# opening command's field each fills.
_OPENING_FIELDS = {"amount": "amount", "close": "expected_close", "owner": "owner"}
_BOOLEANS = {"true": True, "false": False}


def read_rows(
    path: Path, spec: SalesforceMapping, policy: FunnelPolicy, header: list[str]
) -> Iterator[SourceItem]:
    """The opportunities' field histories as commands; the columns are checked first."""
    cols, tracked = spec.columns, spec.field_history.columns
    needed = {cols.opportunity: "opportunity", cols.at: "at"}
    for column, use in ((tracked.field, "field"), (tracked.old, "old"), (tracked.new, "new")):
        needed.setdefault(column, use)
    if tracked.type is not None:
        # Without it a lookup's two spellings cannot be told apart; a mapping may still
        # read such a file, every row, with ``field_history.columns.type: null``.
        needed.setdefault(tracked.type, "type")
    require_columns(path, header, needed)
    return replayed(path, spec, policy, header, _Replay.items, tracked.field)


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


def _skip(row: Row, why: str) -> Skipped:
    return Skipped(f"line {row.line}", why, row.line)


def _chained(rows: list[Row], old: str, new: str) -> list[Row] | None:
    """Changes of one field at one time in the one order their values chain in; None
    when they chain in no order, or in more than one (100 -> 200 and 200 -> 100)."""
    if len(rows) < 2:
        return rows
    starts = [r for r in rows if all(r.values[old] != o.values[new] for o in rows if o is not r)]
    if len(starts) != 1:
        return None
    chain, left = [starts[0]], [r for r in rows if r is not starts[0]]
    while left:
        after = [r for r in left if r.values[old] == chain[-1].values[new]]
        if len(after) != 1:
            return None
        chain.append(after[0])
        left.remove(after[0])
    return chain


class _Replay:
    """One opportunity's rows, in order, as commands."""

    def __init__(self, deal: Opportunity, spec: SalesforceMapping, policy: FunnelPolicy):
        self.deal, self.spec, self.policy = deal, spec, policy
        self.history = spec.field_history
        self.columns = spec.field_history.columns
        self.twins: dict[int, int] = {}  # line of a row not read -> line of its twin read
        self.unordered: dict[int, str] = {}  # line of a row refused -> why its order is unknown
        self.lone_ids: set[int] = set()  # lines of id rows without the names row to read

    @classmethod
    def items(
        cls, deal: Opportunity, rows: list[Row], spec: SalesforceMapping, policy: FunnelPolicy
    ) -> Iterator[SourceItem]:
        """The opportunity's rows, the rows of one save put in order, as commands."""
        replay = cls(deal, spec, policy)
        ordered = replay.ordered(rows)
        if ordered:
            yield from replay.run(ordered)

    def field(self, row: Row) -> str:
        return row.values.get(self.columns.field, "")

    def use(self, row: Row) -> FieldUse | FactField | None:
        return self.history.fields.get(self.field(row))

    def kind(self, row: Row) -> str:
        return row.values.get(self.columns.type, "") if self.columns.type else ""

    # ------------------------------------------------------------------ order

    def ordered(self, rows: list[Row]) -> list[Row]:
        def rank(row: Row) -> int:
            use = self.use(row)
            return 0 if use == "open" else 2 if use == "stage" else 1

        result: list[Row] = []
        rows = sorted(rows, key=lambda r: (r.at, rank(r), r.line))
        for _, one_save in groupby(rows, key=lambda r: (r.at, rank(r))):
            by_field: dict[str, list[Row]] = {}
            for row in one_save:
                by_field.setdefault(self.field(row), []).append(row)
            for name, same in sorted(by_field.items()):  # by name: the same for any file order
                read = self._without_twins(same)
                # ``created`` rows hold no values: a second one is skipped as such.
                opens = self.history.fields.get(name) == "open"
                chain = read if opens else _chained(read, self.columns.old, self.columns.new)
                if chain is None:
                    self._unordered(name, read)
                    chain = read
                result += chain
                result += [r for r in same if r.line in self.twins or r.line in self.lone_ids]
        return result

    def _unordered(self, name: str, rows: list[Row]) -> None:
        """Changes of one field at one time that do not chain: the file's order would
        decide the history, so each is refused."""
        c = self.columns
        lines = ", ".join(str(r.line) for r in rows)
        for row in rows:
            self.unordered[row.line] = (
                f"{c.field} {name!r} changes {len(rows)} times at one time (lines {lines}) "
                f"and no one order chains each {c.old} to the {c.new} before it: their "
                "order, and so the value after them, is unknown"
            )

    def _without_twins(self, rows: list[Row]) -> list[Row]:
        """The rows to read of one field's changes at one time: of a lookup's two
        spellings, those of ``lookup_type``. Reading names, an id row is never read,
        twin or not: its value would mix a user id into the owner names."""
        wanted = self.history.lookup_type
        kinds = {self.kind(r) for r in rows}
        if wanted == "Text" and kinds == {"EntityId"}:
            self.lone_ids.update(r.line for r in rows)
            return []
        if wanted is None or len(kinds) < 2 or wanted not in kinds:
            return rows
        read = [r for r in rows if self.kind(r) == wanted]
        for row in rows:
            if self.kind(row) != wanted:
                self.twins[row.line] = read[0].line
        return read

    # ------------------------------------------------------------------ commands

    def emitter(self, row: Row, *, when: Row | None = None, column: str = "") -> Emit:
        """Commands from ``row`` (its line, id and actor), effective at its time or at
        ``when``'s; ``column`` names the column they come from when not the new value."""
        moment = (when or row).at
        assert moment is not None
        base: dict[str, Any] = {"deal": self.deal.key, "at": moment.isoformat()}
        by_column = self.spec.columns.by
        by = row.values.get(by_column, "") if by_column else ""
        if by:
            base["by"] = by
        row_id = source_id(row, self.spec, self.columns.field, self.columns.new)
        where = f"line {row.line}" + (f", column {column}" if column else "")
        marks = {"line": str(row.line), **({"column": column} if column else {})}

        def emit(fields: dict[str, Any]) -> SourceCommand:
            return SourceCommand(where, row_id, {**base, **fields}, row.line, marks)

        return emit

    def value(self, row: Row, text: str) -> Any:
        """A fact's value: a checkbox as a boolean, anything else as written."""
        if self.kind(row) == "Boolean" and text.lower() in _BOOLEANS:
            return _BOOLEANS[text.lower()]
        return text

    def run(self, rows: list[Row]) -> Iterator[SourceItem]:
        first: dict[tuple[str, str], Row] = {}  # the first row read of each field's changes
        unknown: set[tuple[str, str]] = set()  # fields whose first changes are unordered
        for row in rows:
            use = self.use(row)
            if row.line in self.twins or row.line in self.lone_ids or use in (None, "open"):
                continue
            key = ("fact", use.fact) if isinstance(use, FactField) else (use, "")
            if row.line in self.unordered:
                unknown.add(key)  # what it held before them is unknown too
            elif key not in unknown:
                first.setdefault(key, row)
        opening = rows[0]
        yield from self.open(opening, first)
        for row in rows:
            if row is opening and self.use(row) == "open":
                continue
            yield from self.change(row)

    def open(self, row: Row, first: dict[tuple[str, str], Row]) -> Iterator[SourceItem]:
        old = self.columns.old
        deal = self.deal
        command: dict[str, Any] = {"cmd": "open", "policy": self.policy.name}
        came_from: dict[str, tuple[Row, dict[str, Any]]] = {}  # field -> its row, alone
        for (use, key), source in first.items():
            before = source.values.get(old, "")
            if not before or use == "stage":
                continue
            if use == "fact":
                command.setdefault("facts", {})[key] = self.value(source, before)
                came_from[f"facts.{key}"] = (
                    source,
                    {"cmd": "fact", "name": key, "value": self.value(source, before)},
                )
                continue
            name = _OPENING_FIELDS[use]
            command[name] = day(before) if use == "close" else before
            alone: dict[str, Any] = {"cmd": name, name: command[name]}
            if use == "amount" and self.spec.currency:
                command["currency"] = alone["currency"] = self.spec.currency
            came_from[name] = (source, alone)
        # A value the command language refuses is left out of the opening, so the deal
        # still opens, and is reported refused on its own row and column.
        assert row.at is not None
        refused = self._refused_fields({**command, "deal": deal.key, "at": row.at})
        for name in refused & came_from.keys():
            if name.startswith("facts."):
                del command["facts"][name.removeprefix("facts.")]
            else:
                del command[name]
                if name == "amount":
                    command.pop("currency", None)
        yield self.emitter(row)(command)
        for name in sorted(refused & came_from.keys()):
            source, alone = came_from[name]
            # On its own, so its refusal takes neither the opening nor the row's new value.
            refusal = self.emitter(source, when=row, column=old)(alone)
            refusal.alone = True
            yield refusal
        deal.position = self.policy.first_stage.key
        deal.amount = command.get("amount", "")
        deal.close = first[("close", "")].values.get(old, "") if "expected_close" in command else ""
        deal.owner = command.get("owner", "")
        for key in command.get("facts", {}):
            deal.values[key] = first[("fact", key)].values.get(old, "")
            deal.facts.add(key)
        yield from self.opening_stage(row, first.get(("stage", "")))

    @staticmethod
    def _refused_fields(command: dict[str, Any]) -> set[str]:
        try:
            OpenDeal.model_validate(command)
        except ValidationError as e:
            return {
                f"facts.{err['loc'][1]}" if err["loc"][0] == "facts" else str(err["loc"][0])
                for err in e.errors()
                if err["loc"]
            }
        return set()

    def opening_stage(self, opening: Row, stage_row: Row | None) -> Iterator[SourceItem]:
        """The move to the stage the first StageName change left (its old value)."""
        deal = self.deal
        if stage_row is None:
            if "stage" in self.history.fields.values():
                yield Noted(
                    f"line {opening.line}",
                    "the stage at creation is not in a field history and StageName never "
                    f"changes here: the deal stays at {deal.position}",
                    opening.line,
                )
            return
        old = self.columns.old
        stage_name = stage_row.values.get(old, "")
        if not stage_name:
            return
        target = self.spec.stages.get(stage_name)
        if target is None:
            yield Skipped(
                f"line {stage_row.line}, column {old}",
                f"{old} {stage_name!r} is not in the mapping ({', '.join(self.spec.stages)}); "
                f"the deal opens at {deal.position}",
                stage_row.line,
            )
            return
        # The stage before the first change held from the opening, so the move is then.
        at_opening = self.emitter(stage_row, when=opening, column=old)
        for fields in moves(deal, target, stage_name, self.policy):
            yield at_opening(fields)
        deal.stage_name = stage_name

    def change(self, row: Row) -> Iterator[SourceItem]:
        name = self.field(row)
        new = row.values.get(self.columns.new, "")
        use = self.use(row)
        if row.line in self.unordered:
            yield Rejected(f"line {row.line}", self.unordered[row.line], row.line)
        elif row.line in self.lone_ids:
            yield _skip(
                row,
                f"{self.columns.type} 'EntityId': only {self.history.lookup_type} rows are "
                "read, and this change has none (its values are ids, not names)",
            )
        elif row.line in self.twins:
            yield _skip(
                row,
                f"{self.columns.type} {self.kind(row)!r}: the change is read from its "
                f"{self.history.lookup_type} row, line {self.twins[row.line]}",
            )
        elif use is None:
            known = ", ".join(self.history.fields)
            yield _skip(row, f"{self.columns.field} {name!r} is not in the mapping ({known})")
        elif use == "open":
            yield _skip(row, f"{self.columns.field} {name!r}: the deal was opened already")
        elif isinstance(use, FactField):
            yield self.fact(row, use.fact, name, new)
        elif use == "stage":
            yield from self.stage(row, new)
        elif use == "amount":
            yield self.amount(row, new)
        elif use == "close":
            yield self.close(row, new)
        else:
            yield self.owner(row, new)

    def stage(self, row: Row, new: str) -> Iterator[SourceItem]:
        target = self.spec.stages.get(new)
        if target is None:
            known = ", ".join(self.spec.stages)
            yield _skip(row, f"{self.columns.new} {new!r} is not in the mapping ({known})")
            return
        steps = list(moves(self.deal, target, new, self.policy))
        self.deal.stage_name = new
        if not steps:
            yield _skip(row, f"no change: {new!r} is stage {target!r} already")
        emit = self.emitter(row)
        for fields in steps:
            yield emit(fields)

    def amount(self, row: Row, new: str) -> SourceItem:
        if not new:
            return _skip(row, "Amount emptied: the deal keeps its amount")
        if _same_amount(new, self.deal.amount):
            return _skip(row, f"no change: the amount is {new} already")
        change: dict[str, Any] = {"cmd": "amount", "amount": new}
        if self.spec.currency:
            change["currency"] = self.spec.currency
        self.deal.amount = new
        return self.emitter(row)(change)

    def close(self, row: Row, new: str) -> SourceItem:
        if new == self.deal.close:
            return _skip(row, f"no change: the close date is {new or 'empty'} already")
        self.deal.close = new
        return self.emitter(row)(
            {"cmd": "expected_close", "expected_close": day(new) if new else None}
        )

    def owner(self, row: Row, new: str) -> SourceItem:
        if not new:
            return _skip(row, "Owner emptied: the deal keeps its owner")
        if new == self.deal.owner:
            return _skip(row, f"no change: the owner is {new} already")
        self.deal.owner = new
        return self.emitter(row)({"cmd": "owner", "owner": new})

    def fact(self, row: Row, key: str, name: str, new: str) -> SourceItem:
        known = self.deal.values
        if new:
            if known.get(key) == new:
                return _skip(row, f"no change: fact {key} is {new!r} already")
            known[key] = new
            self.deal.facts.add(key)  # evidence of its own: no stage move stands in for it
            return self.emitter(row)({"cmd": "fact", "name": key, "value": self.value(row, new)})
        if key in known:
            del known[key]
            self.deal.facts.discard(key)
            return self.emitter(row)(
                {"cmd": "retract", "name": key, "reason": f"salesforce: {name} emptied"}
            )
        return _skip(row, f"no change: {name} emptied and fact {key} not held")
