"""What a report is known at, grouped by and kept to: the keyword arguments every report
over the read models takes after its instants, and the order its slices are listed in.

A report is listed in slices: per policy (or currency, or both) and per ``--by`` group.
Each report orders its slices by their leading fields, then by group in the grouping's
own order (``common.group_order``): size bands lowest first, any other grouping by name,
the deals without a value last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict, TypeVar

from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.common import group_order
from salesengine.reports.size_bands import Banding

SliceKey = TypeVar("SliceKey", bound=tuple[Any, ...])  # (..., group)


class Slicing(TypedDict, total=False):
    """A report's keyword arguments after its instants, each optional: ``known_at`` K,
    what was recorded by then (None: everything); ``by`` the grouping, one of
    ``common.GROUPS``; ``policy`` one policy's deals only; ``size_bands`` the band limits
    of ``--by size`` for every deal, instead of its policy's."""

    known_at: datetime | None
    by: str | None
    policy: str | None
    size_bands: Sequence[Decimal] | None


@dataclass(frozen=True, slots=True)
class Sliced:
    """A report's ``Slicing`` with its size bands resolved against the policies."""

    known_at: datetime | None
    by: str | None
    policy: str | None
    banding: Banding

    @classmethod
    def of(cls, policies: Mapping[str, FunnelPolicy], slicing: Slicing) -> Sliced:
        # A misspelt keyword would otherwise be ignored; a signature would refuse it.
        unknown = sorted(set(slicing) - Slicing.__optional_keys__)
        if unknown:
            raise TypeError(f"unexpected keyword argument '{unknown[0]}'")
        return cls(
            slicing.get("known_at"),
            slicing.get("by"),
            slicing.get("policy"),
            Banding(policies, slicing.get("size_bands")),
        )

    def in_order(self, keys: Iterable[SliceKey]) -> list[SliceKey]:
        """The distinct slice keys, each ending with its group, in the report's order."""
        order = group_order(self.by, self.banding)
        return sorted(set(keys), key=lambda k: (*k[:-1], order(k[-1])))


def check_policy(policies: Mapping[str, FunnelPolicy], policy: str | None) -> None:
    """A report kept to one policy must be given a policy there is."""
    if policy is not None and policy not in policies:
        raise ValueError(f"no policy '{policy}'")
