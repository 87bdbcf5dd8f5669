"""Deal-size bands for ``--by size`` (docs/metrics.md, "Funnel as of T").

A deal's amount falls in a band of its policy's ``size_bands`` (500k and 1M unless the
policy sets its own), or of the limits given for every deal with ``--size-bands``. The
limits are amounts in the deal's own currency: nothing is converted. Each limit starts
a band: with limits 500k and 1M the bands are ``<500k``, ``500k-1M`` and ``>=1M``; a deal
without an amount is in ``no amount``. Reports list the bands lowest first (by lower
limit, then upper, whichever set a band is of), ``no amount`` after them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from salesengine.domain.policy import DEFAULT_SIZE_BANDS, FunnelPolicy

NO_AMOUNT = "no amount"
LOWEST, HIGHEST = Decimal("-Infinity"), Decimal("Infinity")
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

    def bounds(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Each band's label with its lower and upper limit (unbounded: -inf, +inf)."""
        lows = (LOWEST, *self.limits)
        highs = (*self.limits, HIGHEST)
        return dict(zip(self.labels, zip(lows, highs, strict=True), strict=True))


class Banding:
    """Which bands a deal's amount is read in: its policy's, or ``limits`` for every deal."""

    def __init__(
        self, policies: Mapping[str, FunnelPolicy], limits: Sequence[Decimal] | None = None
    ) -> None:
        self.given = None if limits is None else SizeBands(tuple(limits))
        self.by_policy = {name: SizeBands(p.size_bands) for name, p in policies.items()}
        self.default = SizeBands(DEFAULT_SIZE_BANDS)
        # A label means the same amounts in every set it is in (labels are exact).
        self.limits_of: dict[str, tuple[Decimal, Decimal]] = {}
        for bands in (self.default, *self.by_policy.values(), self.given):
            if bands is not None:
                self.limits_of.update(bands.bounds())

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

    def order(self, label: Any) -> tuple[int, Decimal, Decimal, str]:
        """A band's place in a report: lowest first (by its lower limit, then its upper),
        then ``no amount`` (or a label of no band here), then no value at all."""
        if label is None:
            return (2, LOWEST, LOWEST, "")
        limits = self.limits_of.get(str(label))
        if limits is None:
            return (1, LOWEST, LOWEST, str(label))
        return (0, *limits, str(label))
