"""What a webhook receiver's answer means, and how long the relay waits to try again."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from salesengine.integration.webhook_retry import Outcome, RetryPolicy, outcome, retry_after

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (504, Outcome.RETRY),
        (429, Outcome.RETRY),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (410, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (301, Outcome.REJECTED),
        (307, Outcome.REJECTED),
    ],
)
def test_what_each_status_means(status: int, expected: Outcome) -> None:
    assert outcome(status) is expected


def test_retry_after_in_seconds() -> None:
    assert retry_after("120", NOW) == 120.0
    assert retry_after(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert retry_after(later, NOW) == 90.0
    earlier = email.utils.format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert retry_after(earlier, NOW) == 0.0
    # The obsolete forms HTTP still allows readers to accept.
    assert retry_after("Monday, 02-Mar-26 09:01:00 GMT", NOW) == 60.0
    assert retry_after("Mon Mar  2 09:01:00 2026", NOW) == 60.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2026"])
def test_an_absent_or_unreadable_retry_after_is_left_to_the_backoff(value: str | None) -> None:
    assert retry_after(value, NOW) is None


def test_the_backoff_doubles_with_jitter_up_to_its_most() -> None:
    policy = RetryPolicy(first=1.0, most=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (60, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        assert len(set(delays)) > 1  # jittered


def test_a_retry_after_is_waited_for_up_to_a_bound() -> None:
    policy = RetryPolicy(first=1.0, most=8.0, most_asked=600.0)
    assert policy.delay(1, asked=30.0) == 30.0
    assert policy.delay(1, asked=7200.0) == 600.0
    assert 0.5 <= policy.delay(1, asked=0.0) <= 1.0  # no sooner than the backoff
