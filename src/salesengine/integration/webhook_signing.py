"""Webhook secrets and signatures, as the Standard Webhooks convention has them.

A secret is ``whsec_`` followed by the base64 of 24 to 64 random bytes (the key). Each
delivery is signed with HMAC-SHA256 under the key over ``<webhook-id>.<webhook-timestamp>.
<body>``, and the signature is sent as ``v1,<base64 of the MAC>`` in ``webhook-signature``.
A secret file may hold several secrets, one a line: every one signs, and the signatures
go space-separated in the one header, so a receiver can move to a new secret without a
delivery failing verification in between (the convention's rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

PREFIX = "whsec_"
KEY_BYTES = 32  # of a new secret
LEAST_KEY_BYTES = 24  # the convention's least (192 bits) ...
MOST_KEY_BYTES = 64  # ... and most (512 bits)


class SecretError(ValueError):
    """A secret that is not ``whsec_`` and the base64 of a key of a usable size."""


class SecretFileError(ValueError):
    """A secret file that cannot be read or holds no usable secret; says which file."""


def new_secret() -> str:
    """A new random secret, ``whsec_<base64>``."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret stands for."""
    if not secret.startswith(PREFIX):
        raise SecretError(f"a secret starts with {PREFIX!r}")
    encoded = secret[len(PREFIX) :]
    try:
        # Padding is optional: some tools print secrets without it.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"what follows {PREFIX!r} is not base64") from None
    if not LEAST_KEY_BYTES <= len(key) <= MOST_KEY_BYTES:
        raise SecretError(
            f"the key is {len(key)} bytes; it must be {LEAST_KEY_BYTES} to {MOST_KEY_BYTES} "
            "(make one with: salesengine webhook new-secret)"
        )
    return key


def read_secret_file(path: Path) -> tuple[bytes, ...]:
    """The keys of the secrets in a file, one a line (blank lines and ``#`` comments are
    skipped), the first being the current one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretFileError(f"secret file {path}: no such file") from None
    except IsADirectoryError:
        raise SecretFileError(f"secret file {path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SecretFileError(f"secret file {path}: cannot be read ({e})") from None
    keys = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(secret_key(line))
        except SecretError as e:
            raise SecretFileError(f"secret file {path}, line {number}: {e}") from None
    if not keys:
        raise SecretFileError(
            f"secret file {path} is empty; put a secret in it with: "
            f"salesengine webhook new-secret {path}"
        )
    return tuple(keys)


def signature(keys: tuple[bytes, ...], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64>`` under each key, space-separated."""
    signed = b".".join((message_id.encode(), str(timestamp).encode(), body))
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode("ascii")
        for key in keys
    )
