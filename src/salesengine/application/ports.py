"""What the application needs from its adapters, as interfaces: the policies in force,
the store's indexes and the store's kept policy versions.

The composition root (``salesengine.bootstrap``) wires the concrete ones; the
application imports none of them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable
from uuid import UUID

from salesengine.domain.guard import StageGuard
from salesengine.domain.policy import FunnelPolicy, KeptVersion


class PolicySource(Protocol):
    """The funnel policies in force, by name: the policy files, read by
    ``salesengine.policies.catalog.PolicyCatalog``."""

    def names(self) -> list[str]:
        """Every policy's name, sorted."""
        ...

    def get(self, name: str) -> FunnelPolicy:
        """The policy; ``UnknownPolicy`` if there is none of that name."""
        ...

    def guard(self, name: str) -> StageGuard:
        """The policy's stage guard (one per policy, built once)."""
        ...


class ExistenceIndex(Protocol):
    """Tells which of many deals exist, in one round trip."""

    def __call__(self, ids: Collection[UUID]) -> set[UUID]: ...


class PositionIndex(Protocol):
    """Finds the global (notification log) position of each event of one deal."""

    def __call__(self, originator_id: UUID) -> Mapping[int, int]: ...


@runtime_checkable
class KeepsPolicyVersions(Protocol):
    """A recorder that keeps policy versions beside the events: those passed to a save as
    ``policy_versions`` in the same transaction, or on their own."""

    def keep_policy_versions(self, versions: Sequence[KeptVersion]) -> None: ...

    def kept_policy_versions(self) -> list[KeptVersion]: ...


class PersonalKeys(Protocol):
    """What the store's keyring offers the erasure (``store.personal_keys.Keyring``)."""

    def subjects_of(
        self, *, pairs: Sequence[tuple[str, str]] = (), label: str | None = None
    ) -> list[tuple[str, str, str]]:
        """(subject id, scope, label) of the stored subjects of ``pairs``, and of every
        subject written under ``label``."""
        ...

    def forget(self, subjects: Iterable[str]) -> None: ...

    def scrub(self) -> bool: ...
