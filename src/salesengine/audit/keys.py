"""Ed25519 note keys: made, read from a file or the environment, and their public half.

Both are text in the signed-note key formats, so that other note tools read them:
a signer key ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>`` and a
verifier key ``<name>+<key id hex>+<base64(0x01 || 32-byte public key)>``. A signer key
is never kept in the store: ``--key FILE`` or the variable ``SALESENGINE_AUDIT_KEY``
(holding the key text itself).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from salesengine.audit_verifier import DASH, ED25519, VerifierKey, key_id
from salesengine.domain.errors import SalesEngineError

KEY_ENV = "SALESENGINE_AUDIT_KEY"
PUBLIC_KEY_ENV = "SALESENGINE_AUDIT_PUBLIC_KEY"
PREFIX = "PRIVATE+KEY+"


class InvalidInput(SalesEngineError):
    """A key, checkpoint or file given to an audit command is not usable; nothing changed."""

    code = "invalid"


@dataclass(frozen=True)
class SignerKey:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        if not name or any(c in name for c in "+ \n\t") or not name.isprintable():
            raise InvalidInput(f"key name {name!r}: use printable characters, no '+' or spaces")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str, where: str) -> SignerKey:
        """A signer key's text; InvalidInput naming ``where`` it came from otherwise."""
        text = text.strip()
        parts = text[len(PREFIX) :].split("+", 2) if text.startswith(PREFIX) else []
        if len(parts) != 3:
            raise InvalidInput(f"{where}: not a signer key (PRIVATE+KEY+name+keyid+key)")
        name, hex_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise InvalidInput(f"{where}: the signer key's key is not base64") from None
        if len(raw) != 33 or raw[:1] != ED25519:
            raise InvalidInput(f"{where}: not an Ed25519 signer key")
        key = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if key_id(name, key.verifier().public).hex() != hex_id.lower():
            raise InvalidInput(f"{where}: the signer key's id does not match its key")
        return key

    def text(self) -> str:
        seed = self.private.private_bytes_raw()
        public = self.verifier().public
        encoded = base64.b64encode(ED25519 + seed).decode()
        return f"{PREFIX}{self.name}+{key_id(self.name, public).hex()}+{encoded}"

    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.private.public_key().public_bytes_raw())

    def sign(self, body: str) -> str:
        """The signed note: ``body``, a blank line and this key's signature line."""
        signature = self.private.sign(body.encode())
        raw = key_id(self.name, self.verifier().public) + signature
        return f"{body}\n{DASH} {self.name} {base64.b64encode(raw).decode()}\n"


def load_signer(path: Path | None) -> SignerKey:
    """The signer key from ``path``, else from ``SALESENGINE_AUDIT_KEY``."""
    if path is not None:
        try:
            return SignerKey.parse(path.read_text(encoding="utf-8"), f"--key {path}")
        except OSError as e:
            raise InvalidInput(f"--key {path}: cannot read it: {e.strerror}") from None
    text = os.environ.get(KEY_ENV)
    if not text:
        raise InvalidInput(f"no signer key: give --key FILE or set {KEY_ENV}")
    return SignerKey.parse(text, KEY_ENV)


def load_verifiers(paths: list[Path]) -> list[VerifierKey]:
    """The verifier keys of ``paths``, else of ``SALESENGINE_AUDIT_PUBLIC_KEY``, else the
    public half of ``SALESENGINE_AUDIT_KEY`` (the signer checking its own checkpoints)."""
    keys = []
    for path in paths:
        try:
            keys.append(VerifierKey.parse(path.read_text(encoding="utf-8")))
        except OSError as e:
            raise InvalidInput(f"--public-key {path}: cannot read it: {e.strerror}") from None
        except ValueError as e:
            raise InvalidInput(f"--public-key {path}: {e}") from None
    if keys:
        return keys
    if text := os.environ.get(PUBLIC_KEY_ENV):
        try:
            return [VerifierKey.parse(text)]
        except ValueError as e:
            raise InvalidInput(f"{PUBLIC_KEY_ENV}: {e}") from None
    if os.environ.get(KEY_ENV):
        return [load_signer(None).verifier()]
    return []


def write_secret(path: Path, text: str) -> None:
    """Write a signer key readable by its owner only; an existing file is refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path}: exists already; a key is never overwritten") from None
    except OSError as e:
        raise InvalidInput(f"{path}: cannot write it: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
