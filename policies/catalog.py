"""Loads, validates and caches funnel policy files."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from salesengine.domain.errors import PolicyError, UnknownPolicy
from salesengine.domain.guard import StageGuard
from salesengine.domain.policy import FunnelPolicy

BUILTIN_DIR = Path(__file__).resolve().parent
POLICY_PATH_ENV = "SALESENGINE_POLICY_PATH"


def load_policy_file(path: Path) -> FunnelPolicy:
    """Parse one policy file; errors name the file, the field and the reason."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PolicyError(f"{path}: cannot read policy file: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise PolicyError(f"{path}: policy file is not UTF-8 ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{path}: not valid TOML: {e}") from None
    try:
        return FunnelPolicy.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        # A failed list item also makes its list "too short"; that echo is noise.
        failed = {err["loc"][:1] for err in errors if len(err["loc"]) > 1}
        problems = "; ".join(
            f"field '{_field_path(err['loc'], raw)}': {err['msg']}"
            for err in errors
            if not (err["type"] == "too_short" and err["loc"][:1] in failed)
        )
        raise PolicyError(f"{path}: {problems}") from None


def _field_path(loc: tuple[int | str, ...], raw: object) -> str:
    """Render a pydantic location, naming list items by their key where they have one."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            key = node.get("key") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{key if key else item}]"
            continue
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def policy_dirs(extra: Iterable[Path] = ()) -> list[Path]:
    dirs = [BUILTIN_DIR, *extra]
    env = os.environ.get(POLICY_PATH_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return dirs


class PolicyCatalog:
    """Every policy from the built-in directory and the user's directories, by name."""

    def __init__(self, dirs: Iterable[Path] | None = None) -> None:
        self._dirs = list(dirs) if dirs is not None else policy_dirs()
        self._policies: dict[str, FunnelPolicy] | None = None
        self._sources: dict[str, Path] = {}
        self._guards: dict[str, StageGuard] = {}

    def _load(self) -> dict[str, FunnelPolicy]:
        if self._policies is None:
            policies: dict[str, FunnelPolicy] = {}
            for directory in self._dirs:
                if not directory.is_dir():
                    raise PolicyError(f"{directory}: policy directory does not exist")
                for path in sorted(directory.glob("*.toml")):
                    policy = load_policy_file(path)
                    if policy.name in policies:
                        raise PolicyError(
                            f"{path}: field 'name': policy '{policy.name}' is already "
                            f"defined in {self._sources[policy.name]}"
                        )
                    policies[policy.name] = policy
                    self._sources[policy.name] = path
            self._policies = policies
        return self._policies

    def names(self) -> list[str]:
        return sorted(self._load())

    def all(self) -> list[FunnelPolicy]:
        return [self._load()[n] for n in self.names()]

    def get(self, name: str) -> FunnelPolicy:
        try:
            return self._load()[name]
        except KeyError:
            known = ", ".join(self.names())
            raise UnknownPolicy(f"unknown policy '{name}' (known: {known})") from None

    def source(self, name: str) -> Path:
        self.get(name)
        return self._sources[name]

    def guard(self, name: str) -> StageGuard:
        guard = self._guards.get(name)
        if guard is None:
            guard = self._guards[name] = StageGuard(self.get(name))
        return guard

    def guard_of_version(self, name: str, fingerprint: str) -> StageGuard | None:
        """The policy file's guard if the file is that version (a ``GuardLookup``)."""
        if name not in self._load():
            return None
        guard = self.guard(name)
        return guard if guard.policy.fingerprint == fingerprint else None
