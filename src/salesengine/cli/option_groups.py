"""Options that several commands share, declared once for all of them.

typer builds a command's options from its function's signature. ``option_group`` makes
that signature from the shared parameters around each command's own, so that every
command of the group takes them in the same order with the same help, and hands the
command their values as one object, parsed and checked."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

Command = Callable[..., None]


def parameter(
    name: str, annotation: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    """A shared parameter: its name, its typer annotation, its default if any."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Parameter(name, kind, default=default, annotation=annotation)


def option_group(
    parse: Callable[..., Any],
    *,
    before: Sequence[inspect.Parameter] = (),
    after: Sequence[inspect.Parameter] = (),
) -> Callable[[Command], Command]:
    """A decorator for each command of a group: the command it makes takes ``before``,
    then the decorated function's own parameters but its first, then ``after``; it calls
    the function with ``parse`` of the shared values (by name) first, then its own."""
    shared = [p.name for p in (*before, *after)]

    def decorate(function: Command) -> Command:
        # Evaluated now, as typer would: the function's module may postpone annotations.
        own = list(inspect.signature(function, eval_str=True).parameters.values())[1:]

        def command(**values: Any) -> None:
            function(parse(**{name: values.pop(name) for name in shared}), **values)

        parameters = [*before, *own, *after]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__doc__ = function.__doc__
        command.__name__ = function.__name__
        command.__qualname__ = function.__qualname__
        command.__module__ = function.__module__
        return command

    return decorate
