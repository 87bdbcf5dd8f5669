"""Salesforce OpportunityHistory exports: one row per change of an opportunity.

(An OpportunityFieldHistory export, one row per changed field, is told apart by its
header and read by ``salesforce_fields``, with the same mapping.)

Rows are grouped by opportunity and ordered by their ``CreatedDate`` (the export may
come in any order; the file is read whole, which for a history export is modest; rows
of one opportunity with the same time keep their file order). The first row opens the
deal; each later row records what changed: ``Amount`` becomes an amount change,
``CloseDate`` an expected-close change and ``StageName`` a stage move. The mapping
(``mappings/salesforce.yaml``) names the columns and maps each Salesforce stage onto
a stage of the policy, or onto ``won`` or ``lost``.

Salesforce records no evidence for the policy's entry criteria, so before a move that
needs criteria the importer records each missing one as a fact whose value names the
Salesforce stage that implied it (``"salesforce: Needs Analysis"``). A stage the
mapping does not know is reported as a skipped row; the row's other changes still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import KEY_PATTERN, FunnelPolicy
from salesengine.importing.crm_csv import (
    Strict,
    date_problem,
    misfit,
    parse_instant,
    read_header,
    read_records,
    require_columns,
    validate_mapping,
    zone,
)
from salesengine.importing.sources import (
    MappingError,
    Rejected,
    Skipped,
    SourceCommand,
    SourceItem,
    load_mapping,
    read_amount,
)
from salesengine.policies.catalog import PolicyCatalog

DEFAULT_MAPPING = "salesforce"
OUTCOME_STAGES = ("won", "lost")
_TRUE = {"true", "1", "yes"}


class Columns(Strict):
    opportunity: str = "OpportunityId"
    stage: str = "StageName"
    at: str = "CreatedDate"
    amount: str | None = "Amount"
    close: str | None = "CloseDate"
    id: str | None = Field(default="Id", description="optional: the history row's own id")
    deleted: str | None = Field(default="IsDeleted", description="optional")
    by: str | None = Field(default="CreatedById", description="optional: the actor")


class FieldColumns(Strict):
    """The OpportunityFieldHistory columns beside the shared ones (opportunity, at, id,
    deleted, by)."""

    field: str = "Field"
    old: str = "OldValue"
    new: str = "NewValue"
    type: str | None = Field(default="DataType", description="optional")


class FactField(Strict):
    """A tracked field recorded as a fact of this name, valued with the new value."""

    fact: str = Field(pattern=KEY_PATTERN, max_length=64)


FieldUse = Literal["open", "stage", "amount", "close", "owner"]
# Salesforce's names of the standard tracked fields ("created" is the creation row).
DEFAULT_FIELDS: dict[str, FieldUse | FactField] = {
    "created": "open",
    "StageName": "stage",
    "Amount": "amount",
    "CloseDate": "close",
    "Owner": "owner",
}


class FieldHistory(Strict):
    """How an OpportunityFieldHistory export is read: what each tracked field becomes."""

    columns: FieldColumns = FieldColumns()
    fields: dict[str, FieldUse | FactField] = Field(
        default_factory=lambda: dict(DEFAULT_FIELDS),
        description="Salesforce Field -> open, stage, amount, close, owner or {fact: key}",
    )
    lookup_type: str | None = Field(
        default="Text",
        description="Salesforce writes a change of a lookup (Owner, Account) twice, as ids "
        "(EntityId) and as names (Text); of such twins the row of this DataType is read",
    )


class SalesforceMapping(Strict):
    policy: str | None = Field(default=None, min_length=1)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timezone: str = "UTC"
    deal_prefix: str = ""
    columns: Columns = Columns()
    stages: dict[str, str] = Field(
        min_length=1, description="Salesforce StageName -> policy stage, won or lost"
    )
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    field_history: FieldHistory = FieldHistory()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value


@dataclass(slots=True)
class Row:
    line: int
    values: dict[str, str]
    at: datetime | None


@dataclass(slots=True)
class Opportunity:
    """What the importer knows of an opportunity while replaying its rows."""

    key: str
    position: str = ""  # the policy stage, "won", "lost" or "" before any known stage
    stage_name: str = ""
    amount: str = ""
    close: str = ""
    owner: str = ""
    facts: set[str] = field(default_factory=set)  # criteria recorded by the importer
    values: dict[str, str] = field(default_factory=dict)  # facts read from tracked fields


def load_salesforce_mapping(name_or_path: str) -> tuple[Path, SalesforceMapping]:
    path, content = load_mapping(name_or_path, "salesforce")
    return path, validate_mapping(path, content, SalesforceMapping)


def mapped_policy(
    path: Path, spec: SalesforceMapping, name: str, catalog: PolicyCatalog | None
) -> FunnelPolicy:
    """The named policy, checked to have every stage the mapping maps onto."""
    try:
        policy = (catalog or PolicyCatalog()).get(name)
    except SalesEngineError as e:
        raise MappingError(f"{path}: field 'policy': {e}") from None
    for stage_name, target in spec.stages.items():
        if target not in OUTCOME_STAGES and not policy.has_stage(target):
            raise MappingError(
                f"{path}: field 'stages.{stage_name}': {target!r} is neither won, lost nor "
                f"a stage of policy {name} ({', '.join(policy.stage_keys)})"
            )
    return policy


def read(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    catalog: PolicyCatalog | None = None,
) -> Iterator[SourceItem]:
    """The opportunities' histories as commands; the header is checked before any item.

    A header with the field history's ``Field`` and ``NewValue`` columns is read as an
    OpportunityFieldHistory export, any other as OpportunityHistory."""
    mapping_path, spec = load_salesforce_mapping(mapping or DEFAULT_MAPPING)
    name = policy or spec.policy
    if name is None:
        raise MappingError(f"{mapping_path}: field 'policy': missing, and no --policy given")
    funnel = mapped_policy(mapping_path, spec, name, catalog)
    header = read_header(path, encoding=spec.encoding, delimiter=spec.delimiter)
    cols = spec.columns
    tracked = spec.field_history.columns
    if tracked.field in header and tracked.new in header:
        from salesengine.importing import salesforce_fields  # it imports this module

        return salesforce_fields.read_rows(path, spec, funnel, header)
    needed = {cols.opportunity: "opportunity", cols.stage: "stage", cols.at: "at"}
    if cols.amount:
        needed.setdefault(cols.amount, "amount")
    if cols.close:
        needed.setdefault(cols.close, "close")
    require_columns(path, header, needed)
    return _items(path, spec, funnel, header)


def rows_by_opportunity(
    path: Path, spec: SalesforceMapping, header: list[str]
) -> tuple[dict[str, list[Row]], list[Skipped | Rejected]]:
    """The file's live rows grouped by opportunity in file order, and the rows set aside:
    skipped for being deleted in Salesforce, refused for want of an opportunity or for a
    wrong number of fields."""
    tz = zone(spec.timezone)
    cols = spec.columns
    groups: dict[str, list[Row]] = {}
    skipped: list[Skipped | Rejected] = []
    for line, record in read_records(path, encoding=spec.encoding, delimiter=spec.delimiter):
        if len(record) != len(header):
            skipped.append(misfit(line, record, header))
            continue
        values = dict(zip(header, (value.strip() for value in record), strict=True))
        where = f"line {line}"
        opportunity = values.get(cols.opportunity, "")
        if not opportunity:
            why = f"no {cols.opportunity}: a row needs the opportunity it belongs to"
            skipped.append(Rejected(where, why, line))
            continue
        if cols.deleted and values.get(cols.deleted, "").lower() in _TRUE:
            skipped.append(Skipped(where, f"{cols.deleted}: deleted in Salesforce", line))
            continue
        at = parse_instant(values.get(cols.at, ""), tz)
        groups.setdefault(opportunity, []).append(Row(line, values, at))
    return groups, skipped


def _items(
    path: Path, spec: SalesforceMapping, policy: FunnelPolicy, header: list[str]
) -> Iterator[SourceItem]:
    groups, skipped = rows_by_opportunity(path, spec, header)
    yield from skipped
    for opportunity, rows in groups.items():
        dated = sorted((r for r in rows if r.at is not None), key=lambda r: (r.at, r.line))
        deal = Opportunity(spec.deal_prefix + opportunity)
        for row in dated:
            yield from _row_items(row, deal, spec, policy)
        for row in rows:
            if row.at is None:
                yield bad_date(row, deal, spec, spec.columns.stage)


def source_id(row: Row, spec: SalesforceMapping, *columns: str) -> str:
    """The row's own id, else its opportunity, time and the given columns' values."""
    cols = spec.columns
    own = row.values.get(cols.id, "") if cols.id else ""
    if own:
        return own
    values = row.values
    return "/".join(
        (values[cols.opportunity], values.get(cols.at, ""), *(values.get(c, "") for c in columns))
    )


def bad_date(row: Row, deal: Opportunity, spec: SalesforceMapping, what: str) -> SourceCommand:
    """The row as a command refused for its date, so the report names the row and why."""
    column = spec.columns.at
    text = row.values.get(column, "")
    command = {"cmd": "fact", "deal": deal.key, "name": "salesforce_stage", "at": text}
    provenance = {"line": str(row.line), "column": column}
    return SourceCommand(
        f"line {row.line}, column {column}",
        source_id(row, spec, what),
        command,
        row.line,
        provenance,
        refusal=date_problem(text, zone(spec.timezone)),
    )


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


def moves(
    deal: Opportunity, target: str, stage_name: str, policy: FunnelPolicy
) -> Iterator[dict[str, Any]]:
    """The facts and the stage move that take the deal from its position to ``target``."""
    current = deal.position
    if target == current:
        return
    reason = (
        f"salesforce: {deal.stage_name} -> {stage_name}"
        if deal.stage_name
        else f"salesforce: {stage_name}"
    )
    deal.position = target
    if target == "won":
        yield {"cmd": "won"}
        return
    if target == "lost":
        yield {"cmd": "lost", "reason": reason}
        return
    index = policy.index(target)
    if current in OUTCOME_STAGES:
        needed = policy.stages[: index + 1]
        command: dict[str, Any] = {"cmd": "reopen", "to": target, "reason": reason}
    elif index < policy.index(current):
        yield {"cmd": "regress", "to": target, "reason": reason}
        return
    else:
        needed = policy.stages[policy.index(current) + 1 : index + 1]
        command = {"cmd": "advance", "to": target}
    for stage in needed:
        for criterion in stage.criteria:
            if criterion.source == "fact" and criterion.key not in deal.facts:
                deal.facts.add(criterion.key)
                yield {"cmd": "fact", "name": criterion.key, "value": f"salesforce: {stage_name}"}
    yield command


def is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def day(text: str) -> str:
    """A CloseDate as a day: its date part when it is a time, else as given (and the
    command language judges it)."""
    return text[:10] if len(text) > 10 and text[10] in "T " else text
