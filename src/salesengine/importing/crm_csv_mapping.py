"""The mapping of a CRM export: which columns hold what, and which commands replay the
history of a row in each stage (``mappings/maven.yaml`` is the Maven CRM sample's)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from salesengine.domain.policy import KEY_PATTERN
from salesengine.importing.common.local_times import zone
from salesengine.importing.common.mapping_files import Strict, load_mapping, validate_mapping


class Step(Strict):
    """One command replayed from a row, effective at the date in column ``at``."""

    cmd: Literal["open", "advance", "won", "lost", "abandon"]
    at: str = Field(min_length=1, description="column holding this step's date")
    to: str | None = Field(default=None, pattern=KEY_PATTERN, description="advance: stage")
    amount: str | None = Field(
        default=None, description="column whose value becomes the deal's amount at this step"
    )
    reason: str | None = Field(default=None, min_length=1, description="lost, abandon: why")

    @model_validator(mode="after")
    def _target(self) -> Step:
        if (self.cmd == "advance") != (self.to is not None):
            raise ValueError("'to' is needed by an advance step and by no other")
        if self.reason is not None and self.cmd not in ("lost", "abandon"):
            raise ValueError("'reason' belongs to lost and abandon steps")
        return self


class Lookup(Strict):
    """A CSV file joined onto each row: the row's ``column`` equals the file's ``key``.

    ``file`` is relative to the mapping file, else to the data file's directory."""

    file: str = Field(min_length=1)
    column: str = Field(min_length=1, description="the data file's column")
    key: str | None = Field(default=None, description="the lookup file's column; default: column")
    aliases: dict[str, str] = Field(
        default_factory=dict, description="values of the data column spelt differently"
    )

    @property
    def key_column(self) -> str:
        return self.key or self.column


class Attributes(Strict):
    """Columns (of the row or a lookup) giving the deal's attributes at opening."""

    account: str | None = None
    owner: str | None = None
    team: str | None = None
    region: str | None = None
    amount: str | None = None
    expected_close: str | None = None


class BuyingPowerFrom(Strict):
    """How a lookup column gives an account's buying power (a yearly purchase volume):
    the column's number times ``unit`` (what one of its numbers is worth: 1000000 for a
    column in millions) times ``share`` (the part of it taken as spent on what we sell:
    an assumption the mapping states, docs/importing.md), in ``currency``."""

    column: str = Field(min_length=1)
    unit: Decimal = Field(default=Decimal(1), gt=0, allow_inf_nan=False)
    share: Decimal = Field(default=Decimal(1), gt=0, le=1, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class AccountsFrom(Strict):
    """The lookup file whose rows are the accounts the deals name, and which of its
    columns give each account's fields; ``notes`` are quoted in the buying power's note."""

    file: str = Field(min_length=1, description="one of the lookups' files")
    industry: str | None = None
    region: str | None = None
    buying_power: BuyingPowerFrom | None = None
    notes: list[str] = Field(default_factory=list)


class CsvMapping(Strict):
    policy: str | None = Field(default=None, min_length=1)
    id: str = Field(min_length=1, description="column with the row's id, also the deal key")
    deal_prefix: str = ""
    stage: str = Field(min_length=1, description="column with the deal's current stage")
    histories: dict[str, list[Step]] = Field(
        min_length=1, description="stage column value -> the steps replaying its history"
    )
    attributes: Attributes = Attributes()
    facts: dict[str, str] = Field(
        default_factory=dict, description="fact name -> column, recorded at opening"
    )
    by: str | None = Field(default=None, description="column naming the actor")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timezone: str = "UTC"
    fallback_at: datetime | date | None = Field(
        default=None,
        description="effective time of a step whose date is missing; without it such "
        "rows are skipped",
    )
    lookups: list[Lookup] = Field(default_factory=list)
    accounts: AccountsFrom | None = Field(
        default=None, description="record an account for each account the deals name"
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"

    @model_validator(mode="after")
    def _accounts_are_a_lookup(self) -> CsvMapping:
        if self.accounts is None:
            return self
        if self.attributes.account is None:
            raise ValueError("accounts: needs the deals' account (attributes.account)")
        if all(lookup.file != self.accounts.file for lookup in self.lookups):
            raise ValueError(f"accounts.file: {self.accounts.file!r} is none of the lookups' files")
        return self

    @cached_property
    def opening_columns(self) -> dict[str, str]:
        """The opening's fields and the columns they come from (worked out once: every
        row's opening names them)."""
        columns: dict[str, str] = self.attributes.model_dump(exclude_none=True)
        columns.update({f"facts.{name}": column for name, column in self.facts.items()})
        return columns

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("facts")
    @classmethod
    def _fact_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.fullmatch(KEY_PATTERN, name) or len(name) > 64]
        if bad:
            raise ValueError(f"fact names must match {KEY_PATTERN}: {', '.join(bad)}")
        return value

    @field_validator("histories")
    @classmethod
    def _opens_first(cls, value: dict[str, list[Step]]) -> dict[str, list[Step]]:
        for status, steps in value.items():
            if not steps:  # rows of this stage are left out on purpose
                continue
            if steps[0].cmd != "open":
                raise ValueError(f"the steps of {status!r} must start with an open step")
            if any(step.cmd == "open" for step in steps[1:]):
                raise ValueError(f"the steps of {status!r} open the deal more than once")
        return value


def load_csv_mapping(name_or_path: str) -> tuple[Path, CsvMapping]:
    path, content = load_mapping(name_or_path, "csv")
    return path, validate_mapping(path, content, CsvMapping)
