"""The table of kept policy versions, beside the events in the store's database.

Every policy version the store has seen is kept there (docs/metrics.md, "Policy
versions"), written in the transaction of the first event decided under it. Both
recorders write it; reports read it to weigh each stage with its version.
"""

from __future__ import annotations

from datetime import datetime

from salesengine.domain.policy import KeptVersion

POLICY_VERSIONS_TABLE = "salesengine_policy_versions"


def kept_order(version: KeptVersion) -> tuple[str, datetime, str]:
    """Versions by policy, then in the order the store first kept them."""
    return (version.name, version.recorded_at, version.fingerprint)
