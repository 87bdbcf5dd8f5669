"""What the reports share: the two clocks as SQL predicates, and groupings.

Every report reads the stage intervals (and, for amounts and owners, the deal
attributes) at an effective instant T as known at K. ``known_at=None`` means "with
everything recorded": the rows whose recording window is still open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, and_, case, literal, or_

from salesengine.projections.base import AMOUNT_SCALE, to_us
from salesengine.reports.size_bands import NO_AMOUNT, Banding, SizeBands

GroupBy = Literal["owner", "team", "region", "policy", "size"]
GROUPS: tuple[str, ...] = ("owner", "team", "region", "policy", "size")


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


def group_sql(
    attributes: Table, by: str | None, banding: Banding | None = None
) -> ColumnElement[Any] | None:
    """The grouping column over the deal attributes, by its report name; ``size`` in the
    bands of ``banding`` (the default bands without it)."""
    if by is None:
        return None
    if by not in GROUPS:
        raise ValueError(f"cannot group by '{by}' (one of {', '.join(GROUPS)})")
    if by == "size":
        return size_band_sql(banding or Banding({}), attributes.c.policy, attributes.c.amount)
    column: ColumnElement[Any] = attributes.c[by]
    return column


def size_band_sql(banding: Banding, policy: Any, amount_units: Any) -> ColumnElement[str]:
    """Each row's size band, from its policy column and its amount column (in units)."""
    *chosen, (other, _) = banding.sets()
    band = _bands_sql(other, amount_units)
    if not chosen:
        return band
    whens = [(policy.in_(names), _bands_sql(bands, amount_units)) for bands, names in chosen]
    return case(*whens, else_=band)


def _bands_sql(bands: SizeBands, amount_units: Any) -> ColumnElement[str]:
    labels = bands.labels
    whens: list[tuple[ColumnElement[bool], str]] = [(amount_units.is_(None), NO_AMOUNT)]
    for limit, label in zip(bands.limits, labels, strict=False):
        whens.append((amount_units < int(limit * AMOUNT_SCALE), label))
    return case(*whens, else_=literal(labels[-1]))


GroupOrder = Callable[[Any], tuple[Any, ...]]


def group_order(by: str | None, banding: Banding | None = None) -> GroupOrder:
    """The sort key of a report's ``--by`` groups: size bands lowest first (in the bands
    of ``banding``), any other grouping by name; the deals without a value last."""
    if by == "size":
        return (banding or Banding({})).order
    return by_name


def by_name(group: Any) -> tuple[bool, str]:
    return (group is None, "" if group is None else str(group))


def row_dict(row: Any, by: str | None, *extra: str) -> dict[str, Any]:
    """A report row (a dataclass with a ``policy`` and a ``group``) as a dict: its policy,
    its group named after the grouping (left out when the report is not grouped), its
    other fields in order, then the ``extra`` attributes."""
    found: dict[str, Any] = {"policy": row.policy}
    if by is not None:
        found[by] = row.group
    for name in (*(f.name for f in fields(row)), *extra):
        if name not in ("policy", "group"):
            found[name] = getattr(row, name)
    return found
