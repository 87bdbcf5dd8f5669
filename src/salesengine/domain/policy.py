"""Funnel policies: ordered stages, win probabilities, entry criteria and time rules.

A policy is data (a TOML file under ``policies/``); this module is its validated shape.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from salesengine.domain.values import OUTCOMES

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"

# The amounts where the deal-size bands of `--by size` start, in the deal's own currency:
# the buying-power bands of account grading (under 500k, 500k to 1M, 1M and more) unless a
# policy sets its own.
DEFAULT_SIZE_BANDS: tuple[Decimal, ...] = (Decimal(500_000), Decimal(1_000_000))
# Python's Decimal would also read "1_000" or other scripts' digits; a limit is written 0-9.
_LIMIT_TEXT = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def _limit_text(value: object) -> object:
    if isinstance(value, str) and not _LIMIT_TEXT.fullmatch(value.strip()):
        raise ValueError("not an amount written with the digits 0-9, like 2500 or 1000.50")
    return value


# A band limit is an amount as the engine stores one: positive, at most 4 decimal places.
BandLimit = Annotated[
    Decimal,
    Field(gt=0, max_digits=18, decimal_places=4, allow_inf_nan=False),
    BeforeValidator(_limit_text),
]


def check_size_bands(limits: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
    """Band limits must rise: each band ends where the next one starts."""
    for before, after in itertools.pairwise(limits):
        if after <= before:
            raise ValueError(f"band limits must increase: {after} follows {before}")
    return limits


def parse_size_bands(text: str) -> tuple[Decimal, ...]:
    """Band limits written as amounts separated by commas, rising (``--size-bands``, the
    service's ``size_bands``); ``ValueError`` names the part at fault."""
    parts = [part.strip() for part in text.split(",")]
    try:
        return check_size_bands(TypeAdapter(tuple[BandLimit, ...]).validate_python(parts))
    except ValidationError as e:
        error = e.errors()[0]
        place = error["loc"][0] if error["loc"] else None
        where = f"{parts[place]!r}: " if isinstance(place, int) else ""
        raise ValueError(where + error["msg"].removeprefix("Value error, ")) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Criterion(_Strict):
    """Evidence that must exist before a deal may enter a stage.

    ``source = "fact"`` is met by a recorded, unretracted, truthy fact of the same key;
    ``source = "next_step"`` is met by an open next step that is not overdue.
    """

    key: str = Field(pattern=KEY_PATTERN, max_length=64)
    description: str = Field(min_length=1)
    description_zh: str | None = None
    source: Literal["fact", "next_step"] = "fact"


class TimeRules(_Strict):
    max_days: int | None = Field(
        default=None, gt=0, strict=True, description="longest normal stay in stage"
    )
    next_step_required: bool = False


class Stage(_Strict):
    key: str = Field(pattern=KEY_PATTERN, max_length=64)
    name: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    # Strict: TOML gives real integers, and lax parsing would read `true` as 1 %.
    probability: int = Field(ge=0, le=100, strict=True, description="win probability in percent")
    role: str = Field(min_length=1, description="who is responsible for deals in this stage")
    criteria: tuple[Criterion, ...] = ()
    time_rules: TimeRules = TimeRules()

    @field_validator("criteria")
    @classmethod
    def _unique_criteria(cls, value: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        keys = [c.key for c in value]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"criterion keys repeat: {', '.join(dupes)}")
        return value

    @property
    def weight(self) -> Decimal:
        return Decimal(self.probability) / 100


class Fallback(_Strict):
    """A deal without a live next step falls back to this stage (Funnel List rule)."""

    to: str = Field(pattern=KEY_PATTERN)
    reason: str = "no_next_step"


class GradeDays(_Strict):
    """The highest days from T to a deal's expected close of grades A, B and C; D is the
    rest, and the deals without a date (docs/metrics.md, "Grades and health")."""

    A: int = Field(default=31, ge=0, strict=True)
    B: int = Field(default=92, ge=0, strict=True)
    C: int = Field(default=183, ge=0, strict=True)

    @model_validator(mode="after")
    def _rising(self) -> GradeDays:
        for (low, a), (high, b) in itertools.pairwise(self.limits):
            if b <= a:
                raise ValueError(
                    f"the grades' days must increase: {high} ({b}) is not above {low} ({a})"
                )
        return self

    @property
    def limits(self) -> tuple[tuple[str, int], ...]:
        """(grade, highest days) of A, B and C, in that order."""
        return (("A", self.A), ("B", self.B), ("C", self.C))

    def grade(self, days: int | None) -> str:
        """The grade of a deal ``days`` from its expected close (None: it has none)."""
        if days is not None:
            for name, limit in self.limits:
                if days <= limit:
                    return name
        return "D"


class ContactCadence(_Strict):
    """Days a deal of each grade may go without a contact (养单) before it is overdue.

    The seeds name a cadence per grade without its days: these defaults are the
    project's assumption (docs/policies.md, "Grades and contact cadence")."""

    A: int = Field(default=7, gt=0, strict=True)
    B: int = Field(default=14, gt=0, strict=True)
    C: int = Field(default=30, gt=0, strict=True)
    D: int = Field(default=90, gt=0, strict=True)

    def days(self, grade: str) -> int:
        return int(getattr(self, grade))

    def as_dict(self) -> dict[str, int]:
        return {"A": self.A, "B": self.B, "C": self.C, "D": self.D}


# Fields added after policy versions were first fingerprinted, with their defaults. A
# policy that leaves one at its default has the fingerprint it had before the field
# existed, so that the versions stores keep, and record on every deal, stay the same.
_LATER_FIELDS: dict[str, object] = {
    "grade_days": GradeDays(),
    "contact_cadence_days": ContactCadence(),
    "effective_visit_kinds": None,
}


class FunnelPolicy(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    title: str = Field(min_length=1)
    title_zh: str | None = None
    description: str = ""
    stages: tuple[Stage, ...] = Field(min_length=1)
    won_probability: int = Field(default=100, ge=0, le=100, strict=True)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="default currency")
    fallback: Fallback | None = None
    visit_target_per_week: int = Field(default=12, gt=0, strict=True)
    grade_days: GradeDays = Field(
        default=GradeDays(), description="highest days to the expected close of grades A-C"
    )
    contact_cadence_days: ContactCadence = Field(
        default=ContactCadence(), description="days between contacts per grade before overdue"
    )
    effective_visit_kinds: (
        tuple[Annotated[str, Field(pattern=KEY_PATTERN, max_length=64)], ...] | None
    ) = Field(
        default=None,
        min_length=1,
        description="the visit kinds that may count as effective; None: every kind",
    )
    size_bands: tuple[BandLimit, ...] = Field(
        default=DEFAULT_SIZE_BANDS,
        min_length=1,
        max_length=12,
        description="amounts where the deal-size bands of --by size end",
    )

    @field_validator("effective_visit_kinds")
    @classmethod
    def _unique_kinds(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) < len(value):
            dupes = sorted({k for k in value if value.count(k) > 1})
            raise ValueError(f"visit kinds repeat: {', '.join(dupes)}")
        return value

    @field_validator("size_bands")
    @classmethod
    def _rising_bands(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        return check_size_bands(value)

    @model_validator(mode="after")
    def _consistent(self) -> FunnelPolicy:
        keys = [s.key for s in self.stages]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"stage keys repeat: {', '.join(dupes)}")
        clash = sorted(set(keys) & set(OUTCOMES))
        if clash:
            raise ValueError(f"stage keys may not be outcome names: {', '.join(clash)}")
        if self.fallback is not None and self.fallback.to not in keys:
            raise ValueError(f"fallback.to names unknown stage '{self.fallback.to}'")
        if self.fallback is not None and self.fallback.to == keys[-1]:
            # A deal falls back to an earlier stage; none is later than the last.
            raise ValueError(
                f"fallback.to names the last stage '{self.fallback.to}': no deal could fall "
                "back to it"
            )
        return self

    @cached_property
    def document(self) -> str:
        """The policy as canonical JSON: what the store keeps of each version."""
        return self.model_dump_json()

    @cached_property
    def fingerprint(self) -> str:
        """Identifies this exact version of the policy; recorded on every deal it opens
        and every stage change it decides.

        The size bands are left out: they say how reports group deals, not how a deal
        runs, so changing them makes no new version of the policy's rules. The grades'
        days and the contact cadence are left out while at their defaults: a file that
        does not set them keeps the fingerprint it had before they could be set."""
        left_out = {"size_bands"}
        left_out.update(k for k, default in _LATER_FIELDS.items() if getattr(self, k) == default)
        return fingerprint_of(self.model_dump_json(exclude=left_out))

    def grade(self, days: int | None) -> str:
        """The grade of a deal ``days`` from its expected close (None: without one)."""
        return self.grade_days.grade(days)

    def cadence_days(self, grade: str) -> int:
        """Days a deal of ``grade`` may go without a contact before it is overdue."""
        return self.contact_cadence_days.days(grade)

    @property
    def stage_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.stages)

    @property
    def first_stage(self) -> Stage:
        return self.stages[0]

    def stage(self, key: str) -> Stage:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    def index(self, key: str) -> int:
        return self.stage_keys.index(key)

    def has_stage(self, key: str) -> bool:
        return key in self.stage_keys

    def probability(self, stage_or_outcome: str) -> int:
        if stage_or_outcome == "won":
            return self.won_probability
        if stage_or_outcome in OUTCOMES:
            return 0
        return self.stage(stage_or_outcome).probability

    def shown(self) -> dict[str, Any]:
        """The policy as JSON: ``policy show --json`` and the service's ``/policies``."""
        return {
            "name": self.name,
            "version": self.fingerprint,
            "title": self.title,
            "title_zh": self.title_zh,
            "currency": self.currency,
            "fallback": None if self.fallback is None else self.fallback.model_dump(),
            "visit_target_per_week": self.visit_target_per_week,
            "grade_days": dict(self.grade_days.limits),
            "contact_cadence_days": self.contact_cadence_days.as_dict(),
            "effective_visit_kinds": (
                None if self.effective_visit_kinds is None else list(self.effective_visit_kinds)
            ),
            "size_bands": list(self.size_bands),
            "stages": [
                {
                    "key": s.key,
                    "name": s.name,
                    "name_zh": s.name_zh,
                    "probability": s.probability,
                    "role": s.role,
                    "criteria": [{"key": c.key, "description": c.description} for c in s.criteria],
                    "time_rules": s.time_rules.model_dump(),
                }
                for s in self.stages
            ],
            "outcomes": [
                {"key": "won", "probability": self.won_probability},
                {"key": "lost", "probability": 0},
                {"key": "abandoned", "probability": 0},
            ],
        }


def fingerprint_of(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()[:16]


# How a version came to be kept: with the first event decided under it, or (for events
# stored before versions were kept) found in the policy file when first looked for.
DECIDED = "decided"
ON_DISK = "on disk"


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """A policy version as the store keeps it, by (name, fingerprint)."""

    name: str
    fingerprint: str
    document: str  # the policy's canonical JSON (FunnelPolicy.document)
    recorded_at: datetime  # when the store first kept it
    source: str  # DECIDED or ON_DISK

    @classmethod
    def of(cls, policy: FunnelPolicy, recorded_at: datetime, source: str = DECIDED) -> KeptVersion:
        return cls(policy.name, policy.fingerprint, policy.document, recorded_at, source)

    def policy(self) -> FunnelPolicy:
        return FunnelPolicy.model_validate_json(self.document)


def version_named(current: FunnelPolicy, kept: Iterable[KeptVersion], wanted: str) -> FunnelPolicy:
    """The version of ``current``'s policy named by its fingerprint (or a unique start of
    it): the policy file's, or one of ``kept``; ``ValueError`` lists those known."""
    wanted = wanted.strip().lower()
    candidates = {current.fingerprint: current}
    for v in kept:
        if v.name == current.name:
            candidates.setdefault(v.fingerprint, v.policy())
    matches = [fp for fp in candidates if fp.startswith(wanted)] if wanted else []
    if len(matches) == 1:
        return candidates[matches[0]]
    known = ", ".join(sorted(candidates))
    reason = "names more than one" if matches else "is not one"
    raise ValueError(
        f"{wanted!r} {reason} of the versions of {current.name!r} known here ({known})"
    )
