"""Salesforce OpportunityHistory exports: one row per change of an opportunity.

Rows are grouped by opportunity and ordered by their ``CreatedDate`` (the export may
come in any order; the file is read whole, which for a history export is modest; rows
of one opportunity with the same time keep their file order). The first row opens the deal;
each later row records what changed: ``Amount`` becomes an amount change, ``CloseDate``
an expected-close change and ``StageName`` a stage move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from salesengine.domain.policy import FunnelPolicy
from salesengine.importing.common.csv_files import require_columns
from salesengine.importing.common.items import Skipped, SourceCommand, SourceItem
from salesengine.importing.common.validation import read_amount
from salesengine.importing.salesforce_mapping import SalesforceMapping
from salesengine.importing.salesforce_rows import (
    Opportunity,
    Row,
    day,
    is_day,
    moves,
    replayed,
    source_id,
)


def read_rows(
    path: Path, spec: SalesforceMapping, policy: FunnelPolicy, header: list[str]
) -> Iterator[SourceItem]:
    """The opportunities' histories as commands; the columns are checked first."""
    cols = spec.columns
    needed = {cols.opportunity: "opportunity", cols.stage: "stage", cols.at: "at"}
    if cols.amount:
        needed.setdefault(cols.amount, "amount")
    if cols.close:
        needed.setdefault(cols.close, "close")
    require_columns(path, header, needed)
    return replayed(path, spec, policy, header, _replay, cols.stage)


def _replay(
    deal: Opportunity, rows: list[Row], spec: SalesforceMapping, policy: FunnelPolicy
) -> Iterator[SourceItem]:
    """The opportunity's rows in time order (of one time, in file order) as commands."""
    for row in sorted(rows, key=lambda r: (r.at, r.line)):
        yield from _row_items(row, deal, spec, policy)


def _row_items(
    row: Row, deal: Opportunity, spec: SalesforceMapping, policy: FunnelPolicy
) -> Iterator[SourceItem]:
    cols = spec.columns
    values = row.values
    where = f"line {row.line}"
    row_id = source_id(row, spec, cols.stage)
    provenance = {"line": str(row.line)}
    assert row.at is not None
    base: dict[str, Any] = {"deal": deal.key, "at": row.at.isoformat()}
    by = values.get(cols.by, "") if cols.by else ""
    if by:
        base["by"] = by

    columns = {"at": cols.at, "amount": cols.amount or "", "expected_close": cols.close or ""}

    def emit(fields: dict[str, Any], *, alone: bool = False) -> SourceCommand:
        command = {**base, **fields}
        return SourceCommand(where, row_id, command, row.line, provenance, alone, columns=columns)

    amount = values.get(cols.amount, "") if cols.amount else ""
    close = values.get(cols.close, "") if cols.close else ""
    stage_name = values.get(cols.stage, "")
    target = spec.stages.get(stage_name)
    changes = list(_attribute_items(deal, amount, close, spec, policy, emit))
    yield from changes
    made = len(changes)
    if target is None:
        known = ", ".join(spec.stages)
        yield Skipped(
            where,
            f"{cols.stage} {stage_name!r} is not in the mapping ({known})"
            + ("; its other changes were applied" if made else ""),
            row.line,
        )
        return
    steps = list(moves(deal, target, stage_name, policy))
    for fields in steps:
        yield emit(fields)
    deal.stage_name = stage_name
    if not made and not steps:
        yield Skipped(
            where,
            f"no change: {stage_name!r} is stage {target!r} already, amount and close date "
            "unchanged",
            row.line,
        )


def _attribute_items(
    deal: Opportunity,
    amount: str,
    close: str,
    spec: SalesforceMapping,
    policy: FunnelPolicy,
    emit: Callable[..., SourceCommand],
) -> Iterator[SourceCommand]:
    """The opening (first row), else the amount and close-date changes of a row."""
    if not deal.position:
        opening: dict[str, Any] = {"cmd": "open", "policy": policy.name}
        if amount and read_amount(amount) is not None:
            opening["amount"] = amount
            if spec.currency:
                opening["currency"] = spec.currency
        if close and is_day(day(close)):
            opening["expected_close"] = day(close)
        yield emit(opening)
        # A bad amount or close date is refused on its own; the deal still opens.
        if amount and "amount" not in opening:
            yield emit({"cmd": "amount", "amount": amount}, alone=True)
        if close and "expected_close" not in opening:
            yield emit({"cmd": "expected_close", "expected_close": close}, alone=True)
        deal.position, deal.amount, deal.close = policy.first_stage.key, amount, close
    else:
        # An amount or close-date change stands apart from the row's stage move.
        if amount and amount != deal.amount:
            change: dict[str, Any] = {"cmd": "amount", "amount": amount}
            if spec.currency:
                change["currency"] = spec.currency
            yield emit(change, alone=True)
            deal.amount = amount
        if close != deal.close:
            closing = day(close) if close else None
            yield emit({"cmd": "expected_close", "expected_close": closing}, alone=True)
            deal.close = close
