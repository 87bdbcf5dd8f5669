"""Broker URLs: which transport a URL names, checked before anything connects."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from salesengine.store.settings import without_password

KINDS = {  # scheme -> kind
    "nats": "nats",
    "tls": "nats",
    "amqp": "rabbit",
    "amqps": "rabbit",
    "redis": "redis",
    "rediss": "redis",
    "kafka": "kafka",
    "memory": "memory",
}
SCHEMES = tuple(KINDS)


class BrokerURLError(ValueError):
    """A broker URL that names no transport we have."""


@dataclass(frozen=True, slots=True)
class BrokerURL:
    url: str
    kind: str  # nats, rabbit, redis, kafka or memory

    @property
    def display(self) -> str:
        return without_password(self.url)


def parse_broker_url(url: str) -> BrokerURL:
    try:
        parts = urlsplit(url)
    except ValueError as e:  # an unclosed [ of an IPv6 host
        raise BrokerURLError(f"broker URL '{url}': {e}") from None
    scheme = parts.scheme.lower() if "://" in url else ""
    if scheme not in KINDS:
        raise BrokerURLError(
            f"broker URL '{url}': the scheme must be one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    if KINDS[scheme] != "memory" and not parts.hostname:
        raise BrokerURLError(f"broker URL '{url}' names no host")
    return BrokerURL(url, KINDS[scheme])
