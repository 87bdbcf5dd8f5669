"""What the reports share: the two clocks as SQL predicates, groupings and size bands.

Every report reads the stage intervals (and, for amounts and owners, the deal
attributes) at an effective instant T as known at K. ``known_at=None`` means "with
everything recorded": the rows whose recording window is still open.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, and_, case, literal, or_

from salesengine.projections.base import AMOUNT_SCALE, to_us

GroupBy = Literal["owner", "team", "region", "policy", "size"]
GROUPS: tuple[str, ...] = ("owner", "team", "region", "policy", "size")

# Deal size bands by amount, after the buying-power bands of account grading (RAD).
SIZE_BANDS: tuple[tuple[str, Decimal | None], ...] = (
    ("<500k", Decimal(500_000)),
    ("500k-1M", Decimal(1_000_000)),
    (">=1M", None),
)
NO_AMOUNT = "no amount"


def known(table: Table, known_at: datetime | None) -> ColumnElement[bool]:
    """Rows that were the known truth at K (or are now, without K)."""
    t = table.c
    if known_at is None:
        return t.recorded_to.is_(None)
    k = to_us(known_at)
    return and_(t.recorded_from <= k, or_(t.recorded_to.is_(None), t.recorded_to > k))


def holds_at(start: Any, end: Any, at: datetime) -> ColumnElement[bool]:
    """``[start, end)`` contains the instant (an open end never ends)."""
    moment = to_us(at)
    return and_(start <= moment, or_(end.is_(None), end > moment))


def size_band(amount: Decimal | None) -> str:
    if amount is None:
        return NO_AMOUNT
    for label, below in SIZE_BANDS:
        if below is None or amount < below:
            return label
    return SIZE_BANDS[-1][0]  # pragma: no cover - the last band is open-ended


def size_band_sql(amount_units: Any) -> ColumnElement[str]:
    whens: list[tuple[ColumnElement[bool], str]] = [(amount_units.is_(None), NO_AMOUNT)]
    for label, below in SIZE_BANDS:
        if below is not None:
            whens.append((amount_units < int(below * AMOUNT_SCALE), label))
    return case(*whens, else_=literal(SIZE_BANDS[-1][0]))


def group_sql(attributes: Table, by: str | None) -> ColumnElement[Any] | None:
    """The grouping column over the deal attributes, by its report name."""
    if by is None:
        return None
    if by not in GROUPS:
        raise ValueError(f"cannot group by '{by}' (one of {', '.join(GROUPS)})")
    if by == "size":
        return size_band_sql(attributes.c.amount)
    column: ColumnElement[Any] = attributes.c[by]
    return column


def group_value(value: Any) -> str:
    return "(none)" if value is None else str(value)
