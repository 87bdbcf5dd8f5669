"""Each report's JSON document: what ``salesengine REPORT --json`` prints and what the
service's ``/api/v1/reports/REPORT`` answers, built here once so that both agree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from salesengine.application.json_form import grouped_json, jsonable
from salesengine.reports.forecast import Forecast
from salesengine.reports.health import Health


class Row(Protocol):
    def as_dict(self, by: str | None = None) -> dict[str, Any]: ...


def rows_document(
    asked: dict[str, Any], earliest: datetime | None, rows: Iterable[Row], by: str | None
) -> dict[str, Any]:
    """A report of rows (funnel, moves, conversion, cycle time): what it was asked, the
    store's earliest recorded instant, its rows named after the grouping."""
    return asked | {"earliest_recorded": earliest, "rows": [r.as_dict(by) for r in rows]}


def request_json(result: Forecast | Health) -> dict[str, Any]:
    """What the JSON of an open-deals report starts with: what it was asked."""
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "by": result.by,
        "owner": result.only.owner,
        "team": result.only.team,
    }


def forecast_document(result: Forecast, earliest: datetime | None) -> dict[str, Any]:
    by = result.by
    return request_json(result) | {
        "weighted_pipeline": [grouped_json(p, by) for p in result.weighted_pipeline],
        "weeks": [grouped_json(w, by) for w in result.weeks],
        "outside": [grouped_json(o, by) for o in result.outside],
        "earliest_recorded": earliest,
    }


def health_document(result: Health, limit: int | None, earliest: datetime | None) -> dict[str, Any]:
    """``limit``: list at most that many stale deals and overdue contacts (None: all);
    their totals are given either way."""
    by = result.by
    stale = [
        grouped_json(s, by) | {"days_in_stage": round(s.days_in_stage, 2)}
        for s in result.stale[:limit]
    ]
    contacts = [
        grouped_json(c, by) | {"days_since": round(c.days_since, 2)}
        for c in result.overdue_contacts[:limit]
    ]
    summary = []
    for r in result.summary:
        row = jsonable(r)
        summary.append({by or "owner": row.pop("group"), **row})
    return request_json(result) | {
        "grades": [grouped_json(g, by) for g in result.grades],
        "summary": summary,
        "stale": stale,
        "stale_total": len(result.stale),
        "overdue_contacts": contacts,
        "overdue_contacts_total": len(result.overdue_contacts),
        "visits": result.visits,
        "earliest_recorded": earliest,
    }
