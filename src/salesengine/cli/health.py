"""`salesengine health`: grades, a summary per owner or group, stale deals, overdue
contacts and weekly visits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.open_deals import OpenDealsRequest, open_deals_report
from salesengine.cli.render import money, say, short_time
from salesengine.cli.report_output import print_report, shown
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    from salesengine.reports.health import Health

# The report loads sqlalchemy: it is imported when the command runs, not at start-up.
# Its reasons, copied for the table's headers (tests/e2e/test_cli_startup.py holds them equal).
REASONS = ("no_next_step", "next_step_overdue", "over_stage_limit")
HEADERS = tuple(r.replace("_", " ") for r in REASONS)  # a header wraps between words


DEFAULT_LIMIT = 20  # deals listed in the text; --json lists all


@open_deals_report
def health_command(
    asked: OpenDealsRequest,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help=f"List at most N stale deals and N overdue contacts (0: all); default "
            f"{DEFAULT_LIMIT} in the text, all with --json.",
        ),
    ] = None,
) -> None:
    """Pipeline health as of T (known at K): grades, a summary per owner (or --by group),
    stale deals, overdue contacts and visits."""
    from salesengine.reports.documents import health_document
    from salesengine.reports.health import health

    result, earliest = asked.run(health)
    listed = DEFAULT_LIMIT if limit is None else limit or None
    print_report(
        as_json=asked.as_json,
        document=lambda: health_document(result, limit or None, earliest),
        tables=lambda: print_health(result, listed, asked.title),
    )


def print_health(result: Health, limit: int | None, suffix: str) -> None:
    by = result.by
    group = [key(by)] if by else []
    grades = Grid(
        [*group, key("grade"), number("deals"), number("amount"), key("currency")],
        title=f"Grades {suffix}",
    )
    for g in result.grades:
        grades.add(*shown(g.group, by), g.grade, str(g.deals), money(g.amount), g.currency)
    grades.print()
    summary = Grid(
        [key(by or "owner"), *map(number, ("open", "stale", *HEADERS, "overdue contacts"))],
        title=f"Summary per {by or 'owner'}",
    )
    for r in result.summary:
        counts = (r.open, r.stale, r.no_next_step, r.next_step_overdue, r.over_stage_limit)
        summary.add(r.group or "(none)", *map(str, counts), str(r.overdue_contacts))
    summary.print()
    stale = Grid(
        [key("deal"), *group, key("owner"), key("stage"), number("days in stage"),
         key("next step due"), text("reasons")],
        title=f"Stale deals ({len(result.stale)}, longest in stage first)",
    )  # fmt: skip
    for s in result.stale[:limit]:
        due = "" if s.next_due is None else short_time(s.next_due)
        cells = (s.owner or "", s.stage, f"{s.days_in_stage:.1f}", due, ", ".join(s.reasons))
        stale.add(s.deal, *shown(s.group, by), *cells)
    stale.print()
    more(len(result.stale), limit, "stale deals")
    contacts = Grid(
        [key("deal"), *group, key("owner"), key("stage"), key("grade"), key("last contact"),
         number("days since"), number("cadence")],
        title=f"Overdue contacts ({len(result.overdue_contacts)}, most overdue first)",
    )  # fmt: skip
    for c in result.overdue_contacts[:limit]:
        last = short_time(c.last_contact)
        row = (c.owner or "", c.stage, c.grade, last, f"{c.days_since:.1f}", str(c.cadence_days))
        contacts.add(c.deal, *shown(c.group, by), *row)
    contacts.print()
    more(len(result.overdue_contacts), limit, "overdue contacts")
    visits = Grid(
        [key("rep"), key("week"), *map(number, ("visits", "effective", "target")), key("met")],
        title="Effective visits per rep per week (* = week in progress)",
    )
    for v in result.visits:
        week = v.week + ("*" if v.partial else "")
        met = "yes" if v.met else "no"
        visits.add(v.rep, week, str(v.visits), str(v.effective), str(v.target), met)
    visits.print()


def more(total: int, limit: int | None, what: str) -> None:
    """The line saying how many a limited list leaves out."""
    if limit is not None and total > limit:
        say(f"... and {total - limit:,} more {what} (--limit N to list more, 0 for all)")
