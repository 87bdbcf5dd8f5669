"""The read models the runner keeps, in the order they are processed."""

from __future__ import annotations

from salesengine.projections.deal_attributes import DealAttributes
from salesengine.projections.funnel_points import FunnelPoints
from salesengine.projections.projection import Projection
from salesengine.projections.stage_intervals import StageIntervals
from salesengine.projections.visits import Visits

NAMES: tuple[str, ...] = (
    StageIntervals.name,
    DealAttributes.name,
    FunnelPoints.name,
    Visits.name,
)


def build_projections() -> list[Projection]:
    return [StageIntervals(), DealAttributes(), FunnelPoints(), Visits()]
