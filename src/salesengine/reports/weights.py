"""Which probability weighs a deal (docs/metrics.md, "Policy versions"): its stage's
under the policy version the deal's stage interval was entered under.

The store keeps every version its events were decided under (``POLICY_VERSIONS_TABLE``,
beside the events in the same database); a version it does not keep is the policy
file's when the file is still that version. A version neither has (events stored before
versions were kept, under a file edited since) is weighed with the policy file's
current version, and named by ``unknown_versions`` so that reports can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    distinct,
    func,
    select,
)

from salesengine.domain.policy import FunnelPolicy
from salesengine.projections import stage_intervals
from salesengine.projections.funnel_points import keys
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE

# The store's own table (created by its recorder), not a read model: it is read here,
# never dropped or rebuilt with them.
kept_versions = Table(
    POLICY_VERSIONS_TABLE,
    MetaData(),
    Column("policy", String, primary_key=True),
    Column("fingerprint", String, primary_key=True),
    Column("document", Text),
)


@dataclass(slots=True)
class Weights:
    """Stage probabilities by (policy, version, stage)."""

    current: Mapping[str, FunnelPolicy]  # the policy files, by name
    kept: dict[tuple[str, str], FunnelPolicy] = field(default_factory=dict)

    def policy(self, name: str, version: str) -> FunnelPolicy:
        """The version, or the policy file's current one when it is not known."""
        found = self.kept.get((name, version))
        if found is not None:
            return found
        return self.current[name]

    def known(self, name: str, version: str) -> bool:
        current = self.current.get(name)
        return (name, version) in self.kept or (
            current is not None and current.fingerprint == version
        )

    def weight(self, name: str, version: str, stage: str) -> Decimal:
        policy = self.policy(name, version)
        try:
            return Decimal(policy.probability(stage)) / 100
        except KeyError:
            # A version that never had the stage: only a fallback's can miss it.
            return Decimal(self.current[name].probability(stage)) / 100


def weights(conn: Connection, policies: Mapping[str, FunnelPolicy]) -> Weights:
    """The versions the store keeps, parsed once per report."""
    found = Weights(policies)
    query = select(kept_versions.c.policy, kept_versions.c.fingerprint, kept_versions.c.document)
    for name, fingerprint, document in conn.execute(query):
        try:
            found.kept[(name, fingerprint)] = FunnelPolicy.model_validate_json(document)
        except ValidationError:
            continue  # kept by a release whose policies had another shape: not known here
    return found


def unknown_versions(
    conn: Connection, policies: Mapping[str, FunnelPolicy], only: str | None = None
) -> list[str]:
    """A note for each policy version a stage was ever entered under (the funnel keys,
    a small table, know them all) that weighs by the fallback."""
    known = weights(conn, policies)
    k = keys.c
    query = select(k.policy, k.policy_version).distinct().order_by(k.policy, k.policy_version)
    if only is not None:
        query = query.where(k.policy == only)
    return [
        f"policy {name!r} version {version} is neither kept in the store nor the version "
        f"of its policy file: stages entered under it are weighed with the file's "
        f"version {policies[name].fingerprint}"
        for name, version in conn.execute(query)
        if name in policies and not known.known(name, version)
    ]


def version_uses(conn: Connection, policy: str) -> dict[str, tuple[int, int]]:
    """Per version of the policy a stage was entered under: when the store first
    recorded such an entry (microseconds; a row of the stage intervals is made when the
    event entering it is recorded, and never deleted) and how many deals have one."""
    i = stage_intervals.table.c
    query = (
        select(i.policy_version, func.min(i.recorded_from), func.count(distinct(i.deal_id)))
        .where(i.policy == policy)
        .group_by(i.policy_version)
    )
    return {version: (int(first), int(deals)) for version, first, deals in conn.execute(query)}
