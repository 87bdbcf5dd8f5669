"""An XES mapping: which attributes hold what, and what each activity becomes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import KEY_PATTERN
from salesengine.domain.values import OUTCOMES
from salesengine.importing.common.errors import MappingError
from salesengine.importing.common.mapping_files import load_mapping, mapping_problem

if TYPE_CHECKING:
    from salesengine.policies.catalog import PolicyCatalog

_GLOB = frozenset("*?[")
_KEY = re.compile(KEY_PATTERN)
# Each activity table: what its targets are called in a refusal, and the only targets
# it allows (None: any key).
_TABLES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "stages": ("stage", None),
    "outcomes": ("outcome", OUTCOMES),
    "facts": ("fact", None),
    "visits": ("visit kind", None),
}


def _is_key(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and _KEY.fullmatch(value) is not None


def _table(
    value: dict[str, Any], what: str, allowed: tuple[str, ...] | None = None
) -> dict[str, str]:
    for activity, target in value.items():
        if allowed is not None:
            if target not in allowed:
                raise ValueError(
                    f"activity '{activity}': {what} {target!r} is not one of {', '.join(allowed)}"
                )
        elif not _is_key(target):
            raise ValueError(
                f"activity '{activity}': {what} {target!r} is not a key "
                "(lowercase letters, digits and _, starting with a letter)"
            )
    return value


class XesMapping(BaseModel):
    """The shape of an XES mapping file (see docs/importing.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str | None = Field(default=None, min_length=1)
    deal_prefix: str = ""
    trace_id: str = Field(default="concept:name", min_length=1)
    amount: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    activity: str = Field(default="concept:name", min_length=1)
    lifecycle: str = Field(default="lifecycle:transition", min_length=1)
    timestamp: str = Field(default="time:timestamp", min_length=1)
    resource: str | None = "org:resource"
    owner_from_first_event: bool = True
    actor_from_resource: bool = True
    lifecycles: tuple[str, ...] = Field(default=("COMPLETE",), min_length=1)
    stages: dict[str, Any] = Field(default_factory=dict)
    outcomes: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    visits: dict[str, Any] = Field(default_factory=dict)

    @field_validator("lifecycles")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().upper() for v in value)

    @field_validator(*_TABLES)
    @classmethod
    def _targets(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, str]:
        what, allowed = _TABLES[info.field_name or ""]
        return _table(value, what, allowed)


def load_xes_mapping(name_or_path: str) -> tuple[Path, XesMapping]:
    path, content = load_mapping(name_or_path, "xes")
    try:
        mapping = XesMapping.model_validate(content)
    except ValidationError as e:
        raise mapping_problem(path, e) from None
    both = sorted(set(mapping.stages) & set(mapping.outcomes))
    if both:
        raise MappingError(f"{path}: field 'outcomes': {', '.join(both)} also named under 'stages'")
    return path, mapping


def check_policy(path: Path, spec: XesMapping, name: str, catalog: PolicyCatalog) -> None:
    """The policy must exist and have every stage the mapping moves deals to."""
    try:
        policy = catalog.get(name)
    except SalesEngineError as e:
        raise MappingError(f"{path}: field 'policy': {e}") from None
    for activity, stage in spec.stages.items():
        if not policy.has_stage(stage):
            raise MappingError(
                f"{path}: field 'stages.{activity}': {stage!r} is not a stage of policy "
                f"{name} ({', '.join(policy.stage_keys)})"
            )


@dataclass(frozen=True, slots=True)
class Rule:
    """What one activity becomes."""

    stage: str | None = None
    outcome: str | None = None
    fact: str | None = None  # also what an outcome activity records once the deal is closed
    visit: str | None = None


def _lookup(table: dict[str, str], activity: str) -> str | None:
    found = table.get(activity)
    if found is not None:
        return found
    for pattern, target in table.items():
        if _GLOB.intersection(pattern) and fnmatchcase(activity, pattern):
            return target
    return None


class Rules:
    def __init__(self, mapping: XesMapping) -> None:
        self.mapping = mapping
        self.rank: dict[str, int] = {}
        for stage in mapping.stages.values():
            self.rank.setdefault(stage, len(self.rank))
        self._cache: dict[str, Rule] = {}

    def __call__(self, activity: str) -> Rule:
        rule = self._cache.get(activity)
        if rule is None:
            m = self.mapping
            rule = self._cache[activity] = Rule(
                stage=_lookup(m.stages, activity),
                outcome=_lookup(m.outcomes, activity),
                fact=_lookup(m.facts, activity),
                visit=_lookup(m.visits, activity),
            )
        return rule
