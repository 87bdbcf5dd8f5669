"""The accounts' figures in the case review: accounts per grade and new accounts
(docs/metrics.md, "Case review as of T"), kept to the review's owner or team."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.application.accounts import Accounts
from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.account_scope import reachable_accounts
from salesengine.reports.accounts import account_views
from salesengine.reports.health import GRADES
from salesengine.reports.open_deals import Only
from salesengine.reports.periods import Period
from salesengine.reports.review import AccountFigures, AccountFiguresSource


def review_account_figures(
    accounts: Accounts, policies: Mapping[str, FunnelPolicy], scope: Scope | None = None
) -> AccountFiguresSource:
    """The review's ``account_figures`` over the store's accounts (``scope``: those it
    reaches, graded by the deals it reaches, as the service's account list shows them)."""

    def figures(
        conn: Connection, as_of: datetime, known_at: datetime | None, only: Only, period: Period
    ) -> AccountFigures:
        keys = None if scope is None else reachable_accounts(conn, accounts.engine, scope)
        views = [
            v
            for v in account_views(
                conn,
                accounts,
                as_of=as_of,
                known_at=known_at,
                policies=policies,
                keys=keys,
                scope=scope,
            )
            if (only.owner is None or v.owner == only.owner)
            and (only.team is None or v.team == only.team)
        ]
        per_grade = {g: sum(v.grade == g for v in views) for g in GRADES}
        new = sum(period.start <= v.opened_at <= as_of for v in views)
        return AccountFigures(per_grade, new)

    return figures
