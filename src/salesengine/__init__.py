"""salesengine: an event-sourced sales-process engine."""

from __future__ import annotations

__version__ = "0.1.0"
