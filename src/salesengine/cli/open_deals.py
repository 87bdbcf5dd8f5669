"""What ``forecast`` and ``health`` share: a report on the deals open at T (known at K),
kept to an owner or a team, asked with the options both commands take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from salesengine.cli.option_groups import option_group
from salesengine.cli.read_models import all_policies, run_report
from salesengine.cli.report_options import (
    AS_OF,
    BY,
    JSON,
    KNOWN_AT,
    OWNER,
    POLICY,
    SIZE_BANDS,
    TEAM,
    grouping,
    instants,
)
from salesengine.cli.report_output import as_of_label, chosen

if TYPE_CHECKING:
    pass

# The reports load sqlalchemy: each command imports its own when it runs, not at start-up.

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class OpenDealsRequest:
    """What an open-deals report is asked: as of T, known at K, grouped, kept to a policy
    and to an owner or team; and whether as JSON."""

    as_of: datetime
    known_at: datetime | None
    policy: str | None
    by: str | None
    owner: str | None
    team: str | None
    size_bands: tuple[Decimal, ...] | None
    as_json: bool

    def run(self, report: Callable[..., Result]) -> tuple[Result, datetime | None]:
        """``report`` (``reports.forecast.forecast``, ``reports.health.health``), and the
        store's earliest recorded instant."""
        from salesengine.reports.open_deals import Only

        policies = all_policies()
        only = Only(owner=self.owner, team=self.team)
        return run_report(
            self.policy,
            self.known_at,
            lambda conn: report(
                conn,
                policies,
                as_of=self.as_of,
                known_at=self.known_at,
                policy=self.policy,
                by=self.by,
                only=only,
                size_bands=self.size_bands,
            ),
        )

    @property
    def title(self) -> str:
        """The end of the report's first title: "as of T, known at K, owner O, team M"."""
        return as_of_label(self.as_of, self.known_at) + chosen(self.owner, self.team)


def open_deals_request(
    *,
    as_of: str | None,
    known_at: str | None,
    policy: str | None,
    by: str | None,
    owner: str | None,
    team: str | None,
    bands: str | None,
    as_json: bool,
) -> OpenDealsRequest:
    """The options of an open-deals report, checked (none opens the store)."""
    limits = grouping(by, bands, policy)
    t, k = instants(as_of, known_at)
    return OpenDealsRequest(t, k, policy, by, owner, team, limits, as_json)


# Both reports take these, in this order, around their own options.
open_deals_report = option_group(
    open_deals_request,
    before=[AS_OF, KNOWN_AT, POLICY, BY, OWNER, TEAM],
    after=[SIZE_BANDS, JSON],
)
