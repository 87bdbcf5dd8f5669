"""``salesengine quota set|clear|show|list``: reps' and teams' quotas, as events."""

# typer reads these annotations at runtime, so they are not postponed.
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.application.instants import DAY
from salesengine.cli.options import STATE, parse_time
from salesengine.cli.read_models import quotas_recording_start
from salesengine.cli.render import fail, money, print_json, say, short_time, when
from salesengine.cli.report_options import AsOfOption, JsonOption, KnownAtOption, instants
from salesengine.cli.report_output import known_label
from salesengine.cli.tables import Grid, key, number

if TYPE_CHECKING:
    from salesengine.application.quotas import Quotas
    from salesengine.domain.quota import SubjectKind

# The application (pydantic, eventsourcing) is imported when a command runs.

app = typer.Typer(
    help="Reps' and teams' quotas per year, quarter and month (a change is a new event).",
    no_args_is_help=True,
)

RepOption = Annotated[str | None, typer.Option("--rep", help="The rep whose quota this is.")]
TeamOption = Annotated[
    str | None,
    typer.Option("--team", help="The team whose quota this is (with --rep: the rep's team)."),
]
PeriodOption = Annotated[
    str, typer.Option("--period", help="YYYY (a year), YYYY-Qn (a quarter) or YYYY-MM (a month).")
]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When the quota took effect: ISO 8601 with offset, or YYYY-MM-DD (00:00 UTC); "
        "default now.",
    ),
]
Id = Annotated[str | None, typer.Option("--id", help="Idempotency key.")]
By = Annotated[str | None, typer.Option("--by", help="Actor; default the global --by.")]


def quotas(*, create: bool) -> "Quotas":
    from salesengine.application.quotas import Quotas

    return Quotas(STATE.engine(create=create))


def _record(raw: dict[str, Any], as_json: bool) -> None:
    from pydantic import ValidationError

    from salesengine.application.quota_commands import parse_quota_command
    from salesengine.importing.common.validation import describe_validation

    at = raw.get("at")
    if isinstance(at, str) and DAY.fullmatch(at):
        start = parse_time(at, "--at")  # a plain date: its midnight UTC, as every option
        assert start is not None
        raw["at"] = start.isoformat()
    try:
        command = parse_quota_command({k: v for k, v in raw.items() if v is not None})
    except ValidationError as e:
        fail(describe_validation(e))
    result = quotas(create=True).execute(command)
    if as_json:
        print_json(result)
    elif result.status == "duplicate":
        say(f"{command.stream}: already applied (id {command.id}); nothing written")
    else:
        say(f"{command.stream}: {result.event} {result.period} (version {result.version})")


@app.command("set")
def set_command(
    period: PeriodOption,
    amount: Annotated[str, typer.Option("--amount", help="The quota for the period.")],
    rep: RepOption = None,
    team: TeamOption = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="ISO 4217 code; default the subject-year's currency."),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="quarterly or monthly (evenly; a year's default), none, or the parts' "
            "amounts in order, e.g. 300000,300000,250000,350000.",
        ),
    ] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: JsonOption = False,
) -> None:
    """Set a rep's or team's quota for a period (a year is broken into quarters)."""
    # Amounts are listed with commas; anything else is a word (none, quarterly,
    # monthly), refused as such when it is none of them.
    parts: str | list[str] | None = split
    if split is not None and "," in split:
        parts = [p.strip() for p in split.split(",")]
    elif split is not None:
        parts = split.strip().lower()
    _record(
        {
            "cmd": "set_quota", "rep": rep, "team": team, "period": period, "amount": amount,
            "currency": currency.upper() if currency else None, "split": parts, "at": at,
            "id": id_, "by": by,
        },
        as_json,
    )  # fmt: skip


@app.command("clear")
def clear_command(
    period: PeriodOption,
    rep: RepOption = None,
    team: TeamOption = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    at: At = None,
    id_: Id = None,
    by: By = None,
    as_json: JsonOption = False,
) -> None:
    """Take a period's quota away (its earlier events stay visible with --known-at)."""
    _record(
        {
            "cmd": "clear_quota", "rep": rep, "team": team, "period": period, "reason": reason,
            "at": at, "id": id_, "by": by,
        },
        as_json,
    )  # fmt: skip


def _year(text: str | None, t: datetime) -> int:
    if text is None:
        return t.year
    if not (len(text) == 4 and text.isdigit()):
        raise typer.BadParameter(f"{text!r} is not a year (YYYY)", param_hint="--year")
    return int(text)


YearOption = Annotated[
    str | None, typer.Option("--year", help="The year (YYYY); default the year of T.")
]


@app.command("show")
def show_command(
    rep: RepOption = None,
    team: TeamOption = None,
    year: YearOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    as_json: JsonOption = False,
) -> None:
    """One rep's or team's quotas for a year as of T, and every change known at K."""
    if (rep is None) == (team is None):
        raise typer.BadParameter("give one of --rep or --team", param_hint="--rep")
    t, k = instants(as_of, known_at)
    quotas_recording_start(k)
    y = _year(year, t)
    kind: SubjectKind = "rep" if rep is not None else "team"
    subject = rep if rep is not None else team
    assert subject is not None
    service = quotas(create=False)
    view = service.view(kind, subject, y, t, k)
    changes = service.changes(kind, subject, y, k)
    if not changes and not any(s[:2] == (kind, subject) for s in service.streams()):
        # No quota in any year: a name mistyped, not a subject without quotas this year.
        fail(f"no {kind} named {subject!r} has quotas (quota list shows those there are)", 1)
    if as_json:
        print_json(
            {
                "kind": kind, "subject": subject, "year": y, "as_of": t, "known_at": k,
                "currency": None if view is None else view.currency,
                "team": None if view is None else view.team,
                "quotas": [] if view is None else [
                    {"period": p, **_target(tg)} for p, tg in view.targets.items()
                ],
                "changes": changes,
            }
        )  # fmt: skip
        return
    if view is None or not changes:
        say(f"{kind} {subject} has no quotas for {y}" + known_label(k))
        return
    title = f"Quotas of {kind} {subject}, {y}, as of {when(t)}{known_label(k)}"
    if view.team is not None:
        title += f" (adds up to team {view.team})"
    table = Grid([key("period"), number(f"quota {view.currency}"), key("effective"),
                  key("recorded"), key("by"), key("set as")], title=title)  # fmt: skip
    for period, target in view.targets.items():
        set_as = "" if target.set_by == period else f"part of {target.set_by}"
        table.add(period, money(target.amount), short_time(target.effective_at),
                  short_time(target.recorded_at), target.actor, set_as)  # fmt: skip
    table.print()
    log = Grid([key("v"), key("event"), key("period"), number("amount"), key("effective"),
                key("recorded"), key("by")], title="Changes")  # fmt: skip
    for c in changes:
        log.add(str(c.version), c.type, c.period or "", money(c.amount),
                short_time(c.effective_at), short_time(c.recorded_at), c.actor)  # fmt: skip
    log.print()


def _target(target: Any) -> dict[str, Any]:
    return {
        "amount": target.amount,
        "effective_at": target.effective_at,
        "recorded_at": target.recorded_at,
        "actor": target.actor,
        "set_by": target.set_by,
    }


@app.command("list")
def list_command(
    year: YearOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Only this period, with each team's quota summed from its reps' when it "
            "has none of its own.",
        ),
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every rep's and team's quotas for a year (or one period) as of T, known at K."""
    from salesengine.domain.quota import QuotaPeriod

    t, k = instants(as_of, known_at)
    quotas_recording_start(k)
    if period is not None:
        try:
            chosen = QuotaPeriod.parse(period).name
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--period") from None
        figures = quotas(create=False).figures(chosen, t, k)
        if as_json:
            print_json({"period": chosen, "as_of": t, "known_at": k, "quotas": figures})
            return
        title = f"Quotas for {chosen}, as of {when(t)}{known_label(k)}"
        columns = [key("kind"), key("subject"), number("quota"), key("currency"), key("from")]
        table = Grid(columns, title=title)
        for f in figures:
            source = f"reps {', '.join(f.reps)}" if f.source == "reps" else f.source
            table.add(f.kind, f.subject, money(f.amount) or "-", f.currency or "", source)
        table.print()
        for f in figures:
            if f.problem:
                say(f"note: {f.problem}")
        return
    y = _year(year, t)
    views = quotas(create=False).views(t, k, year=y)
    if as_json:
        rows = [
            {"kind": v.kind, "subject": v.subject, "year": v.year, "currency": v.currency,
             "team": v.team, "period": p, **_target(tg)}
            for v in views for p, tg in v.targets.items()
        ]  # fmt: skip
        print_json({"year": y, "as_of": t, "known_at": k, "quotas": rows})
        return
    table = Grid([key("kind"), key("subject"), key("team"), key("period"), number("quota"),
                  key("currency"), key("effective")],
                 title=f"Quotas for {y}, as of {when(t)}{known_label(k)}")  # fmt: skip
    for v in views:
        for p, tg in v.targets.items():
            table.add(v.kind, v.subject, v.team or "", p, money(tg.amount), v.currency or "",
                      short_time(tg.effective_at))  # fmt: skip
    table.print()
    if not views:
        say(f"no quotas for {y}" + known_label(k))
