"""Deal-size bands for ``--by size`` (docs/metrics.md, "Funnel as of T").

A deal's amount falls in a band of its policy's ``size_bands`` (500k and 1M unless the
policy sets its own), or of the limits given for every deal with ``--size-bands``. The
limits are amounts in the deal's own currency: nothing is converted. Each limit starts
a band: with limits 500k and 1M the bands are ``<500k``, ``500k-1M`` and ``>=1M``; a deal
without an amount is in ``no amount``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from salesengine.domain.policy import DEFAULT_SIZE_BANDS, FunnelPolicy

NO_AMOUNT = "no amount"
# Suffixes a band label may use, largest first; a limit they cannot say in at most two
# decimal places keeps all its digits (1,234,567).
SUFFIXES = ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))


def short_amount(value: Decimal) -> str:
    """500000 -> 500k, 1000000 -> 1M, 2500 -> 2.5k, 55 -> 55: exact, never rounded."""
    for unit, suffix in SUFFIXES:
        if value >= unit:
            scaled = value / unit
            if scaled == scaled.quantize(Decimal("0.01")):
                return f"{_plain(scaled)}{suffix}"
            return _plain(value, grouped=True)
    return _plain(value)


def _plain(value: Decimal, *, grouped: bool = False) -> str:
    text = format(value, ",f" if grouped else "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class SizeBands:
    """Rising band limits; n limits make n + 1 bands."""

    limits: tuple[Decimal, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        names = [short_amount(limit) for limit in self.limits]
        middle = [f"{low}-{high}" for low, high in itertools.pairwise(names)]
        return (f"<{names[0]}", *middle, f">={names[-1]}")

    def band(self, amount: Decimal | None) -> str:
        if amount is None:
            return NO_AMOUNT
        above = sum(amount >= limit for limit in self.limits)
        return self.labels[above]


class Banding:
    """Which bands a deal's amount is read in: its policy's, or ``limits`` for every deal."""

    def __init__(
        self, policies: Mapping[str, FunnelPolicy], limits: Sequence[Decimal] | None = None
    ) -> None:
        self.given = None if limits is None else SizeBands(tuple(limits))
        self.by_policy = {name: SizeBands(p.size_bands) for name, p in policies.items()}
        self.default = SizeBands(DEFAULT_SIZE_BANDS)

    def sets(self) -> list[tuple[SizeBands, list[str] | None]]:
        """Each set of bands with the policies reading their amounts in it; the last set
        (with None) holds for every other deal."""
        if self.given is not None:
            return [(self.given, None)]
        sets: dict[SizeBands, list[str]] = {}
        for name, bands in sorted(self.by_policy.items()):
            if bands != self.default:
                sets.setdefault(bands, []).append(name)
        return [*sets.items(), (self.default, None)]

    def bands(self, policy: str) -> SizeBands:
        if self.given is not None:
            return self.given
        return self.by_policy.get(policy, self.default)

    def band(self, policy: str, amount: Decimal | None) -> str:
        return self.bands(policy).band(amount)
