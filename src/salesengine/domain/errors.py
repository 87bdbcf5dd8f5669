"""One error tree for the whole engine.

Every refusal is a ``SalesEngineError``; library errors are converted to these at
the application boundary so callers never need to know what is underneath.
"""

from __future__ import annotations

from collections.abc import Sequence


class SalesEngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CommandRefused(SalesEngineError):
    """A command broke a rule of the domain; nothing was stored."""

    code = "refused"


class GroupRefused(CommandRefused):
    """Another command of the same group (one source row) was refused, so this one,
    applied whole with it or not at all, was not applied either."""

    code = "group_refused"


class CriteriaNotMet(CommandRefused):
    code = "criteria_not_met"

    def __init__(self, stage: str, missing: Sequence[str], hint: str = "") -> None:
        self.stage = stage
        self.missing = list(missing)
        super().__init__(
            f"entry criteria for '{stage}' not met: missing {', '.join(missing)}"
            + (f"; {hint}" if hint else "")
        )


class MoveNotAllowed(CommandRefused):
    code = "move_not_allowed"


class DealClosed(CommandRefused):
    code = "deal_closed"


class InvalidTime(CommandRefused):
    code = "invalid_time"


class NoOpenNextStep(CommandRefused):
    code = "no_open_next_step"


class UnknownFact(CommandRefused):
    code = "unknown_fact"


class UnknownKeyInfo(CommandRefused):
    """A retraction of a key information topic the deal does not hold at that time."""

    code = "unknown_key_info"


class UnderminesLaterMove(CommandRefused):
    """A backdated change to a deal's evidence would leave a later guarded move (a stage
    entry, a retraction, a completion) without what it was decided on."""

    code = "undermines_later_move"


class CommandIdReused(CommandRefused):
    """A command id the deal already applied, given with a different command: a retry
    must repeat the command exactly, and a new command needs a new id."""

    code = "id_reused"


class DealAlreadyExists(CommandRefused):
    code = "deal_exists"


class UnknownDeal(CommandRefused):
    code = "unknown_deal"


class OutOfScope(CommandRefused):
    """A write that would take a deal out of the writer's scope (docs/access.md)."""

    code = "out_of_scope"


class UnknownPolicy(CommandRefused):
    code = "unknown_policy"


class PolicyError(SalesEngineError):
    """A funnel policy file is malformed."""

    code = "bad_policy"


class ConcurrencyConflict(SalesEngineError):
    """Somebody else wrote to the deal first; the stale write was not stored."""

    code = "conflict"


class StoreUnavailable(SalesEngineError):
    """The event store could not be reached or refused the operation."""

    code = "store_unavailable"


class StoreMissing(StoreUnavailable):
    """A command that only reads was pointed at a store that does not exist: a mistyped
    path or URL, not an empty store to create."""

    code = "store_missing"
