"""The V value per rep and per team as of T, known at K (docs/metrics.md, "V value"):
the remaining weighted pipeline over the remaining quota of a period.

The quotas come from the quota service (``application.quotas``, folded from their
events); won deals and the pipeline from one read of the deals at T in the read models,
summed per owner and per team in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, and_, or_

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.application.quota_figures import QuotaFigure
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import from_units, to_us
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS, deals_at
from salesengine.reports.open_deals import utc_day
from salesengine.reports.periods import Period
from salesengine.reports.weights import weights

Kind = Literal["rep", "team"]
WON = "won"
PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class VRow:
    kind: Kind
    subject: str | None  # None: deals without an owner (team)
    currency: str | None  # None only for a team whose reps' quotas mix currencies
    quota: Decimal | None
    quota_source: str  # own, reps or none
    won: Decimal
    won_deals: int
    remaining: Decimal | None  # max(quota - won, 0)
    pipeline: Decimal  # remaining weighted pipeline
    pipeline_deals: int
    undated: int  # open deals left out: no expected close
    later: int  # open deals left out: expected after the period
    v: Decimal | None

    @property
    def met(self) -> bool:
        return self.remaining is not None and self.remaining == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "currency": self.currency,
            "quota": self.quota,
            "quota_source": self.quota_source,
            "won": self.won,
            "won_deals": self.won_deals,
            "remaining_quota": self.remaining,
            "pipeline": self.pipeline,
            "pipeline_deals": self.pipeline_deals,
            "undated": self.undated,
            "later": self.later,
            "v": self.v,
            "met": self.met,
        }


@dataclass(frozen=True, slots=True)
class VValue:
    period: Period
    as_of: datetime
    known_at: datetime | None
    rows: tuple[VRow, ...]
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.as_dict(),
            "as_of": self.as_of,
            "known_at": self.known_at,
            "rows": [r.as_dict() for r in self.rows],
            "problems": list(self.problems),
        }


@dataclass(slots=True)
class _Sums:
    won: Decimal = Decimal(0)
    won_deals: int = 0
    pipeline: Decimal = Decimal(0)
    pipeline_deals: int = 0
    undated: int = 0
    later: int = 0


@dataclass(frozen=True, slots=True)
class DealAtT:
    """A deal at T (known at K) as the V value reads it."""

    owner: str | None
    team: str | None
    currency: str
    won: bool  # won in the period (else open)
    amount: Decimal
    weighted: Decimal
    expected_close: date | None


def v_of(pipeline: Decimal, remaining: Decimal | None) -> Decimal | None:
    """V: the pipeline over the remaining quota, to 4 places; null without a quota or
    when it is met."""
    if remaining is None or remaining == 0:
        return None
    return (pipeline / remaining).quantize(PLACES)


def deals_in(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    scope: Scope | None = None,
) -> list[DealAtT]:
    """The open deals at T and those won in the period, known at K; ``scope``: only
    the deals a principal reaches (docs/access.md), None: every deal."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    outcomes = (WON, "lost", "abandoned")
    query = deals_at(
        i.policy, i.stage, i.policy_version, a.owner, a.team, a.amount, a.currency,
        a.expected_close, at=as_of, known_at=known_at,
    ).where(
        or_(
            i.stage.not_in(outcomes),
            and_(
                i.stage == WON,
                i.entered_at >= to_us(period.start),
                i.entered_at < to_us(period.end),
            ),
        )
    )  # fmt: skip
    query = scoped(query, scope, i.deal_id)
    weigh = weights(conn, policies).weight
    found = []
    for name, stage, version, owner, team, units, currency, close in conn.execute(query):
        amount = from_units(int(units or 0))
        won = stage == WON
        found.append(
            DealAtT(
                owner,
                team,
                currency or policies[name].currency,
                won,
                amount,
                Decimal(0) if won else amount * weigh(name, version, stage),
                None if close is None else date.fromisoformat(close),
            )
        )
    return found


def vvalue(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    quotas: Sequence[QuotaFigure],
    *,
    period: Period,
    as_of: datetime,
    known_at: datetime | None = None,
    kind: Kind | None = None,
    subject: str | None = None,
    scope: Scope | None = None,
) -> VValue:
    """Each rep's and team's V value for the period (``kind`` and ``subject`` keep one
    kind, or one subject of it). ``quotas``: the subjects' quotas for the period as of
    T known at K (``Quotas.figures``; for a scope, those it reaches). ``scope``: only
    the deals a principal reaches."""
    deals = deals_in(conn, policies, period, as_of, known_at, scope)
    return v_from(deals, quotas, period=period,
                  as_of=as_of, known_at=known_at, kind=kind, subject=subject)  # fmt: skip


def v_from(
    deals: Sequence[DealAtT],
    quotas: Sequence[QuotaFigure],
    *,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    kind: Kind | None = None,
    subject: str | None = None,
) -> VValue:
    """The V value of the deals read (``deals_in``) against the quotas."""
    last_day = utc_day(period.end - timedelta(microseconds=1))
    sums: dict[tuple[Kind, str | None, str | None], _Sums] = {}
    for deal in deals:
        subjects: tuple[tuple[Kind, str | None], ...] = (("rep", deal.owner), ("team", deal.team))
        for k, who in subjects:
            s = sums.setdefault((k, who, deal.currency), _Sums())
            if deal.won:
                s.won += deal.amount
                s.won_deals += 1
            elif deal.expected_close is None:
                s.undated += 1
            elif deal.expected_close > last_day:
                s.later += 1
            else:
                s.pipeline += deal.weighted
                s.pipeline_deals += 1
    figures: dict[tuple[Kind, str | None, str | None], QuotaFigure] = {}
    problems = []
    for q in quotas:
        figures[(q.kind, q.subject, q.currency)] = q
        if q.problem is not None and (kind in (None, q.kind)) and subject in (None, q.subject):
            problems.append(q.problem)
    rows = []
    for key in sorted(set(sums) | set(figures), key=_order):
        k, who, currency = key
        if (kind is not None and k != kind) or (subject is not None and who != subject):
            continue
        s = sums.get(key, _Sums())
        found = figures.get(key)
        quota = None if found is None else found.amount
        remaining = None if quota is None else max(quota - s.won, Decimal(0))
        source = "none" if found is None else found.source
        rows.append(
            VRow(
                k, who, currency, quota, source, s.won, s.won_deals,
                remaining, s.pipeline, s.pipeline_deals, s.undated, s.later,
                v_of(s.pipeline, remaining),
            )
        )  # fmt: skip
    return VValue(period, as_of, known_at, tuple(rows), tuple(problems))


def _order(key: tuple[Kind, str | None, str | None]) -> tuple[Any, ...]:
    kind, subject, currency = key
    return (kind != "rep", subject is None, subject or "", currency or "")
