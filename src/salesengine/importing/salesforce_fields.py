"""Salesforce OpportunityFieldHistory exports: one row per change of one tracked field.

The columns are the opportunity, the time, ``Field``, ``OldValue`` and ``NewValue``
(optionally the row's ``Id``, ``DataType``, ``IsDeleted`` and ``CreatedById``). The
mapping's ``field_history.fields`` says what each tracked field becomes: ``open``
(Salesforce's ``created`` row), ``stage``, ``amount``, ``close``, ``owner`` or a fact.

Rows are grouped by opportunity and ordered by time; among rows of one time (one save
in Salesforce) the ``created`` row comes first and stage changes last, else file order.
The deal opens at its ``created`` row, or without one at its first row. What a field
held before its first change (that row's ``OldValue``) is what it held at opening: the
opening amount, close date and owner, and the stage the deal moves to at once. Each
row then becomes its field's command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from salesengine.domain.policy import FunnelPolicy
from salesengine.importing.crm_csv import require_columns
from salesengine.importing.salesforce import (
    FactField,
    FieldUse,
    Opportunity,
    Row,
    SalesforceMapping,
    bad_date,
    day,
    is_day,
    moves,
    rows_by_opportunity,
    source_id,
)
from salesengine.importing.sources import Skipped, SourceCommand, SourceItem

Emit = Callable[[dict[str, Any]], SourceCommand]

# The uses whose value before the first change is the value at opening.
_OPENING_VALUES = ("stage", "amount", "close", "owner")


def read_rows(
    path: Path, spec: SalesforceMapping, policy: FunnelPolicy, header: list[str]
) -> Iterator[SourceItem]:
    """The opportunities' field histories as commands; the columns are checked first."""
    cols, tracked = spec.columns, spec.field_history.columns
    needed = {cols.opportunity: "opportunity", cols.at: "at"}
    for column, use in ((tracked.field, "field"), (tracked.old, "old"), (tracked.new, "new")):
        needed.setdefault(column, use)
    require_columns(path, header, needed)
    return _items(path, spec, policy, header)


class _Replay:
    """One opportunity's rows, in order, as commands."""

    def __init__(self, deal: Opportunity, spec: SalesforceMapping, policy: FunnelPolicy):
        self.deal, self.spec, self.policy = deal, spec, policy
        self.history = spec.field_history

    def use(self, row: Row) -> FieldUse | FactField | None:
        return self.history.fields.get(row.values.get(self.history.columns.field, ""))

    def other_owner_spelling(self, row: Row) -> str | None:
        """The row's DataType when it is an owner row of the type not read, else None."""
        column, wanted = self.history.columns.type, self.history.owner_type
        if column is None or wanted is None or column not in row.values:
            return None
        kind = row.values[column]
        return kind if kind != wanted else None

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
        row_id = source_id(row, self.spec, self.history.columns.field, self.history.columns.new)
        where = f"line {row.line}" + (f", column {column}" if column else "")
        marks = {"line": str(row.line), **({"column": column} if column else {})}

        def emit(fields: dict[str, Any]) -> SourceCommand:
            return SourceCommand(where, row_id, {**base, **fields}, row.line, marks)

        return emit

    def run(self, rows: list[Row]) -> Iterator[SourceItem]:
        first: dict[str, Row] = {}  # use -> the first row that changed that field
        for row in rows:
            use = self.use(row)
            if (
                isinstance(use, str)
                and use in _OPENING_VALUES
                and use not in first
                and not (use == "owner" and self.other_owner_spelling(row))
            ):
                first[use] = row
        opening = rows[0]
        yield from self.open(opening, first)
        for row in rows:
            if row is opening and self.use(row) == "open":
                continue
            yield from self.change(row)

    def open(self, row: Row, first: dict[str, Row]) -> Iterator[SourceItem]:
        old = self.history.columns.old
        before = {use: first[use].values.get(old, "") for use in first}
        emit = self.emitter(row)
        command: dict[str, Any] = {"cmd": "open", "policy": self.policy.name}
        amount, close, owner = (
            before.get("amount", ""),
            before.get("close", ""),
            before.get("owner", ""),
        )
        if amount:
            command["amount"] = amount
            if self.spec.currency:
                command["currency"] = self.spec.currency
        if close and is_day(day(close)):
            command["expected_close"] = day(close)
        if owner:
            command["owner"] = owner
        yield emit(command)
        if close and "expected_close" not in command:  # refused alone; the deal still opens
            yield emit({"cmd": "expected_close", "expected_close": close})
        deal = self.deal
        deal.position = self.policy.first_stage.key
        deal.amount, deal.close, deal.owner = amount, close, owner
        stage_name = before.get("stage", "")
        if not stage_name:
            return
        stage_row = first["stage"]
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
        at_opening = self.emitter(stage_row, when=row, column=old)
        for fields in moves(deal, target, stage_name, self.policy):
            yield at_opening(fields)
        deal.stage_name = stage_name

    def change(self, row: Row) -> Iterator[SourceItem]:
        columns = self.history.columns
        name = row.values.get(columns.field, "")
        new = row.values.get(columns.new, "")
        use = self.use(row)
        if use is None:
            known = ", ".join(self.history.fields)
            yield _skip(row, f"{columns.field} {name!r} is not in the mapping ({known})")
        elif use == "open":
            yield _skip(row, f"{columns.field} {name!r}: the deal was opened already")
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
            yield _skip(row, f"{self.history.columns.new} {new!r} is not in the mapping ({known})")
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
        kind = self.other_owner_spelling(row)
        if kind is not None:
            return _skip(
                row,
                f"{self.history.columns.type} {kind!r}: the owner change is read from its "
                f"{self.history.owner_type} row",
            )
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
            return self.emitter(row)({"cmd": "fact", "name": key, "value": new})
        if key in known:
            del known[key]
            return self.emitter(row)(
                {"cmd": "retract", "name": key, "reason": f"salesforce: {name} emptied"}
            )
        return _skip(row, f"no change: {name} emptied and fact {key} not recorded")


def _skip(row: Row, why: str) -> Skipped:
    return Skipped(f"line {row.line}", why, row.line)


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


def _items(
    path: Path, spec: SalesforceMapping, policy: FunnelPolicy, header: list[str]
) -> Iterator[SourceItem]:
    groups, skipped = rows_by_opportunity(path, spec, header)
    yield from skipped
    fields, field_column = spec.field_history.fields, spec.field_history.columns.field

    def order(row: Row) -> tuple[Any, int, int]:
        # One save in Salesforce writes its changes with one time: the creation first,
        # the stage last, after the amount or close date the same save set.
        use = fields.get(row.values.get(field_column, ""))
        return row.at, 0 if use == "open" else 2 if use == "stage" else 1, row.line

    for opportunity, rows in groups.items():
        deal = Opportunity(spec.deal_prefix + opportunity)
        dated = sorted((r for r in rows if r.at is not None), key=order)
        if dated:
            yield from _Replay(deal, spec, policy).run(dated)
        for row in rows:
            if row.at is None:
                yield bad_date(row, deal, spec, field_column)
