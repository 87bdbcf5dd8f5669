"""What both Salesforce exports share: rows grouped by opportunity, the opportunity as
the importer replays it, row ids, and the moves that take a deal to a stage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from salesengine.domain.policy import FunnelPolicy
from salesengine.importing.common.csv_files import misfit, read_records
from salesengine.importing.common.items import Rejected, Skipped, SourceCommand, SourceItem
from salesengine.importing.common.local_times import date_problem, parse_instant, zone
from salesengine.importing.salesforce_mapping import OUTCOME_STAGES, SalesforceMapping

_TRUE = {"true", "1", "yes"}


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


# How an export's rows become one opportunity's commands: (deal, its dated rows, mapping,
# policy) -> items.
Replay = Callable[[Opportunity, list[Row], SalesforceMapping, FunnelPolicy], Iterator[SourceItem]]


def replayed(
    path: Path,
    spec: SalesforceMapping,
    policy: FunnelPolicy,
    header: list[str],
    replay: Replay,
    what: str,
) -> Iterator[SourceItem]:
    """The rows set aside, then each opportunity's dated rows as ``replay`` makes them
    and its rows without a readable time, refused (``what``: the column that tells the
    row apart, for its id)."""
    groups, skipped = rows_by_opportunity(path, spec, header)
    yield from skipped
    for opportunity, rows in groups.items():
        deal = Opportunity(spec.deal_prefix + opportunity)
        yield from replay(deal, [r for r in rows if r.at is not None], spec, policy)
        for row in rows:
            if row.at is None:
                yield bad_date(row, deal, spec, what)


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
