"""The plan per rep or team read from quotas: each subject's target is its remaining
quota (the V value's) in the plan's currency, or the reason it has none; and the
document ``plan --per --json`` and ``/api/v1/reports/plan?per=`` both answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from salesengine.reports.periods import Period
from salesengine.reports.plan_per import SubjectPlan, SubjectTarget
from salesengine.reports.vvalue import VValue


def remaining_targets(v: VValue, currency: str, per: str) -> dict[str | None, SubjectTarget]:
    """Each subject's remaining quota in the plan's currency, or why it has no target."""
    found: dict[str | None, SubjectTarget] = {}
    for r in v.rows:
        who = f"{per} {r.subject or '(none)'}"
        if r.quota is None:
            if r.subject not in found and r.currency == currency:
                reason = f"{who} has no quota for {v.period.name} in {currency}"
                found[r.subject] = SubjectTarget(None, "none", reason)
            continue
        if r.currency != currency:
            reason = f"{who}'s quota for {v.period.name} is in {r.currency}, the plan in {currency}"
            found[r.subject] = SubjectTarget(None, "none", reason)
        elif r.met:
            reason = f"{who} has met the quota for {v.period.name}: nothing remains to plan for"
            found[r.subject] = SubjectTarget(None, "none", reason)
        else:
            found[r.subject] = SubjectTarget(r.remaining, "remaining quota")
    return found


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
