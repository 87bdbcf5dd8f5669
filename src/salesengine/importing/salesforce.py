"""Salesforce exports: OpportunityHistory, one row per change of an opportunity
(``salesforce_history``), and OpportunityFieldHistory, one row per changed field
(``salesforce_fields``), told apart by the header and read with the same mapping.

The mapping (``mappings/salesforce.yaml``) names the columns and maps each Salesforce
stage onto a stage of the policy, or onto ``won`` or ``lost``. Salesforce records no
evidence for the policy's entry criteria, so before a move that needs criteria the
importer records each missing one as a fact whose value names the Salesforce stage that
implied it (``"salesforce: Needs Analysis"``). A stage the mapping does not know is
reported as a skipped row; the row's other changes still apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from salesengine.importing import salesforce_fields, salesforce_history
from salesengine.importing.common.csv_files import read_header
from salesengine.importing.common.errors import MappingError
from salesengine.importing.common.items import SourceItem
from salesengine.importing.salesforce_mapping import (
    DEFAULT_MAPPING,
    load_salesforce_mapping,
    mapped_policy,
)
from salesengine.policies.catalog import PolicyCatalog


def read(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    catalog: PolicyCatalog | None = None,
) -> Iterator[SourceItem]:
    """The opportunities' histories as commands; the header is checked before any item.

    A header with the field history's ``Field`` and ``NewValue`` columns is read as an
    OpportunityFieldHistory export, any other as OpportunityHistory."""
    mapping_path, spec = load_salesforce_mapping(mapping or DEFAULT_MAPPING)
    name = policy or spec.policy
    if name is None:
        raise MappingError(f"{mapping_path}: field 'policy': missing, and no --policy given")
    funnel = mapped_policy(mapping_path, spec, name, catalog)
    header = read_header(path, encoding=spec.encoding, delimiter=spec.delimiter)
    tracked = spec.field_history.columns
    if tracked.field in header and tracked.new in header:
        return salesforce_fields.read_rows(path, spec, funnel, header)
    return salesforce_history.read_rows(path, spec, funnel, header)
