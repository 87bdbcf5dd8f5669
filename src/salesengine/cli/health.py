"""`salesengine health`: grades, stale deals, overdue contacts and weekly visits."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.table import Table

from salesengine.cli.render import add_row, money, out, print_json, short_time
from salesengine.cli.reporting import (
    all_policies,
    as_of_label,
    instants,
    read_models,
    recording_start,
)
from salesengine.cli.reports import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    check_policy,
)

if TYPE_CHECKING:
    from salesengine.reports.health import Health

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.


def health_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pipeline health as of T (known at K): grades, stale deals, contacts, visits."""
    from salesengine.reports.health import health

    check_policy(policy)
    t, k = instants(as_of, known_at)
    policies = all_policies()
    with read_models(policy) as conn:
        earliest = recording_start(conn, k)
        result = health(conn, policies, as_of=t, known_at=k, policy=policy)
    if as_json:
        print_json(as_dict(result) | {"earliest_recorded": earliest})
        return
    suffix = as_of_label(t, k)
    grades = Table("grade", "deals", "amount", "currency", title=f"Grades {suffix}")
    for g in result.grades:
        add_row(grades, g.grade, str(g.deals), money(g.amount), g.currency)
    out.print(grades)
    stale = Table("deal", "owner", "stage", "days in stage", "next step due", "reasons")
    stale.title = f"Stale deals ({len(result.stale)})"
    for s in result.stale:
        due = "" if s.next_due is None else short_time(s.next_due)
        cells = (s.deal, s.owner or "", s.stage, f"{s.days_in_stage:.1f}", due)
        add_row(stale, *cells, ", ".join(s.reasons))
    out.print(stale)
    contacts = Table("deal", "owner", "stage", "grade", "last contact", "days since", "cadence")
    contacts.title = f"Overdue contacts ({len(result.overdue_contacts)})"
    for c in result.overdue_contacts:
        last = short_time(c.last_contact)
        row = (c.deal, c.owner or "", c.stage, c.grade, last, f"{c.days_since:.1f}")
        add_row(contacts, *row, str(c.cadence_days))
    out.print(contacts)
    visits = Table("rep", "week", "visits", "effective", "target", "met")
    visits.title = "Effective visits per rep per week (* = week in progress)"
    for v in result.visits:
        week = v.week + ("*" if v.partial else "")
        met = "yes" if v.met else "no"
        add_row(visits, v.rep, week, str(v.visits), str(v.effective), str(v.target), met)
    out.print(visits)


def as_dict(result: Health) -> dict[str, Any]:
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "grades": result.grades,
        "stale": [asdict(s) | {"days_in_stage": round(s.days_in_stage, 2)} for s in result.stale],
        "overdue_contacts": [
            asdict(c) | {"days_since": round(c.days_since, 2)} for c in result.overdue_contacts
        ],
        "visits": result.visits,
    }
