"""Hypothesis settings for the properties that build a store for each example."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> int:
    """How many examples a property tries: SALESENGINE_EXAMPLES, else ``default``."""
    return int(os.environ.get("SALESENGINE_EXAMPLES", str(default)))


def store_property(max_examples: int) -> settings:
    """No deadline (a store and its read models take their time to build), and
    function-scoped fixtures are fine: each example makes its own store from them."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
