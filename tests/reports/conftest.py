"""The reports are checked on both kinds of store."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    """The kind of store a test's fresh stores are (``fresh_db``)."""
    return str(request.param)
