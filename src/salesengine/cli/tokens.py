"""``salesengine token``: the bearer tokens of the people and systems that use the
store through the service (docs/access.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.access.roles import Role
from salesengine.cli.options import STATE
from salesengine.cli.render import err, fail, print_json, say, short_time
from salesengine.cli.tables import Grid, key, text

if TYPE_CHECKING:
    from salesengine.access.tokens import TokenInfo, TokenStore

# The tokens live in the store's database (sqlalchemy): each command opens it when it
# runs, so that the command line starts without it.

app = typer.Typer(
    help="Bearer tokens of the service: made, listed, revoked (docs/access.md).",
    no_args_is_help=True,
)


@contextmanager
def token_store(*, create: bool) -> Iterator[TokenStore]:
    """The store's tokens. ``create``: make the store if it does not exist (a write);
    without it a store that is not there is refused, exit 2, and nothing is made."""
    from salesengine.access.tokens import TokenStore
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    STATE.engine(create=create)  # makes the store, or says that it is missing
    sql = sql_engine(store_settings(STATE.db, creating=create))
    try:
        yield TokenStore(sql)
    finally:
        sql.dispose()


def token_json(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "role": str(info.role),
        "owner": info.owner,
        "teams": list(info.teams),
        "policies": list(info.policies),
        "scope": info.scope.describe(),
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
    }


@app.command("create")
def create(
    name: Annotated[
        str, typer.Option("--name", help="Who uses it: the actor recorded on their writes.")
    ],
    role: Annotated[Role, typer.Option("--role", help="What they may do.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="rep: the owner whose deals it reaches.")
    ] = None,
    teams: Annotated[
        list[str] | None,
        typer.Option("--team", help="manager, integration: a team whose deals it reaches."),
    ] = None,
    policies: Annotated[
        list[str] | None,
        typer.Option("--policy", help="integration: a policy whose deals it reaches."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the token and its details as JSON.")
    ] = False,
) -> None:
    """Make a token and print it, once: only its hash is kept, so it cannot be shown
    again. A rep takes --owner, a manager one or more --team, an integration --policy
    and/or --team (together: deals of those policies in those teams); an auditor and an
    admin reach every deal. The token alone is printed on standard output."""
    from salesengine.access.principal import ScopeError, scope_for
    from salesengine.access.tokens import TokenError
    from salesengine.application.names import checked_name

    try:
        checked_name(name)
    except ValueError as e:
        raise typer.BadParameter(f"{name!r}: {e}", param_hint="--name") from None
    try:
        scope = scope_for(role, owner=owner, teams=teams or (), policies=policies or ())
    except ScopeError as e:
        raise typer.BadParameter(e.message, param_hint=f"--{e.field}") from None
    known = STATE.catalog().names()
    for policy in sorted(scope.policies):
        if policy not in known:
            raise typer.BadParameter(
                f"unknown policy '{policy}' (known: {', '.join(known)})", param_hint="--policy"
            )
    with token_store(create=True) as store:
        try:
            issued = store.create(
                name, role, owner=owner, teams=teams or (), policies=policies or ()
            )
        except TokenError as e:
            raise typer.BadParameter(e.message, param_hint="--name") from None
    info = issued.info
    if as_json:
        print_json({"token": issued.text, **token_json(info)})
        return
    print(issued.text)
    err.print(
        f"token {info.id} for {info.name} ({info.role}: {info.scope.describe()}): shown "
        "this once, keep it now; revoke with: salesengine token revoke " + info.id,
        markup=False,
    )


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the tokens, revoked ones included: never their text nor their hash."""
    with token_store(create=False) as store:
        tokens = store.tokens()
    if as_json:
        print_json([token_json(t) for t in tokens])
        return
    if not tokens:
        say("no tokens (make one with: salesengine token create --name N --role R)")
        return
    table = Grid(
        [key("id"), text("name"), key("role"), text("reaches"), key("created"), key("last used"),
         key("revoked")]
    )  # fmt: skip
    for t in tokens:
        table.add(
            t.id,
            t.name,
            str(t.role),
            t.scope.describe(),
            short_time(t.created_at),
            "-" if t.last_used_at is None else short_time(t.last_used_at),
            "-" if t.revoked_at is None else short_time(t.revoked_at),
        )
    table.print()


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
) -> None:
    """Revoke a token for good: it is refused from now on. Revoking it again changes
    nothing."""
    from salesengine.access.tokens import UnknownToken

    with token_store(create=False) as store:
        try:
            before = store.get(token_id)
            info = store.revoke(token_id)
        except UnknownToken as e:
            fail(e.message)
    assert info.revoked_at is not None
    when = info.revoked_at.isoformat(timespec="seconds")
    if before.revoked_at is not None:
        say(f"token {info.id} ({info.name}) was already revoked at {when}")
        return
    say(f"revoked token {info.id} ({info.name}, {info.role}) at {when}")
