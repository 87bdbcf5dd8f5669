"""The policy versions an engine decides under, and the ones its store keeps.

Every opening and stage change records the fingerprint of the policy version that
decided it; the store keeps each such version beside the events, written in the
transaction of the first event decided under it (docs/metrics.md, "Policy versions").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from salesengine.application.ports import KeepsPolicyVersions, PolicySource
from salesengine.domain.deal import Deal
from salesengine.domain.errors import StoreUnavailable, UnknownPolicy
from salesengine.domain.guard import StageGuard
from salesengine.domain.policy import ON_DISK, FunnelPolicy, KeptVersion


class PolicyVersions:
    """What one engine knows of policy versions: the policies in force (``catalog()``,
    read each time, since the engine's policy source may be replaced) and the store's."""

    def __init__(
        self,
        recorder: object,
        catalog: Callable[[], PolicySource],
        clock: Callable[[], datetime],
    ) -> None:
        self._keeper = recorder if isinstance(recorder, KeepsPolicyVersions) else None
        self._catalog = catalog
        self._clock = clock
        self._kept: set[tuple[str, str]] = set()  # (policy, fingerprint) known to be kept
        self._parsed: dict[tuple[str, str], FunnelPolicy] = {}
        self._guards: dict[tuple[str, str], StageGuard | None] = {}

    def to_keep(self, deals: Iterable[Deal]) -> list[KeptVersion]:
        """The versions (the policy files') the deals' new events were decided under,
        unless this engine has kept them already. The store keeps the first row of a
        version, so one kept twice (by two engines) is harmless."""
        if self._keeper is None:
            return []
        catalog = self._catalog()
        found: dict[tuple[str, str], KeptVersion] = {}
        for deal in deals:
            for event in deal.pending_events:
                # Openings and stage changes: the events a policy version decides.
                version: str | None = getattr(event, "policy_version", None)
                if version is None:
                    continue
                key = (deal.state.policy, version)
                if key in self._kept or key in found:
                    continue
                policy = catalog.get(deal.state.policy)
                if policy.fingerprint == version:
                    found[key] = KeptVersion.of(policy, event.timestamp)
        return list(found.values())

    def saved(self, versions: Iterable[KeptVersion]) -> None:
        """The versions are in the store now (their transaction committed)."""
        self._kept.update((v.name, v.fingerprint) for v in versions)

    def kept(self) -> list[KeptVersion]:
        """Every version the store keeps, by policy and first recorded time."""
        if self._keeper is None:
            return []
        try:
            return self._keeper.kept_policy_versions()
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot read the policy versions: {e}") from None

    def policy(self, name: str, fingerprint: str) -> FunnelPolicy | None:
        """The version: the policy file's if it is that version, else the store's; None
        if neither has it (or the store's is of a shape this release cannot read)."""
        try:
            current = self._catalog().get(name)
        except UnknownPolicy:
            current = None
        if current is not None and current.fingerprint == fingerprint:
            return current
        key = (name, fingerprint)
        if key not in self._parsed:
            for kept in self.kept():
                try:
                    self._parsed.setdefault((kept.name, kept.fingerprint), kept.policy())
                except ValidationError:
                    continue
        return self._parsed.get(key)

    def guard(self, name: str, fingerprint: str) -> StageGuard | None:
        """The guard of a version; None if it is not known."""
        key = (name, fingerprint)
        if key not in self._guards:
            policy = self.policy(name, fingerprint)
            catalog = self._catalog()
            if policy is None:
                self._guards[key] = None
            elif name in catalog.names() and policy is catalog.get(name):
                return catalog.guard(name)  # the catalog keeps its own guards
            else:
                self._guards[key] = StageGuard(policy)
        return self._guards[key]

    def keep_on_disk(self, used: Iterable[tuple[str, str]]) -> list[KeptVersion]:
        """Keep the versions among ``used`` (policy, fingerprint) that the store lacks and
        the policy files hold: the upgrade path of a store whose events predate kept
        versions. What neither has stays unknown."""
        if self._keeper is None:
            return []
        kept = {(v.name, v.fingerprint) for v in self.kept()}
        catalog = self._catalog()
        found: list[KeptVersion] = []
        now = self._clock()
        for name, fingerprint in sorted(set(used) - kept):
            if name not in catalog.names():
                continue
            policy = catalog.get(name)
            if policy.fingerprint == fingerprint:
                found.append(KeptVersion.of(policy, now, ON_DISK))
        if found:
            try:
                self._keeper.keep_policy_versions(found)
            except PersistenceError as e:
                raise StoreUnavailable(f"cannot keep the policy versions: {e}") from None
            self.saved(found)
        return found
