"""``salesengine deal VERB``: one CLI verb per command of the command language."""

# typer reads these annotations at runtime, so they are not postponed.
import json
from typing import Annotated, Any

import typer

from salesengine.cli.options import DAY, STATE, parse_time
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


def _run(
    cmd: str,
    deal: str,
    at: str | None,
    id_: str | None,
    by: str | None,
    as_json: bool,
    *,
    keep_none: tuple[str, ...] = (),
    **fields: Any,
) -> None:
    # Imported here, not at start-up: the command language loads pydantic and the domain.
    from pydantic import ValidationError

    from salesengine.application.commands import parse_command
    from salesengine.importing.common.validation import describe_validation

    if at is not None and DAY.fullmatch(at):
        # A plain date: the start of its day in UTC, as for every instant option. (The
        # command language itself keeps asking for an offset.)
        start = parse_time(at, "--at")
        assert start is not None  # a value was given
        at = start.isoformat()
    raw: dict[str, Any] = {"cmd": cmd, "deal": deal}
    raw.update({k: v for k, v in fields.items() if v is not None or k in keep_none})
    for key, value in (("at", at), ("id", id_), ("by", by)):
        if value is not None:
            raw[key] = value
    try:
        command = parse_command(raw)
    except ValidationError as e:
        fail(f"{describe_validation(e)}")
    result = STATE.engine().execute(command)
    if as_json:
        print_json(result)
    elif result.status == "duplicate":
        say(f"{result.deal}: already applied (id {command.id}); nothing written")
    else:
        say(f"{result.deal}: {result.event} → {result.position} (version {result.version})")


@app.command("open")
def open_(
    deal: Deal,
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
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Open a deal in its policy's first stage (that stage's criteria must be met)."""
    _run(
        "open",
        deal,
        at,
        id_,
        by,
        as_json,
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


@app.command()
def fact(
    deal: Deal,
    name: Annotated[str, typer.Argument(help="Fact key, e.g. budget.")],
    value: Annotated[str, typer.Argument(help="JSON value or text; default true.")] = "true",
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Record a fact (evidence for entry criteria)."""
    _run("fact", deal, at, id_, by, as_json, name=name, value=_facts([f"{name}={value}"])[name])


@app.command()
def retract(
    deal: Deal,
    name: Annotated[str, typer.Argument()],
    reason: Reason = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Retract a fact recorded earlier (the record stays; a retraction is a new event)."""
    _run("retract", deal, at, id_, by, as_json, name=name, reason=reason)


@app.command()
def advance(
    deal: Deal,
    to: Annotated[str, typer.Option("--to", help="Target stage key.")],
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Advance to a later stage (its criteria and every skipped stage's must hold)."""
    _run("advance", deal, at, id_, by, as_json, to=to)


@app.command()
def regress(
    deal: Deal,
    to: Annotated[str, typer.Option("--to")],
    reason: Annotated[str, typer.Option("--reason", help="Why the deal moved back.")],
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Move back to an earlier stage, with a reason."""
    _run("regress", deal, at, id_, by, as_json, to=to, reason=reason)


@app.command()
def visit(
    deal: Deal,
    kind: Annotated[str, typer.Option(help="face_to_face, phone, online, ...")] = "face_to_face",
    effective: Annotated[bool, typer.Option("--effective/--not-effective")] = False,
    attendee: Annotated[list[str] | None, typer.Option("--attendee")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Log a visit."""
    _run(
        "visit",
        deal,
        at,
        id_,
        by,
        as_json,
        kind=kind,
        effective=effective,
        attendees=attendee or [],
        note=note,
    )


@app.command("next-step")
def next_step(
    deal: Deal,
    action: Annotated[str, typer.Option()],
    due: Annotated[str, typer.Option(help="YYYY-MM-DD or ISO time with offset.")],
    owner: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Set the deal's next step (replaces any open one)."""
    _run("next_step", deal, at, id_, by, as_json, action=action, due=due, owner=owner)


@app.command()
def done(
    deal: Deal,
    note: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Complete the open next step."""
    _run("done", deal, at, id_, by, as_json, note=note)


@app.command()
def amount(
    deal: Deal,
    value: Annotated[str, typer.Argument(help="New expected amount.")],
    currency: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Change the expected contract amount."""
    _run("amount", deal, at, id_, by, as_json, amount=value, currency=currency)


@app.command("expected-close")
def expected_close(
    deal: Deal,
    day: Annotated[str | None, typer.Argument(help="YYYY-MM-DD; omit to clear.")] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Change (or clear) the expected close date."""
    _run(
        "expected_close",
        deal,
        at,
        id_,
        by,
        as_json,
        keep_none=("expected_close",),
        expected_close=day,
    )


@app.command()
def owner(
    deal: Deal,
    new_owner: Annotated[str, typer.Argument(metavar="OWNER")],
    team: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Hand the deal to another owner."""
    _run("owner", deal, at, id_, by, as_json, owner=new_owner, team=team, region=region)


@app.command()
def won(deal: Deal, at: At = None, id_: Id = None, by: By = None, as_json: AsJson = False) -> None:
    """Mark the deal won (contract signed)."""
    _run("won", deal, at, id_, by, as_json)


@app.command()
def lost(
    deal: Deal,
    reason: Reason = None,
    competitor: Annotated[str | None, typer.Option()] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Mark the deal lost to another vendor."""
    _run("lost", deal, at, id_, by, as_json, reason=reason, competitor=competitor)


@app.command()
def abandon(
    deal: Deal,
    reason: Reason = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Mark the deal abandoned (the customer stopped buying)."""
    _run("abandon", deal, at, id_, by, as_json, reason=reason)


@app.command()
def reopen(
    deal: Deal,
    to: Annotated[str, typer.Option("--to")],
    reason: Reason = None,
    next_action: Annotated[str | None, typer.Option(help="The reopened deal's next step.")] = None,
    next_due: Annotated[str | None, typer.Option(help="Its due date or time.")] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Reopen a lost or abandoned deal at a stage whose criteria still hold."""
    step = None if next_action is None else {"action": next_action, "due": next_due}
    _run("reopen", deal, at, id_, by, as_json, to=to, reason=reason, next_step=step)
