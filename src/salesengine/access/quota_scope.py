"""Which quotas a principal reads (docs/access.md, "Quotas"): a rep their own, a manager
their teams' and the quotas of the reps that add up to those teams, an auditor and an
admin every one.

Quotas belong to a rep or a team, not to a deal or a policy, so a scope restricted by
policy (an integration's) reaches none: its deals say nothing about whose targets it
may read, and a scope fails closed. The streams of subjects out of scope are not read.
"""

from __future__ import annotations

from datetime import datetime

from salesengine.access.principal import Scope
from salesengine.application.quota_figures import QuotaFigure, QuotaView, quota_figures
from salesengine.application.quotas import Quotas
from salesengine.domain.quota import QuotaPeriod, SubjectKind


def reads_stream(scope: Scope, kind: SubjectKind, subject: str) -> bool:
    """Whether the subject's streams may hold quotas in scope: a rep's own, a team's,
    and (for teams) every rep's, whose team is read from the stream itself."""
    if scope.everything:
        return True
    if scope.policies:
        return False
    if scope.owner is not None:
        return kind == "rep" and subject == scope.owner
    return bool(scope.teams) and (kind == "rep" or subject in scope.teams)


def admits(scope: Scope, kind: SubjectKind, subject: str, team: str | None) -> bool:
    """Whether a quota of this subject (a rep's naming ``team``) is in scope."""
    if not reads_stream(scope, kind, subject):
        return False
    if scope.everything or scope.owner is not None:
        return True
    return kind == "team" or team in scope.teams


def scoped_views(
    quotas: Quotas,
    scope: Scope,
    as_of: datetime,
    known_at: datetime | None = None,
    *,
    year: int | None = None,
) -> list[QuotaView]:
    """``Quotas.views`` of the subjects in scope."""
    views = quotas.views(
        as_of, known_at, year=year, keep=lambda kind, subject: reads_stream(scope, kind, subject)
    )
    return [v for v in views if admits(scope, v.kind, v.subject, v.team)]


def scoped_figures(
    quotas: Quotas,
    scope: Scope,
    period: str,
    as_of: datetime,
    known_at: datetime | None = None,
) -> list[QuotaFigure]:
    """``Quotas.figures`` of the subjects in scope. A team's figure is its own or its
    reps' sum only where the team is in scope: a rep sees no team's figure, not even one
    summed from their own quota alone."""
    chosen = QuotaPeriod.parse(period)
    views = scoped_views(quotas, scope, as_of, known_at, year=chosen.year)
    figures = quota_figures(views, chosen.name)
    # The reps' figures are of the views kept; a team's must be in scope itself.
    return [f for f in figures if f.kind == "rep" or admits(scope, "team", f.subject, None)]


def reaches_team(scope: Scope, team: str | None) -> bool:
    """Whether ``scope`` reaches a team's figures (its V value, its plan) whole: a scope
    over everything, or a manager's (or team integration's) of that team. A rep's own
    deals in a team are not the team's figure, and shown as a team row they would read
    as one, so a scope that reaches no team's quota reaches no team row either."""
    if scope.everything:
        return True
    return team is not None and admits(scope, "team", team, None)
