"""``salesengine deal VERB``: one CLI verb per command of the command language."""

# typer reads these annotations at runtime, so they are not postponed.
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from salesengine.application.instants import DAY
from salesengine.cli.option_groups import Command, option_group, parameter
from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import fail, print_json, say

app = typer.Typer(
    help="Record what happened on a deal (one verb per command).", no_args_is_help=True
)

Deal = Annotated[str, typer.Argument(help="The deal's key.")]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Effective time: ISO 8601 with offset, or YYYY-MM-DD (00:00 UTC); default now.",
    ),
]
Id = Annotated[str | None, typer.Option("--id", help="Idempotency key.")]
By = Annotated[str | None, typer.Option("--by", help="Actor; default the global --by.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Reason = Annotated[str | None, typer.Option("--reason")]


@dataclass(frozen=True, slots=True)
class Recorder:
    """What every verb takes besides its own: the deal, --at, --id, --by and --json."""

    deal: str
    at: str | None
    id_: str | None
    by: str | None
    as_json: bool

    def record(self, cmd: str, *, keep_none: tuple[str, ...] = (), **fields: Any) -> None:
        """Record the command ``cmd`` on the deal and say what was written. A field that is
        None is left out, unless named in ``keep_none``."""
        # Imported here, not at start-up: the command language loads pydantic and the domain.
        from pydantic import ValidationError

        from salesengine.application.commands import parse_command
        from salesengine.importing.common.validation import describe_validation

        at = self.at
        if at is not None and DAY.fullmatch(at):
            # A plain date: the start of its day in UTC, as for every instant option. (The
            # command language itself keeps asking for an offset.)
            start = parse_time(at, "--at")
            assert start is not None  # a value was given
            at = start.isoformat()
        raw: dict[str, Any] = {"cmd": cmd, "deal": self.deal}
        raw.update({k: v for k, v in fields.items() if v is not None or k in keep_none})
        for key, value in (("at", at), ("id", self.id_), ("by", self.by)):
            if value is not None:
                raw[key] = value
        try:
            command = parse_command(raw)
        except ValidationError as e:
            fail(f"{describe_validation(e)}")
        result = STATE.engine().execute(command)
        if self.as_json:
            print_json(result)
        elif result.status == "duplicate":
            say(f"{result.deal}: already applied (id {command.id}); nothing written")
        else:
            say(f"{result.deal}: {result.event} → {result.position} (version {result.version})")


# Every verb takes the deal's key first and, after its own arguments and options, these.
_every_verb = option_group(
    Recorder,
    before=[parameter("deal", Deal)],
    after=[
        parameter("at", At, None),
        parameter("id_", Id, None),
        parameter("by", By, None),
        parameter("as_json", AsJson, False),
    ],
)


def verb(name: str | None = None) -> Callable[[Command], Command]:
    """``deal NAME`` (by default the function's name): a command taking the options
    every verb shares around its own; the function records with the ``Recorder``."""

    def register(function: Command) -> Command:
        command = _every_verb(function)
        app.command(name)(command)
        return command

    return register


@verb("open")
def open_(
    deal: Recorder,
    policy: Annotated[str, typer.Option("--policy", help="Funnel policy name.")],
    account: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    amount: Annotated[str | None, typer.Option(help="Expected contract amount.")] = None,
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 code; default the policy's.")
    ] = None,
    expected_close: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    fact: Annotated[
        list[str] | None,
        typer.Option("--fact", help="NAME or NAME=VALUE (JSON value); repeatable."),
    ] = None,
) -> None:
    """Open a deal in its policy's first stage (that stage's criteria must be met)."""
    deal.record(
        "open",
        policy=policy,
        account=account,
        owner=owner,
        team=team,
        region=region,
        amount=amount,
        currency=currency,
        expected_close=expected_close,
        facts=_facts(fact or []),
    )


def _facts(items: list[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            facts[name] = True
            continue
        try:
            # The standard library keeps every digit of an integer (orjson would make a
            # float of one beyond 64 bits), so the language can refuse it exactly.
            facts[name] = json.loads(value)
        except json.JSONDecodeError:
            facts[name] = value
        except RecursionError:
            raise typer.BadParameter(
                f"{name}: the value is nested too deeply to be a fact", param_hint="--fact"
            ) from None
    return facts


@verb()
def fact(
    deal: Recorder,
    name: Annotated[str, typer.Argument(help="Fact key, e.g. budget.")],
    value: Annotated[str, typer.Argument(help="JSON value or text; default true.")] = "true",
) -> None:
    """Record a fact (evidence for entry criteria)."""
    deal.record("fact", name=name, value=_facts([f"{name}={value}"])[name])


@verb()
def retract(deal: Recorder, name: Annotated[str, typer.Argument()], reason: Reason = None) -> None:
    """Retract a fact recorded earlier (the record stays; a retraction is a new event)."""
    deal.record("retract", name=name, reason=reason)


@verb()
def advance(
    deal: Recorder, to: Annotated[str, typer.Option("--to", help="Target stage key.")]
) -> None:
    """Advance to a later stage (its criteria and every skipped stage's must hold)."""
    deal.record("advance", to=to)


@verb()
def regress(
    deal: Recorder,
    to: Annotated[str, typer.Option("--to")],
    reason: Annotated[str, typer.Option("--reason", help="Why the deal moved back.")],
) -> None:
    """Move back to an earlier stage, with a reason."""
    deal.record("regress", to=to, reason=reason)


@verb()
def visit(
    deal: Recorder,
    kind: Annotated[str, typer.Option(help="face_to_face, phone, online, ...")] = "face_to_face",
    effective: Annotated[bool, typer.Option("--effective/--not-effective")] = False,
    attendee: Annotated[list[str] | None, typer.Option("--attendee")] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Log a visit."""
    deal.record("visit", kind=kind, effective=effective, attendees=attendee or [], note=note)


@verb("next-step")
def next_step(
    deal: Recorder,
    action: Annotated[str, typer.Option()],
    due: Annotated[str, typer.Option(help="YYYY-MM-DD or ISO time with offset.")],
    owner: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Set the deal's next step (replaces any open one)."""
    deal.record("next_step", action=action, due=due, owner=owner)


@verb()
def done(deal: Recorder, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Complete the open next step."""
    deal.record("done", note=note)


@verb()
def amount(
    deal: Recorder,
    value: Annotated[str, typer.Argument(help="New expected amount.")],
    currency: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change the expected contract amount."""
    deal.record("amount", amount=value, currency=currency)


@verb("expected-close")
def expected_close(
    deal: Recorder,
    day: Annotated[str | None, typer.Argument(help="YYYY-MM-DD; omit to clear.")] = None,
) -> None:
    """Change (or clear) the expected close date."""
    deal.record("expected_close", keep_none=("expected_close",), expected_close=day)


@verb()
def owner(
    deal: Recorder,
    new_owner: Annotated[str, typer.Argument(metavar="OWNER")],
    team: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Hand the deal to another owner."""
    deal.record("owner", owner=new_owner, team=team, region=region)


@verb()
def won(deal: Recorder) -> None:
    """Mark the deal won (contract signed)."""
    deal.record("won")


@verb()
def lost(
    deal: Recorder, reason: Reason = None, competitor: Annotated[str | None, typer.Option()] = None
) -> None:
    """Mark the deal lost to another vendor."""
    deal.record("lost", reason=reason, competitor=competitor)


@verb()
def abandon(deal: Recorder, reason: Reason = None) -> None:
    """Mark the deal abandoned (the customer stopped buying)."""
    deal.record("abandon", reason=reason)


@verb()
def reopen(
    deal: Recorder,
    to: Annotated[str, typer.Option("--to")],
    reason: Reason = None,
    next_action: Annotated[str | None, typer.Option(help="The reopened deal's next step.")] = None,
    next_due: Annotated[str | None, typer.Option(help="Its due date or time.")] = None,
) -> None:
    """Reopen a lost or abandoned deal at a stage whose criteria still hold."""
    step = None if next_action is None else {"action": next_action, "due": next_due}
    deal.record("reopen", to=to, reason=reason, next_step=step)


@verb("key-info")
def key_info(
    deal: Recorder,
    topic: Annotated[
        str,
        typer.Argument(help="schedule, budget, requirement, decision, competition or evaluation."),
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="FIELD=VALUE; repeat a list's field for each item (--set modules=ERP "
            "--set modules=CRM). Fields per topic: docs/review.md.",
        ),
    ] = None,
    evidence: Annotated[str | None, typer.Option(help="What the information rests on.")] = None,
) -> None:
    """Record one topic of the case review's key information, stated whole (it replaces
    the topic's earlier record)."""
    from salesengine.domain.key_info import FIELDS

    kinds = FIELDS.get(topic, {})
    details: dict[str, Any] = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: give FIELD=VALUE", param_hint="--set")
        if name == "topic":
            raise typer.BadParameter(
                f"{item!r}: topic is the command's TOPIC argument, not a field",
                param_hint="--set",
            )
        if kinds.get(name) == "list":
            details.setdefault(name, []).append(value)
        elif name in details:
            # A later value would silently replace the first: say which field, and why.
            raise typer.BadParameter(
                f"{name} is given twice ({details[name]!r}, {value!r}): it holds one "
                "value; only a list's field repeats, one item each",
                param_hint="--set",
            )
        else:
            details[name] = value
    deal.record("key_info", info={"topic": topic, **details}, evidence=evidence)


@verb("retract-key-info")
def retract_key_info(
    deal: Recorder, topic: Annotated[str, typer.Argument()], reason: Reason = None
) -> None:
    """Withdraw a topic of the key information (the record stays in the history)."""
    deal.record("retract_key_info", topic=topic, reason=reason)
