"""What a webhook delivery's answer means, and how long to wait before trying again.

- 2xx: delivered.
- 408, 429 and 5xx, a timeout or a failed connection: the receiver is busy, down or
  restarting; the same delivery is tried again, after an exponential backoff with
  jitter, or after what ``Retry-After`` asks for, if that is longer.
- any other answer (other 4xx, and 3xx: redirects are not followed, the URL is to be
  fixed instead): the receiver refuses this event; trying again would get the same
  answer. It is reported, recorded, and the relay moves on.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

# Busy or unavailable, not a verdict on the event: worth another attempt.
RETRIED_STATUSES = frozenset({408, 425, 429})


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def outcome(status: int) -> Outcome:
    """What an HTTP status answered to a delivery means."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in RETRIED_STATUSES:
        return Outcome.RETRY
    return Outcome.REJECTED


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait: a number of seconds or an
    HTTP date; None if absent or unreadable (then the backoff alone decides). A date
    in the past asks for no wait."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": the convention for UTC in RFC 5322 dates
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Waits between attempts at one delivery: from ``first`` seconds, doubling up to
    ``most``, each drawn at random in its upper half (so receivers recovering from an
    outage are not hit by every retry at once); never less than a ``Retry-After``,
    which is honoured up to ``most_asked`` seconds."""

    first: float = 0.5
    most: float = 30.0
    most_asked: float = 3600.0

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """The wait after the ``attempt``-th failed attempt (1: the first)."""
        ceiling = min(self.most, self.first * float(2 ** min(max(0, attempt - 1), 30)))
        wait = random.uniform(ceiling / 2, ceiling)
        if asked is not None:
            wait = max(wait, min(asked, self.most_asked))
        return wait
