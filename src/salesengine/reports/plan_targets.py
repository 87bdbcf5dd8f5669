"""The document ``plan --per --json`` and ``/api/v1/reports/plan?per=`` both answer
(each subject's target, its remaining quota, comes from ``plan_per.remaining_targets``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from salesengine.reports.periods import Period
from salesengine.reports.plan_per import SubjectPlan


def plan_per_document(
    *,
    per: str,
    ideal_from: str,
    policy: str,
    currency: str,
    target: Decimal | None,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    plans: Sequence[SubjectPlan],
    earliest: datetime | None,
) -> dict[str, Any]:
    return {
        "per": per,
        "ideal_from": ideal_from,
        "policy": policy,
        "currency": currency,
        "target": target,
        "period": period.as_dict(),
        "as_of": as_of,
        "known_at": known_at,
        "plans": [p.as_dict() for p in plans],
        "earliest_recorded": earliest,
    }
