"""Values and refusals in the command language's own terms, for every format."""

from __future__ import annotations

from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from salesengine.application.command_language import ALL_COMMAND_NAMES
from salesengine.application.commands import Amount
from salesengine.domain.key_info import TOPICS

_AMOUNT: TypeAdapter[Decimal] = TypeAdapter(Amount)


def describe_validation(error: ValidationError) -> str:
    """Name each bad field and why, in the writer's own terms."""
    problems = []
    for err in error.errors():
        # Union members show up in the location as validator names; they are not fields.
        loc = [str(p) for p in err["loc"] if "[" not in str(p)]
        # The discriminated union puts the command name first; it is not a field.
        # (Alone, it is a check of the whole command, as an account change naming nothing.)
        tagged = len(loc) > 1 or (len(loc) == 1 and loc[0] in ALL_COMMAND_NAMES)
        if tagged and err["type"] not in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc[1:]
        if len(loc) > 1 and loc[0] == "info" and loc[1] in TOPICS:
            loc = [loc[0], *loc[2:]]  # key information: the topic's tag is no field either
        where = ".".join(loc) if loc else "line"
        message = err["msg"]
        nested = err.get("ctx", {}).get("discriminator") == "'topic'"
        if nested and err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            where = "info.topic"
            message = f"{'unknown' if err['type'] == 'union_tag_invalid' else 'missing'} topic"
            tag = err.get("ctx", {}).get("tag")
            message += f" {tag!r}" if tag is not None else ""
            message += f" (one of {', '.join(TOPICS)})"
        elif err["type"] == "union_tag_invalid":
            where = "cmd"
            tag = err.get("ctx", {}).get("tag")
            message = f"unknown command {tag!r} (one of {', '.join(ALL_COMMAND_NAMES)})"
        elif err["type"] == "union_tag_not_found":
            where = "cmd"
            message = f"missing (one of {', '.join(ALL_COMMAND_NAMES)})"
        shown = _shown(err.get("input"))
        if shown is not None and err["type"] != "missing":
            message += f" (given: {shown})"  # the bad value, to find it in the source
        problems.append(f"field '{where}': {message}")
    return "; ".join(problems)


def _shown(given: object) -> str | None:
    """The bad value as its writer wrote it: text quoted, a number or a JSON true/false
    as is (a support level of 3 is an int); None for what is too long or no scalar."""
    if isinstance(given, bool):
        return "true" if given else "false"
    if isinstance(given, str):
        return repr(given) if len(given) <= 60 else None
    if isinstance(given, int | float | Decimal):
        text = str(given)
        return text if len(text) <= 60 else None
    return None


def read_amount(text: str) -> Decimal | None:
    """The amount as the command language reads the text; None if it refuses it. A
    reader checks a value its row can do without, to keep it off the row's main change."""
    try:
        return _AMOUNT.validate_python(text)
    except ValidationError:
        return None
