"""`salesengine health`: grades, stale deals, overdue contacts and weekly visits."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from salesengine.cli.render import money, print_json, short_time
from salesengine.cli.reporting import all_policies, as_of_label, instants, read_models
from salesengine.cli.reports import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    PolicyOption,
    check_policy,
)
from salesengine.cli.tables import Grid, key, number, text

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
        result = health(conn, policies, as_of=t, known_at=k, policy=policy)
    if as_json:
        print_json(as_dict(result))
        return
    suffix = as_of_label(t, k)
    grades = Grid(
        [key("grade"), number("deals"), number("amount"), key("currency")],
        title=f"Grades {suffix}",
    )
    for g in result.grades:
        grades.add(g.grade, str(g.deals), money(g.amount), g.currency)
    grades.print()
    stale = Grid(
        [key("deal"), key("owner"), key("stage"), number("days in stage"), key("next step due"),
         text("reasons")],
        title=f"Stale deals ({len(result.stale)})",
    )  # fmt: skip
    for s in result.stale:
        due = "" if s.next_due is None else short_time(s.next_due)
        cells = (s.deal, s.owner or "", s.stage, f"{s.days_in_stage:.1f}", due)
        stale.add(*cells, ", ".join(s.reasons))
    stale.print()
    contacts = Grid(
        [key("deal"), key("owner"), key("stage"), key("grade"), key("last contact"),
         number("days since"), number("cadence")],
        title=f"Overdue contacts ({len(result.overdue_contacts)})",
    )  # fmt: skip
    for c in result.overdue_contacts:
        last = short_time(c.last_contact)
        row = (c.deal, c.owner or "", c.stage, c.grade, last, f"{c.days_since:.1f}")
        contacts.add(*row, str(c.cadence_days))
    contacts.print()
    visits = Grid(
        [key("rep"), key("week"), *map(number, ("visits", "effective", "target")), key("met")],
        title="Effective visits per rep per week (* = week in progress)",
    )
    for v in result.visits:
        week = v.week + ("*" if v.partial else "")
        met = "yes" if v.met else "no"
        visits.add(v.rep, week, str(v.visits), str(v.effective), str(v.target), met)
    visits.print()


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
