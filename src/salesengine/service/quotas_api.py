"""``/api/v1/quotas`` and ``/api/v1/reports/vvalue``: reps' and teams' quotas and the V
value, each answering the same document as the command line's ``--json`` (``quota list``,
``vvalue``), over the quotas and deals the caller reaches (docs/access.md, "Quotas")."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.quota_scope import reaches_team, scoped_figures, scoped_views
from salesengine.application.quotas import Quotas
from salesengine.reports.recorded import QUOTAS, earliest_recorded
from salesengine.service import quota_schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import AsOfQuery, KnownAtQuery, KnownQuery, instant, invalid, now_or
from salesengine.service.period_params import (
    RepQuery,
    SubjectTeamQuery,
    quota_period,
)

router = APIRouter(prefix="/api/v1", dependencies=[KnownQuery])

ANSWERS = FRESHNESS | problems(401, 403, 422, 503)


@router.get(
    "/quotas",
    tags=["quotas"],
    summary="Reps' and teams' quotas as of T, known at K",
    response_model=quota_schemas.QuotaYear | quota_schemas.QuotaPeriodFigures,
    responses=ANSWERS,
)
def quotas(
    ctx: Context,
    who: Reader,
    year: Annotated[
        str | None,
        Query(pattern="^[0-9]{4}$", description="Every quota of this year (default T's)."),
    ] = None,
    period: Annotated[
        str | None,
        Query(
            description="Instead of a year: each subject's quota for this period (YYYY, "
            "YYYY-Qn, YYYY-MM), a team without its own summed from its reps'."
        ),
    ] = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
) -> JSONResponse:
    """The quotas the caller reaches: a rep their own, a manager their teams' and their
    teams' reps' (`salesengine quota list --json`, with `--period` for `period`)."""
    from salesengine.domain.quota import QuotaPeriod

    if year is not None and period is not None:
        raise invalid("period", "give year or period, not both")
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    chosen = None
    if period is not None:
        try:
            chosen = QuotaPeriod.parse(period).name
        except ValueError as e:
            raise invalid("period", str(e)) from None
    service = Quotas(ctx.engine)

    def document(_: Connection) -> object:
        if chosen is not None:
            figures = scoped_figures(service, who.scope, chosen, t, k)
            return {"period": chosen, "as_of": t, "known_at": k, "quotas": figures}
        y = int(year) if year is not None else t.year
        rows: list[dict[str, Any]] = [
            {"kind": v.kind, "subject": v.subject, "year": v.year, "currency": v.currency,
             "team": v.team, "period": p, "amount": tg.amount, "effective_at": tg.effective_at,
             "recorded_at": tg.recorded_at, "actor": tg.actor, "set_by": tg.set_by}
            for v in scoped_views(service, who.scope, t, k, year=y)
            for p, tg in v.targets.items()
        ]  # fmt: skip
        return {"year": y, "as_of": t, "known_at": k, "quotas": rows}

    return fresh(ctx, document)


@router.get(
    "/reports/vvalue",
    tags=["reports"],
    summary="The V value per rep and team: remaining weighted pipeline / remaining quota",
    response_model=quota_schemas.VValue,
    responses=ANSWERS,
)
def vvalue(
    ctx: Context,
    who: Reader,
    rep: RepQuery = None,
    team: SubjectTeamQuery = None,
    period: Annotated[
        str | None,
        Query(description="YYYY, YYYY-Qn or YYYY-MM (UTC); default the quarter holding T."),
    ] = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
) -> JSONResponse:
    """Over the caller's deals and the quotas they reach (`salesengine vvalue --json`)."""
    from salesengine.reports.vvalue import vvalue as report

    if rep is not None and team is not None:
        raise invalid("team", "give rep or team, not both")
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    chosen = quota_period(period, t)
    kind: Literal["rep", "team"] | None = (
        "rep" if rep is not None else "team" if team is not None else None
    )
    service = Quotas(ctx.engine)

    def document(conn: Connection) -> object:
        figures = scoped_figures(service, who.scope, chosen.name, t, k)
        result = report(
            conn, ctx.policies, figures, period=chosen, as_of=t, known_at=k, kind=kind,
            subject=rep if rep is not None else team, scope=who.scope,
        )  # fmt: skip
        # A team row from the caller's deals alone would read as the team's figure.
        rows = tuple(
            r for r in result.rows if r.kind == "rep" or reaches_team(who.scope, r.subject)
        )
        result = replace(result, rows=rows)
        if kind is not None and not rows:  # out of scope reads as unknown
            raise invalid(kind, f"no {kind} named {rep or team!r} has deals or quotas in "
                          f"{chosen.name}")  # fmt: skip
        earliest = earliest_recorded(conn, ctx.engine, QUOTAS)
        return result.as_dict() | {"earliest_recorded": earliest}

    return fresh(ctx, document)
