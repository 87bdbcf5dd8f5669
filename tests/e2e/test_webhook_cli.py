"""``relay --webhook`` refuses what it cannot use (exit 2, naming it) before it opens the
store; ``webhook new-secret`` makes secrets the reference implementation reads."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from salesengine.bootstrap import build_engine
from salesengine.integration.webhook_signing import secret_key, signature
from tests.support.cli_runner import run_cli

URL = "http://127.0.0.1:9/hook"  # never reached: every case is refused before


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    build_engine(str(path), actor="tester").close()
    return path


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("", "is empty; put a secret in it with: salesengine webhook new-secret"),
        ("hunter2\n", "line 1: a secret starts with 'whsec_'"),
        ("whsec_" + base64.b64encode(b"tiny").decode(), "the key is 4 bytes"),
    ],
    ids=["missing", "empty", "not whsec", "too short"],
)
def test_an_unusable_secret_file_exits_2_naming_it(
    store: Path, tmp_path: Path, content: str | None, says: str
) -> None:
    secret = tmp_path / "hook.secret"
    if content is not None:
        secret.write_text(content)
    done = run_cli("relay", "--webhook", URL, "--secret-file", str(secret), "--once", db=store)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--secret-file: secret file {secret}" in done.stderr
    assert says in done.stderr
    assert done.stdout == ""  # refused before the relay starts


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give either --broker URL or --webhook URL"),
        (("--broker", "nats://127.0.0.1:4222", "--webhook", URL), "give either"),
        (("--webhook", URL), "--webhook needs --secret-file F"),
        (("--broker", "nats://127.0.0.1:4222", "--secret-file", "x"), "goes with --webhook"),
        (("--webhook", "ftp://example.com/hook", "--secret-file", "x"), "http:// or https://"),
        (("--webhook", "http:///hook", "--secret-file", "x"), "names no host"),
    ],
    ids=["neither", "both", "no secret", "secret for a broker", "not http", "no host"],
)
def test_relay_options_that_do_not_go_together_exit_2(
    store: Path, args: tuple[str, ...], says: str
) -> None:
    done = run_cli("relay", *args, "--once", db=store)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr


def test_a_missing_store_is_refused_after_the_secret_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    assert run_cli("webhook", "new-secret", str(secret), db=tmp_path / "x.db").returncode == 0
    done = run_cli(
        "relay", "--webhook", URL, "--secret-file", str(secret), db=tmp_path / "missing.db"
    )
    assert done.returncode == 2, done.stderr
    assert not (tmp_path / "missing.db").exists()


def test_new_secret_prints_one_the_reference_implementation_reads(tmp_path: Path) -> None:
    done = run_cli("webhook", "new-secret", db=tmp_path / "unused.db")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("whsec_") and done.stdout.count("\n") == 1
    now = int(time.time())
    body = b'{"type":"deal.opened"}'
    signed = signature((secret_key(secret),), "evt-1", now, body)
    headers = {"webhook-id": "evt-1", "webhook-timestamp": str(now), "webhook-signature": signed}
    Webhook(secret).verify(body, headers)
    assert not (tmp_path / "unused.db").exists()


def test_new_secret_writes_a_private_file_and_keeps_an_existing_one(tmp_path: Path) -> None:
    path = tmp_path / "hook.secret"
    assert run_cli("webhook", "new-secret", str(path), db=tmp_path / "x.db").returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    again = run_cli("webhook", "new-secret", str(path), db=tmp_path / "x.db")
    assert again.returncode == 2
    assert "already there; --force replaces it" in again.stderr
    assert path.read_text() == first
    path.chmod(0o644)
    forced = run_cli("webhook", "new-secret", str(path), "--force", db=tmp_path / "x.db")
    assert forced.returncode == 0, forced.stderr
    assert path.read_text() != first
    assert path.stat().st_mode & 0o777 == 0o600


def test_failures_of_a_store_never_relayed_to_a_webhook(store: Path, tmp_path: Path) -> None:
    done = run_cli("webhook", "failures", db=store)
    assert done.returncode == 0, done.stderr
    assert "no refused deliveries" in done.stdout
    listed = run_cli("webhook", "failures", "--json", db=store)
    assert listed.stdout.strip() == "[]"
    missing = run_cli("webhook", "failures", db=tmp_path / "missing.db")
    assert missing.returncode == 2
    assert not (tmp_path / "missing.db").exists()
