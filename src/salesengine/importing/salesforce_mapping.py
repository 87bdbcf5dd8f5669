"""The mapping of a Salesforce export: its columns, and what each stage and tracked field
becomes (``mappings/salesforce.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import KEY_PATTERN, FunnelPolicy
from salesengine.importing.common.errors import MappingError
from salesengine.importing.common.local_times import zone
from salesengine.importing.common.mapping_files import Strict, load_mapping, validate_mapping
from salesengine.policies.catalog import PolicyCatalog

DEFAULT_MAPPING = "salesforce"
OUTCOME_STAGES = ("won", "lost")


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
