"""Webhook secrets and signatures against the Standard Webhooks reference verifier."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from salesengine.integration.webhook_signing import (
    SecretError,
    SecretFileError,
    new_secret,
    read_secret_file,
    secret_key,
    signature,
)

BODY = '{"id":"7c4b","type":"deal.opened","amount":"1200.00","owner":"李娜"}'.encode()


def headers(message_id: str, timestamp: int, signed: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signed,
    }


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != new_secret()


def test_the_reference_verifier_accepts_what_is_signed() -> None:
    secret = new_secret()
    now = int(time.time())
    signed = signature((secret_key(secret),), "evt-1", now, BODY)
    assert signed.startswith("v1,")
    assert Webhook(secret).verify(BODY, headers("evt-1", now, signed)) == {
        "id": "7c4b",
        "type": "deal.opened",
        "amount": "1200.00",
        "owner": "李娜",
    }


@pytest.mark.parametrize(
    ("message_id", "shift", "body"),
    [("evt-2", 0, BODY), ("evt-1", 1, BODY), ("evt-1", 0, BODY + b" ")],
    ids=["another id", "another timestamp", "another body"],
)
def test_the_signature_covers_id_timestamp_and_body(
    message_id: str, shift: int, body: bytes
) -> None:
    secret = new_secret()
    now = int(time.time())
    signed = signature((secret_key(secret),), "evt-1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers(message_id, now + shift, signed))


def test_every_secret_of_a_rotation_signs_and_either_verifies() -> None:
    old, current = new_secret(), new_secret()
    now = int(time.time())
    signed = signature((secret_key(current), secret_key(old)), "evt-1", now, BODY)
    assert len(signed.split(" ")) == 2
    for secret in (old, current):
        Webhook(secret).verify(BODY, headers("evt-1", now, signed))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers("evt-1", now, signed))


def test_a_secret_without_its_padding_is_the_same_key() -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(25))).decode()
    assert secret.endswith("=")
    assert secret_key(secret.rstrip("=")) == bytes(range(25))


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "starts with 'whsec_'"),
        ("whsec_not base64!", "is not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "the key is 5 bytes; it must be 24 to 64"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "the key is 65 bytes"),
    ],
    ids=["no prefix", "not base64", "too short", "too long"],
)
def test_an_unusable_secret_says_why(secret: str, says: str) -> None:
    with pytest.raises(SecretError, match=says):
        secret_key(secret)


def test_a_secret_file_holds_secrets_one_a_line(tmp_path: Path) -> None:
    current, old = new_secret(), new_secret()
    path = tmp_path / "secret"
    path.write_text(f"# rotated 2026-03-02\n{current}\n\n  {old}  \n", encoding="utf-8")
    assert read_secret_file(path) == (secret_key(current), secret_key(old))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("", "is empty"),
        ("\n# only a comment\n", "is empty"),
        ("whsec_abc def\n", "line 1: what follows 'whsec_' is not base64"),
        ("\npassword123\n", "line 2: a secret starts with 'whsec_'"),
    ],
    ids=["missing", "empty", "comments only", "garbled", "not whsec"],
)
def test_an_unusable_secret_file_is_named(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "webhook.secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SecretFileError) as raised:
        read_secret_file(path)
    assert str(path) in str(raised.value)
    assert says in str(raised.value)
