"""What SQLite and PostgreSQL backups share: their errors, their results, and how a
finished backup file takes its name (store/backup.py, store/pg_backup.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from salesengine.domain.errors import SalesEngineError
from salesengine.store.settings import EVENTS_TABLE


class BackupError(SalesEngineError):
    """The backup or restore could not be made; nothing was changed."""

    code = "backup_failed"


class BadBackupInput(BackupError):
    """A path or file given to backup or restore is not usable (malformed input)."""

    code = "bad_backup_input"


class StoreInUse(BackupError):
    """Another process or session uses the store that a restore would replace."""

    code = "store_in_use"


class TargetNotEmpty(BackupError):
    """The target holds data that a restore (or a backup file that exists) would replace."""

    code = "target_not_empty"


@dataclass(frozen=True, slots=True)
class Contents:
    """What a store's database holds: its events (count and log head) and tables."""

    events: int
    position: int
    tables: tuple[str, ...]

    def describe(self) -> str:
        others = [t for t in self.tables if t not in EVENTS_TABLE.values()]
        held = (
            f"an event store ({self.events:,} event{'' if self.events == 1 else 's'}, "
            f"up to position {self.position:,})"
            if len(others) < len(self.tables)
            else "no event store"
        )
        extra = f" and {len(others)} other tables ({', '.join(others[:6])}" + (
            ", ...)" if len(others) > 6 else ")"
        )
        return held + (extra if others else "")


@dataclass(frozen=True, slots=True)
class Copied:
    """A finished backup or restore: from where, to where, and up to which position."""

    kind: str
    source: str
    target: str
    events: int
    position: int
    bytes: int
    seconds: float
    replaced: Contents | None = None  # what a forced restore overwrote
    # Tokens the backup holds live that the replaced store had revoked: they stay revoked.
    kept_revoked: int = 0
    # Keys the backup holds of subjects the replaced store had erased: deleted again.
    kept_erased: int = 0


# The tokens' table (access/tokens.py), read here by name: the store layer does not
# import access. A restore keeps the revocations of the store it replaces.
TOKENS_TABLE = "salesengine_tokens"


def partial_path(target: Path) -> Path:
    """Where a backup is written before it is complete: beside the target, so the final
    rename is atomic, under a name no one mistakes for a backup."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


def create_private(path: Path) -> None:
    """Create ``path`` empty, readable by its owner only (0o600, whatever the umask):
    a backup holds the tokens' hashes and every deal, and the tools that fill the file
    in keep the mode of a file that exists."""
    path.unlink(missing_ok=True)  # one a killed run with this pid left
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def publish(partial: Path, target: Path) -> None:
    """Make the finished copy durable, then give it its name (atomically)."""
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
