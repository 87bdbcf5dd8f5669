"""``salesengine account VERB``: record what happened on an account, and read accounts as
of T, known at K (docs/accounts.md)."""

# typer reads these annotations at runtime, so they are not postponed.
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.application.instants import DAY
from salesengine.cli import account_reports
from salesengine.cli.option_groups import Command, option_group, parameter
from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import fail, print_json, say

if TYPE_CHECKING:
    from salesengine.application.accounts import Accounts

app = typer.Typer(
    help="Accounts (客户): record their facts, contacts and activities; show, list, the "
    "decision chain and coverage as of T, known at K.",
    no_args_is_help=True,
)
contact_app = typer.Typer(help="Add or change a contact of an account.", no_args_is_help=True)
app.add_typer(contact_app, name="contact")

Key = Annotated[str, typer.Argument(help="The account's key.")]
ContactKey = Annotated[str, typer.Argument(help="The contact's key within the account.")]
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
AsOf = Annotated[str | None, typer.Option("--as-of", help="Effective instant T; default now.")]
KnownAt = Annotated[
    str | None, typer.Option("--known-at", help="Recording instant K; default: all recorded.")
]
Role = Annotated[
    str | None,
    typer.Option("--role", help="initiator, decision_maker, influencer, end_user or policy_maker."),
]
Support = Annotated[
    int | None,
    typer.Option("--support", help="-2 opponent, -1, 0 neutral, +1, +2 supporter."),
]


def accounts() -> "Accounts":
    from salesengine.application.accounts import Accounts

    return Accounts(STATE.engine())


@dataclass(frozen=True, slots=True)
class Recorder:
    """What every writing verb takes besides its own: the account, --at, --id, --by, --json."""

    account: str
    at: str | None
    id_: str | None
    by: str | None
    as_json: bool

    def record(self, cmd: str, *, keep_none: tuple[str, ...] = (), **fields: Any) -> None:
        """Record ``cmd`` on the account and say so. A field that is None is left out,
        unless named in ``keep_none``."""
        from pydantic import ValidationError

        from salesengine.application.account_commands import parse_account_command
        from salesengine.importing.common.validation import describe_validation

        at = self.at
        if at is not None and DAY.fullmatch(at):
            start = parse_time(at, "--at")
            assert start is not None
            at = start.isoformat()
        raw: dict[str, Any] = {"cmd": cmd, "account": self.account}
        raw.update({k: v for k, v in fields.items() if v is not None or k in keep_none})
        for name, value in (("at", at), ("id", self.id_), ("by", self.by)):
            if value is not None:
                raw[name] = value
        try:
            command = parse_account_command(raw)
        except ValidationError as e:
            fail(describe_validation(e))
        result = accounts().execute(command)
        if self.as_json:
            print_json(result)
        elif result.status == "duplicate":
            say(f"{result.account}: already applied (id {command.id}); nothing written")
        else:
            say(f"{result.account}: {result.event} (version {result.version})")


_every_verb = option_group(
    Recorder,
    before=[parameter("account", Key)],
    after=[
        parameter("at", At, None),
        parameter("id_", Id, None),
        parameter("by", By, None),
        parameter("as_json", AsJson, False),
    ],
)


def verb(
    name: str, on: typer.Typer = app, *, negatives: bool = False
) -> Callable[[Command], Command]:
    """``negatives``: a number argument may be written negative, and is then refused for
    what it is (an amount below 0), not taken for an unknown option ``-1``."""
    settings = {"ignore_unknown_options": True} if negatives else {}

    def register(function: Command) -> Command:
        command = _every_verb(function)
        on.command(name, context_settings=settings)(command)
        return command

    return register


@verb("open")
def open_(
    account: Recorder,
    owner: Annotated[str, typer.Option("--owner", help="The responsible rep.")],
    name: Annotated[str | None, typer.Option(help="Default: the key.")] = None,
    team: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    industry: Annotated[str | None, typer.Option()] = None,
    customer: Annotated[str | None, typer.Option(help="new or existing.")] = None,
) -> None:
    """Open an account with its owner."""
    account.record(
        "account_open",
        owner=owner,
        name=name,
        team=team,
        region=region,
        industry=industry,
        customer=customer,
    )


@verb("change")
def change(
    account: Recorder,
    owner: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    industry: Annotated[str | None, typer.Option()] = None,
    customer: Annotated[str | None, typer.Option(help="new or existing.")] = None,
) -> None:
    """Change the account's owner, name, team, region, industry or customer kind."""
    account.record(
        "account_change",
        owner=owner,
        name=name,
        team=team,
        region=region,
        industry=industry,
        customer=customer,
    )


@verb("bp", negatives=True)
def bp(
    account: Recorder,
    amount: Annotated[str, typer.Argument(help="Yearly purchase volume.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code.")],
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record the account's buying power (BP)."""
    account.record("buying_power", amount=amount, currency=currency, note=note)


@verb("sow", negatives=True)
def sow(
    account: Recorder,
    percent: Annotated[str, typer.Argument(help="Our share of its purchases, 0-100.")],
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record our share of the account's wallet (SOW)."""
    account.record("share_of_wallet", percent=percent, note=note)


@verb("grade")
def grade_(
    account: Recorder,
    grade: Annotated[
        str, typer.Argument(help="A, B, C or D; 'derived' for the grade of its deals.")
    ],
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Set the account's grade, or return it to the grade derived from its open deals."""
    chosen = None if grade == "derived" else grade
    account.record("grade", keep_none=("grade",), grade=chosen, reason=reason)


@verb("add", on=contact_app)
def contact_add(
    account: Recorder,
    contact: ContactKey,
    name: Annotated[str, typer.Option("--name")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="initiator, decision_maker, influencer, end_user or policy_maker."
        ),
    ],
    title: Annotated[str | None, typer.Option()] = None,
    support: Support = None,
    reports_to: Annotated[
        str | None, typer.Option("--reports-to", help="Their superior's contact key.")
    ] = None,
) -> None:
    """Add a person of the decision chain (or one who left, again)."""
    account.record(
        "contact_add",
        contact=contact,
        name=name,
        role=role,
        title=title,
        support=support,
        reports_to=reports_to,
    )


@verb("change", on=contact_app)
def contact_change(
    account: Recorder,
    contact: ContactKey,
    name: Annotated[str | None, typer.Option()] = None,
    role: Role = None,
    title: Annotated[str | None, typer.Option()] = None,
    support: Support = None,
    reports_to: Annotated[
        str | None, typer.Option("--reports-to", help="Their superior's contact key.")
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="title or reports_to: set it to none; repeatable."),
    ] = None,
) -> None:
    """Change a contact's name, role, title, support or reporting line."""
    account.record(
        "contact_change",
        contact=contact,
        name=name,
        role=role,
        title=title,
        support=support,
        reports_to=reports_to,
        clear=clear,
    )


@verb("contact-left")
def contact_left(
    account: Recorder,
    contact: ContactKey,
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record that a contact left the account (their record stays)."""
    account.record("contact_left", contact=contact, reason=reason)


@verb("activity")
def activity(
    account: Recorder,
    kind: Annotated[
        str, typer.Option("--kind", help="visit, call, seminar, product_launch, gift, ...")
    ],
    effective: Annotated[bool, typer.Option("--effective/--not-effective")] = False,
    attendee: Annotated[
        list[str] | None, typer.Option("--attendee", help="A contact key or name; repeatable.")
    ] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Log a nurturing activity (养单) on the account."""
    account.record("activity", kind=kind, effective=effective, attendees=attendee or [], note=note)


# Reads as of T, known at K, and the adoption of the accounts deals name.
app.command("show")(account_reports.show)
app.command("list")(account_reports.list_)
app.command("chain")(account_reports.chain)
app.command("coverage")(account_reports.coverage)
app.command("history")(account_reports.history)
app.command("adopt")(account_reports.adopt)
