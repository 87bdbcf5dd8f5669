"""Mapping files: found by name or path, read as YAML, and validated for one format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from salesengine.importing.common.errors import MappingError
from salesengine.importing.common.formats import FORMATS
from salesengine.importing.common.validation import describe_validation

MAPPINGS_DIR = Path(__file__).parents[1] / "mappings"
M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A part of a mapping: unknown fields refused, text stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def resolve_mapping(name_or_path: str) -> Path:
    """A shipped mapping by name (``bpi2012``, ``maven``, ...), or a mapping file."""
    shipped = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if "/" not in name_or_path and "\\" not in name_or_path and shipped.is_file():
        return shipped
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
        raise MappingError(f"{name_or_path}: no such mapping file, nor a shipped one ({names})")
    return path


class _Unusable(Exception):
    """What makes a well-formed YAML file no mapping: its place and why."""


class _MappingLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML keeps the last silently) and
    keeping dates as written: a text field takes ``2012-02-28`` as text, a date field
    parses it itself. A value no date can be (``2017-13-31``) is refused with its line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key, line = self.construct_object(key_node), key_node.start_mark.line + 1
            if key in first:
                raise _Unusable(
                    f"line {line}: key {key!r} given twice (first at line {first[key]})"
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_date_text(self, node: yaml.ScalarNode) -> str:
        text = str(self.construct_scalar(node))
        try:
            self.construct_yaml_timestamp(node)
        except ValueError as e:  # 2017-13-31: safe_load itself would raise this
            line = node.start_mark.line + 1
            raise _Unusable(
                f"line {line}: {text} is not a date ({e}); quote it if it is meant as text"
            ) from None
        return text


_MappingLoader.add_constructor("tag:yaml.org,2002:timestamp", _MappingLoader.construct_date_text)


def read_mapping(name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """The mapping file and its YAML content (a mapping at the top), as written."""
    path = resolve_mapping(name_or_path)
    try:
        content = yaml.load(path.read_text(encoding="utf-8"), Loader=_MappingLoader)
    except _Unusable as e:
        raise MappingError(f"{path}: {e}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise MappingError(f"{path}: cannot read the mapping: {e}") from None
    if not isinstance(content, dict):
        raise MappingError(f"{path}: a mapping file holds a YAML mapping at the top")
    return path, content


def load_mapping(name_or_path: str, fmt: str) -> tuple[Path, dict[str, Any]]:
    """The content of a mapping for ``fmt`` imports, without its ``format`` field.

    A mapping that names another format is refused on that one field: validated as
    this format's mapping, it would be refused on nearly every field instead."""
    path, content = read_mapping(name_or_path)
    declared = content.pop("format", fmt)
    if not isinstance(declared, str) or declared not in FORMATS:
        raise MappingError(
            f"{path}: field 'format': one of {', '.join(FORMATS)} (given: {declared!r})"
        )
    if declared != fmt:
        raise MappingError(
            f"{path}: field 'format': a mapping for {declared} imports, not {fmt} "
            f"(given: {declared!r}; import with --format {declared})"
        )
    return path, content


def mapping_problem(path: Path, error: ValidationError) -> MappingError:
    """A pydantic error on a mapping, naming the file and each bad field."""
    return MappingError(f"{path}: {describe_validation(error)}")


def validate_mapping(path: Path, content: dict[str, Any], model: type[M]) -> M:
    """The mapping file's content as ``model``, or a MappingError naming each bad field.

    The error text drops the first part of each field's location (for commands, the
    command's name), so the content is validated one level down: every field keeps its
    full path, such as ``histories.Won.2.cmd``."""
    try:
        return TypeAdapter(dict[str, model]).validate_python({"mapping": content})["mapping"]  # type: ignore[valid-type]
    except ValidationError as e:
        raise mapping_problem(path, e) from None
