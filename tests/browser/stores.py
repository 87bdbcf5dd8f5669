"""The store the browser tests share: the demo quarter, served, with its readers' tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.browser.service import Server


@dataclass(frozen=True)
class DemoStore:
    db: Path
    server: Server
    tokens: dict[str, str]
    # An instant after every event the demo recorded and before any a test records.
    seeded: datetime
