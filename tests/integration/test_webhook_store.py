"""The webhook transport in process, on SQLite and PostgreSQL stores: deliveries, the
refusals kept in the store's own database, and concurrency that keeps each deal's order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook

from salesengine.application.engine import SalesEngine
from salesengine.integration.relay import Relay, RelayOptions
from salesengine.integration.webhook import (
    WebhookOptions,
    WebhookTransport,
    WebhookURLError,
    parse_webhook_url,
)
from salesengine.integration.webhook_failures import FailureLog
from salesengine.integration.webhook_retry import RetryPolicy
from salesengine.integration.webhook_signing import new_secret, secret_key
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay import expected_messages
from tests.support.stores import StoreFactory
from tests.support.webhook import ReceiverProcess, receiver

__all__ = ["receiver"]  # a fixture
QUICK = RetryPolicy(first=0.05, most=0.2)


@pytest.fixture
def store(make_engine: StoreFactory, store_url: str) -> Iterator[tuple[SalesEngine, Engine]]:
    """Twelve deals: eight with a long history each, four with one event."""
    engine = make_engine()
    for n in range(12):
        key = f"S-{n}"
        engine.execute(
            cmd(cmd="open", deal=key, policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
        )
    for round_ in range(10):
        for n in range(8):
            amount = str(1000 + 10 * round_ + n)
            engine.execute(cmd(cmd="amount", deal=f"S-{n}", at=T0, amount=amount, currency="EUR"))
    sql = sql_engine(store_settings(store_url))
    yield engine, sql
    sql.dispose()


def test_refusals_are_kept_and_each_deal_stays_in_order(
    store: tuple[SalesEngine, Engine], receiver: ReceiverProcess
) -> None:
    engine, sql = store
    messages = expected_messages(engine, sql)
    refused, moved = messages[30], messages[55]
    receiver.start(fail_every=5, refuse=[refused.position], redirect=[moved.position], delay=0.002)
    secret = new_secret()
    transport = WebhookTransport(
        parse_webhook_url(receiver.url),
        (secret_key(secret),),
        FailureLog(sql),
        "in-process",
        WebhookOptions(concurrency=16, retry=QUICK, request_timeout=5),
    )
    relay = Relay(engine, sql, transport, RelayOptions(name="in-process", batch_size=40))
    progress = asyncio.run(relay.run())
    assert progress.position == messages[-1].position

    attempts = receiver.attempts()
    verifier = Webhook(secret)
    for attempt in attempts:
        verifier.verify(attempt.body, attempt.headers)
    delivered = {a.event["id"] for a in attempts if a.status == 200}
    assert delivered == {str(m.id) for m in messages} - {str(refused.id), str(moved.id)}
    # Neither retried nor, for the redirect, followed.
    assert [a.status for a in attempts if a.event["id"] == str(refused.id)] == [400]
    assert [a.status for a in attempts if a.event["id"] == str(moved.id)] == [308]

    versions: dict[str, list[int]] = {}
    for attempt in attempts:
        versions.setdefault(attempt.event["deal_id"], []).append(attempt.event["version"])
    for deal, seen in versions.items():
        assert seen == sorted(seen), deal

    failures = FailureLog(sql, create=False).read()
    assert [(f.position, f.event_id, f.status) for f in failures] == [
        (refused.position, str(refused.id), 400),
        (moved.position, str(moved.id), 308),
    ]
    assert failures[0].relay == "in-process" and failures[0].url == receiver.url
    assert "not wanted" in failures[0].response
    assert failures[0].failed_at.tzinfo is not None
    assert FailureLog(sql).read(relay="another") == []
    assert FailureLog(sql).read(since=moved.position) == failures[1:]


def test_a_store_without_the_failures_table_reads_as_having_none(
    store: tuple[SalesEngine, Engine],
) -> None:
    _, sql = store
    assert FailureLog(sql, create=False).read() == []


@pytest.mark.parametrize(
    "url", ["ftp://h/x", "127.0.0.1:8080/x", "http://", "https://h:port/x", "http://[::1/x"]
)
def test_a_webhook_url_must_be_http_with_a_host(url: str) -> None:
    with pytest.raises(WebhookURLError, match="webhook URL"):
        parse_webhook_url(url)


def test_a_webhook_url_is_shown_without_its_password_or_query(tmp_path: Path) -> None:
    url = parse_webhook_url("https://user:pw@hooks.example.com:8443/in?token=s3cr3t")
    assert url.display == "https://user:***@hooks.example.com:8443/in?***"
    assert url.default_name == "webhook:hooks.example.com:8443/in"
