"""Quotas as read: a subject-year's quotas as of T (known at K), and each subject's
quota for one period, a team's summed from its reps' when it has none of its own
(docs/metrics.md, "V value"). Plain values, free of the store: the reports take them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from salesengine.domain.quota import QuotaPeriod, QuotaState, SubjectKind, Target


@dataclass(frozen=True, slots=True)
class QuotaView:
    """One subject-year's quotas as of T, known at K."""

    kind: SubjectKind
    subject: str
    year: int
    currency: str | None
    team: str | None
    targets: dict[str, Target] = field(default_factory=dict)  # by period name, in order


@dataclass(frozen=True, slots=True)
class QuotaFigure:
    """A subject's quota for one period as of T, known at K: its own, or for a team
    without one, the sum of the quotas of the reps whose quotas add up to it."""

    kind: SubjectKind
    subject: str
    period: str
    currency: str | None
    amount: Decimal | None  # None: no quota for the period
    source: str  # "own", "reps" (a team's, summed) or "none"
    reps: tuple[str, ...] = ()  # the reps summed, for a team's quota from its reps
    problem: str | None = None


def quota_figures(views: list[QuotaView], period: str) -> list[QuotaFigure]:
    """The figures of ``Quotas.figures`` from the subject-years' views."""
    figures: list[QuotaFigure] = []
    teams_own: dict[str, QuotaView] = {v.subject: v for v in views if v.kind == "team"}
    members: dict[str, list[QuotaView]] = {}
    for v in views:
        if v.kind == "rep":
            target = v.targets.get(period)
            source = "own" if target is not None else "none"
            amount = None if target is None else target.amount
            figures.append(QuotaFigure("rep", v.subject, period, v.currency, amount, source))
            if v.team is not None:
                members.setdefault(v.team, []).append(v)
    for team in sorted(set(teams_own) | set(members)):
        own = teams_own.get(team)
        target = None if own is None else own.targets.get(period)
        if own is not None and target is not None:
            figures.append(QuotaFigure("team", team, period, own.currency, target.amount, "own"))
            continue
        reps = [r for r in members.get(team, []) if period in r.targets]
        if not reps:
            currency = None if own is None else own.currency
            figures.append(QuotaFigure("team", team, period, currency, None, "none"))
            continue
        names = tuple(sorted(r.subject for r in reps))
        currencies = sorted({r.currency for r in reps if r.currency is not None})
        if len(currencies) != 1:
            figures.append(
                QuotaFigure(
                    "team", team, period, None, None, "reps", names,
                    f"the quotas of team {team}'s reps for {period} are in "
                    f"{', '.join(currencies)}: they are not added together",
                )
            )  # fmt: skip
            continue
        total = sum((r.targets[period].amount for r in reps), Decimal(0))
        figures.append(QuotaFigure("team", team, period, currencies[0], total, "reps", names))
    return figures


def quota_view(state: QuotaState) -> QuotaView:
    assert state.kind is not None
    assert state.subject is not None
    assert state.year is not None
    ordered = sorted(state.targets.items(), key=lambda item: QuotaPeriod.parse(item[0]))
    return QuotaView(
        state.kind, state.subject, state.year, state.currency, state.team, dict(ordered)
    )
