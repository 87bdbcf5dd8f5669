"""`salesengine anomalies`: lapsed entry criteria, stage-skipping moves, backdated entries
and health's stale deals, each with its evidence and since when."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import say, short_time
from salesengine.cli.report_options import (
    AsOfOption,
    JsonOption,
    KnownAtOption,
    OwnerOption,
    PolicyOption,
    TeamOption,
    check_policy,
    instants,
)
from salesengine.cli.report_output import as_of_label, chosen, print_report
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    from salesengine.reports.anomalies import Anomalies, Anomaly, BackdatedAfter

# The report loads the application and sqlalchemy: it is imported when the command runs.

DEFAULT_LIMIT = 20  # rows listed per kind in the text; --json lists all


def anomalies_command(
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    policy: PolicyOption = None,
    owner: OwnerOption = None,
    team: TeamOption = None,
    backdated_after: Annotated[
        str | None,
        typer.Option(
            "--backdated-after",
            help="Days an entry may be recorded after its effective time before it counts "
            "as backdated: DAYS, or DAYS,KIND=DAYS,... per event kind (e.g. 7,visit=14); "
            "default 7.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help=f"List at most N rows of each kind (0: all); default {DEFAULT_LIMIT} in the "
            "text, all with --json.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Anomalies as of T (known at K): entry criteria that no longer hold, moves that
    skip stages, backdated entries, and deals stuck or without a next step."""
    thresholds = _thresholds(backdated_after)
    check_policy(policy)
    t, k = instants(as_of, known_at)
    from salesengine.cli.read_models import all_policies, run_report
    from salesengine.reports.anomalies import anomalies, anomalies_document
    from salesengine.reports.open_deals import Only

    policies = all_policies()
    engine = STATE.engine(create=False)
    result, earliest = run_report(
        policy,
        k,
        lambda _: anomalies(
            policies,
            (engine.deal_events(name) for name in engine.deal_keys()),
            as_of=t,
            known_at=k,
            policy=policy,
            only=Only(owner=owner, team=team),
            backdated_after=thresholds,
        ),
    )
    listed = DEFAULT_LIMIT if limit is None else limit or None
    print_report(
        as_json=as_json,
        document=lambda: anomalies_document(result, limit or None, earliest),
        tables=lambda: print_anomalies(result, listed, as_of_label(t, k) + chosen(owner, team)),
    )


def _thresholds(text: str | None) -> BackdatedAfter | None:
    if text is None:
        return None
    from salesengine.reports.anomalies import parse_backdated_after

    try:
        return parse_backdated_after(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--backdated-after") from None


def print_anomalies(result: Anomalies, limit: int | None, suffix: str) -> None:
    counts = Grid([key("kind"), number("rows")], title=f"Anomalies {suffix}")
    for kind, n in result.counts.items():
        counts.add(kind, str(n))
    counts.print()
    by_kind: dict[str, list[Anomaly]] = {}
    for a in result.rows:
        by_kind.setdefault(a.kind, []).append(a)
    for kind, rows in by_kind.items():
        table = Grid(
            [key("deal"), key("owner"), key("position"), key("since"), text("evidence")],
            title=f"{kind} ({len(rows)})",
        )
        for a in rows[:limit]:
            table.add(a.deal, a.owner or "", a.position, short_time(a.since), describe(a))
        table.print()
        if limit is not None and len(rows) > limit:
            say(f"... and {len(rows) - limit:,} more {kind} (--limit N to list more, 0 for all)")


def describe(a: Anomaly) -> str:
    """The evidence of a row as one line for people."""
    e: dict[str, Any] = dict(a.evidence)
    event = f"v{e.get('version')} by {e.get('actor')}, recorded {_at(e.get('recorded_at'))}"
    if a.kind == "criteria_lapsed":
        if e["event"] != "retract":
            how = f"recorded as {e['value']!r}"
        else:
            how = f"retracted ({e['reason']})" if e.get("reason") else "retracted"
        return f"{e['criterion']} (required by {e['required_by']}) {how}: {event}"
    if a.kind == "probability_jump":
        skipped = ", ".join(e["skipped"])
        return (
            f"{e['move']} {e['from']} -> {e['to']}, skipping {skipped}: "
            f"{e['from_probability']}% -> {e['to_probability']}% (+{e['jump']}); {event}"
        )
    if a.kind == "backdated":
        return (
            f"{e['event']} recorded {e['delay_days']:.1f} days after its effective time "
            f"(over {e['threshold_days']}): {event}"
        )
    if a.kind == "over_stage_limit":
        return f"{e['days_in_stage']:.1f} days in {e['stage']}, limit {e['max_days']}"
    if a.kind == "next_step_overdue":
        return f"{e['action']!r} was due {_at(e['due'])}"
    return f"no open next step in {e['stage']}"


def _at(value: Any) -> str:
    return short_time(value) if value is not None else "-"
