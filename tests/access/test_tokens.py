"""Tokens on SQLite and PostgreSQL: shown once, kept as hashes, refused once revoked."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from salesengine.access.principal import EVERYTHING, Principal, Scope, ScopeError
from salesengine.access.roles import Role
from salesengine.access.tokens import (
    TOKEN_FORM,
    Refusal,
    RefusalReason,
    TokenError,
    TokenStore,
    UnknownToken,
    token_hash,
    tokens_table,
)
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import Clock


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[TokenStore]:
    sql = sql_engine(store_settings(store_url))
    try:
        yield TokenStore(sql, clock=clock)
    finally:
        sql.dispose()


def test_a_new_token_authenticates_its_principal(store: TokenStore) -> None:
    issued = store.create("Li Wei", Role.REP, owner="Li Wei")
    assert TOKEN_FORM.fullmatch(issued.text)
    assert issued.text.startswith(f"se_{issued.info.id}_")
    principal = store.authenticate(issued.text)
    assert principal == Principal("Li Wei", Role.REP, Scope(owner="Li Wei"), issued.info.id)
    manager = store.create("王芳", Role.MANAGER, teams=["north", "east"])
    found = store.authenticate(manager.text)
    assert isinstance(found, Principal)
    assert found.scope == Scope(teams=frozenset({"east", "north"}))
    auditor = store.create("ines", Role.AUDITOR)
    found = store.authenticate(auditor.text)
    assert isinstance(found, Principal)
    assert found.scope is EVERYTHING


def test_only_the_hash_is_kept_and_nothing_shows_the_text(store: TokenStore) -> None:
    issued = store.create("ci", Role.INTEGRATION, policies=["five-level"])
    secret = issued.text.split("_", 2)[2]
    with store.sql.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(tokens_table))]
    assert len(rows) == 1
    assert token_hash(issued.text) in rows[0]
    assert not [v for v in rows[0] if isinstance(v, str) and secret in v]
    assert secret not in repr(issued)
    assert secret not in repr(store.tokens())


def test_wrong_unknown_and_malformed_tokens_are_refused(store: TokenStore) -> None:
    issued = store.create("anna", Role.REP, owner="anna")
    prefix, token_id, secret = issued.text.split("_", 2)
    head = f"{prefix}_{token_id}"
    other = "A" if secret[0] != "A" else "B"
    cases = {
        f"{head}_{other}{secret[1:]}": RefusalReason.UNKNOWN,
        f"se_{'0' * 12}_{secret}": RefusalReason.UNKNOWN,
        "": RefusalReason.MALFORMED,
        "Bearer " + issued.text: RefusalReason.MALFORMED,
        issued.text + "x": RefusalReason.MALFORMED,
        issued.text.upper(): RefusalReason.MALFORMED,
        "se_" + "a" * 5000: RefusalReason.MALFORMED,
        "sé_x_y": RefusalReason.MALFORMED,
    }
    for text, reason in cases.items():
        refused = store.authenticate(text)
        assert isinstance(refused, Refusal), text
        assert refused.reason is reason, text
        assert secret not in refused.message


def test_the_hashes_are_compared_in_constant_time(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = store.create("anna", Role.REP, owner="anna")
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def compare(a: str, b: str) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare)
    assert isinstance(store.authenticate(issued.text), Principal)
    assert isinstance(store.authenticate(f"se_{'0' * 12}_{'A' * 43}"), Refusal)
    assert len(compared) == 2  # the unknown id too, against a hash that matches nothing
    assert compared[0] == (token_hash(issued.text), token_hash(issued.text))


def test_a_revoked_token_is_refused_and_rotation_keeps_the_name(
    store: TokenStore, clock: Clock
) -> None:
    old = store.create("crm-sync", Role.INTEGRATION, teams=["east"], policies=["five-level"])
    clock.tick(days=30)
    new = store.create("crm-sync", Role.INTEGRATION, teams=["east"], policies=["five-level"])
    revoked_at = clock.tick(minutes=5)
    info = store.revoke(old.info.id)
    assert info.revoked_at == revoked_at
    refused = store.authenticate(old.text)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.REVOKED
    assert old.info.id in refused.message
    assert isinstance(store.authenticate(new.text), Principal)
    clock.tick(days=1)
    assert store.revoke(old.info.id).revoked_at == revoked_at  # the first revocation stays
    with pytest.raises(UnknownToken):
        store.revoke("0" * 12)
    listed = store.tokens()
    assert [t.id for t in listed] == [old.info.id, new.info.id]
    assert [t.revoked for t in listed] == [True, False]


def test_the_last_use_is_noted_at_most_once_a_minute(store: TokenStore, clock: Clock) -> None:
    issued = store.create("anna", Role.REP, owner="anna")
    assert store.get(issued.info.id).last_used_at is None
    first = clock.now
    store.authenticate(issued.text)
    assert store.get(issued.info.id).last_used_at == first
    clock.tick(seconds=30)
    store.authenticate(issued.text)
    assert store.get(issued.info.id).last_used_at == first
    later = clock.tick(seconds=31)
    store.authenticate(issued.text)
    assert store.get(issued.info.id).last_used_at == later


def test_bad_names_and_scopes_make_no_token(store: TokenStore) -> None:
    with pytest.raises(TokenError):
        store.create("  ", Role.ADMIN)
    with pytest.raises(ScopeError):
        store.create("anna", Role.REP)
    assert store.tokens() == []


def test_a_token_row_of_an_unknown_role_authenticates_no_one(store: TokenStore) -> None:
    issued = store.create("anna", Role.REP, owner="anna")
    with store.sql.begin() as conn:
        conn.execute(tokens_table.update().values(role="superuser"))
    refused = store.authenticate(issued.text)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.INVALID


def test_opening_the_tokens_again_keeps_them(store: TokenStore, clock: Clock) -> None:
    issued = store.create("anna", Role.REP, owner="anna")
    again = TokenStore(store.sql, clock=clock)
    assert isinstance(again.authenticate(issued.text), Principal)
    assert again.get(issued.info.id).created_at == clock.now
    assert issued.info.created_at == clock.now
