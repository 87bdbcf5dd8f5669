"""Where the test data lies: the real public data sets beside the clone (../shared/data,
each with its SOURCE.md) and the hand-made files in tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BPI_LOG = SHARED_DATA / "bpi-challenge-2012" / "financial_log.xes.gz"
MAVEN_PIPELINE = SHARED_DATA / "maven-crm-sales-opportunities" / "sales_pipeline.csv"
TEST_DATA = Path(__file__).resolve().parents[1] / "data"

REQUIRE_DATA = os.environ.get("SALESENGINE_REQUIRE_DATA") == "1"


def shared_data(path: Path) -> Path:
    """``path``, a file of ../shared/data; a bare clone has none, so the test skips saying
    why, and fails instead under SALESENGINE_REQUIRE_DATA=1 (CI), as services do."""
    if not path.is_file():
        message = (
            f"{path} is absent: this test reads the public data sets in ../shared/data "
            "beside the clone"
        )
        if REQUIRE_DATA:
            pytest.fail(message)
        pytest.skip(message)
    return path
