"""Results as plain JSON values: what ``--json`` prints and what the service answers,
built by the same functions so that both say exactly the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """Dataclasses and mappings as objects, instants as ISO 8601, amounts as decimal text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def grouped_json(value: Any, by: str | None) -> dict[str, Any]:
    """A report row as JSON, its ``group`` named after the grouping (``"owner": ...``), or
    left out when the report is not grouped."""
    row: dict[str, Any] = jsonable(value)
    group = row.pop("group", None)
    if by is not None:
        row[by] = group
    return row
