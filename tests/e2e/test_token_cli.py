"""``salesengine token``: made and shown once, listed without secrets, revoked; on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesengine.access.principal import Principal, Scope
from salesengine.access.roles import Role
from salesengine.access.tokens import TOKEN_FORM, Refusal, RefusalReason, TokenStore, token_hash
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.cli_runner import CLI


def authenticate(url: str, text: str) -> Principal | Refusal:
    sql = sql_engine(store_settings(url))
    try:
        return TokenStore(sql).authenticate(text)
    finally:
        sql.dispose()


def test_a_token_is_shown_once_listed_without_secrets_and_revoked(cli: CLI, store_url: str) -> None:
    made = cli("token", "create", "--name", "Li Wei", "--role", "rep", "--owner", "Li Wei",
               db_url=store_url)  # fmt: skip
    assert made.code == 0, made
    text = made.out.strip()
    assert TOKEN_FORM.fullmatch(text), made.out  # the token alone on standard output
    token_id = text.split("_")[1]
    assert f"token {token_id} for Li Wei" in made.err
    assert authenticate(store_url, text) == Principal(
        "Li Wei", Role.REP, Scope(owner="Li Wei"), token_id
    )
    manager = cli("token", "create", "--name", "王芳", "--role", "manager", "--team", "east",
                  "--team", "north", "--json", db_url=store_url)  # fmt: skip
    assert manager.code == 0, manager
    shown = manager.json()
    assert shown["teams"] == ["east", "north"]
    assert TOKEN_FORM.fullmatch(shown["token"])
    secrets = [text.split("_", 2)[2], shown["token"].split("_", 2)[2]]
    hashes = [token_hash(text), token_hash(shown["token"])]

    listed = cli("token", "list", db_url=store_url)
    as_json = cli("token", "list", "--json", db_url=store_url)
    assert listed.code == as_json.code == 0, (listed, as_json)
    for output in (listed.out, as_json.out, listed.err, as_json.err):
        assert not [s for s in [*secrets, *hashes] if s in output]
    assert token_id in listed.out
    assert "王芳" in listed.out
    rows = as_json.json()
    assert [r["id"] for r in rows] == [token_id, shown["id"]]
    assert rows[0]["scope"] == "owner Li Wei"
    assert "token" not in rows[0]
    assert rows[0]["revoked_at"] is None

    revoked = cli("token", "revoke", token_id, db_url=store_url)
    assert revoked.code == 0, revoked
    assert f"revoked token {token_id}" in revoked.out
    refused = authenticate(store_url, text)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.REVOKED
    again = cli("token", "revoke", token_id, db_url=store_url)
    assert again.code == 0, again
    assert "already revoked" in again.out
    assert cli("token", "list", "--json", db_url=store_url).json()[0]["revoked_at"]
    assert isinstance(authenticate(store_url, shown["token"]), Principal)

    unknown = cli("token", "revoke", "0123456789ab", db_url=store_url)
    assert unknown.code == 2, unknown
    assert "no token with id '0123456789ab'" in unknown.err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--name", "anna", "--role", "rep"), "--owner"),
        (("--name", "anna", "--role", "rep", "--owner", "anna", "--team", "east"), "--team"),
        (("--name", "m", "--role", "manager"), "--team"),
        (("--name", "m", "--role", "manager", "--team", "east", "--owner", "m"), "--owner"),
        (("--name", "ci", "--role", "integration"), "--policy"),
        (("--name", "ci", "--role", "integration", "--policy", "no-such"), "--policy"),
        (("--name", "ines", "--role", "auditor", "--team", "east"), "--team"),
        (("--name", "root", "--role", "admin", "--owner", "x"), "--owner"),
        (("--name", "  ", "--role", "admin"), "--name"),
        (("--name", "x", "--role", "boss"), "--role"),
        (("--role", "admin"), "--name"),
    ],
)
def test_bad_input_is_refused_naming_the_option_and_makes_no_store(
    cli: CLI, tmp_path: Path, args: tuple[str, ...], option: str
) -> None:
    store = tmp_path / "tokens.db"
    run = cli("token", "create", *args, db_url=str(store))
    assert run.code == 2, run
    assert option in run.err
    assert not store.exists()


def test_an_empty_list_says_how_to_make_one(cli: CLI, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    assert cli("sweep", db_url=str(store)).code == 0  # a store without tokens
    run = cli("token", "list", db_url=str(store))
    assert run.code == 0, run
    assert "no tokens" in run.out
    assert cli("token", "list", "--json", db_url=str(store)).json() == []
