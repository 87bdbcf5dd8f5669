"""The ``salesengine`` command line: thin over the application service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from salesengine.application.json_form import jsonable
from salesengine.cli import account as account_cli
from salesengine.cli import anomalies as anomalies_cli
from salesengine.cli import audit as audit_cli
from salesengine.cli import backup as backup_cli
from salesengine.cli import deal as deal_cli
from salesengine.cli import demo as demo_cli
from salesengine.cli import erase as erase_cli
from salesengine.cli import export as export_cli
from salesengine.cli import forecast as forecast_cli
from salesengine.cli import funnel_command as funnel_cli
from salesengine.cli import health as health_cli
from salesengine.cli import import_command as import_cli
from salesengine.cli import plan as plan_cli
from salesengine.cli import policy as policy_cli
from salesengine.cli import portfolio as portfolio_cli
from salesengine.cli import projection_commands as projection_cli
from salesengine.cli import quota as quota_cli
from salesengine.cli import relay as relay_cli
from salesengine.cli import review as review_cli
from salesengine.cli import serve as serve_cli
from salesengine.cli import tokens as tokens_cli
from salesengine.cli import vvalue as vvalue_cli
from salesengine.cli import webhook as webhook_cli
from salesengine.cli import window_commands as window_cli
from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import (
    error,
    money,
    print_json,
    say,
    to_the_second,
    warn,
    when,
)
from salesengine.domain.errors import SalesEngineError, StoreMissing

# Each command imports what only it needs (the application, importers, reports) when it
# runs: loading them all would slow down the start of every command, and of --help. For
# that, the store's variable is named here, not imported with the store (eventsourcing);
# tests/e2e/test_cli_startup.py holds it equal to salesengine.store.settings.DB_ENV.
DB_ENV = "SALESENGINE_DB"

app = typer.Typer(
    help="salesengine: event-sourced deals guarded by funnel policies. Every instant "
    "option takes ISO 8601 with offset, or a date YYYY-MM-DD meaning 00:00 UTC that day.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(deal_cli.app, name="deal")
app.add_typer(account_cli.app, name="account")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(tokens_cli.app, name="token")
app.add_typer(quota_cli.app, name="quota")
# Read models and the reports over them.
app.command("project")(projection_cli.project_command)
app.command("rebuild")(projection_cli.rebuild_command)
app.command("funnel")(funnel_cli.funnel_command)
app.command("plan")(plan_cli.plan_command)
app.command("conversion")(window_cli.conversion_command)
app.command("cycle-time")(window_cli.cycle_time_command)
app.command("forecast")(forecast_cli.forecast_command)
app.command("health")(health_cli.health_command)
app.command("vvalue")(vvalue_cli.vvalue_command)
app.command("anomalies")(anomalies_cli.anomalies_command)
app.add_typer(portfolio_cli.app, name="portfolio")
app.command("review")(review_cli.review_command)
# History out, for process mining and BI.
app.command("export")(export_cli.export_command)
app.command("relay")(relay_cli.relay_command)
app.add_typer(relay_cli.contract_app, name="contract")
app.add_typer(webhook_cli.app, name="webhook")
# The tamper-evident history: verification, signed checkpoints, the auditor's export.
app.add_typer(audit_cli.app, name="audit")
app.command("demo")(demo_cli.demo_command)
# History in: command files, CRM exports and event logs.
app.command("import")(import_cli.import_command)
app.command("serve")(serve_cli.serve_command)
# Operations: a consistent copy of the store, and the store put back from one.
app.command("backup")(backup_cli.backup_command)
app.command("restore")(backup_cli.restore_command)
# Personal data: a data subject's erased for good (docs/privacy.md).
app.command("erase")(erase_cli.erase_command)


@app.callback()
def main(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar=DB_ENV,
            help="SQLite path or postgresql:// URL.",
            show_default="salesengine.db",
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", envvar="SALESENGINE_ACTOR", help="Who is writing.")
    ] = None,
    policies: Annotated[
        list[Path] | None, typer.Option("--policies", help="Extra directory of policy files.")
    ] = None,
) -> None:
    STATE.db = db
    STATE.actor = None if by is None else _actor(by)
    STATE.policy_dirs = tuple(policies or ())


def _actor(by: str) -> str:
    """The writer's name, held to the command language's rules for names."""
    from salesengine.application.names import checked_name

    try:
        return checked_name(by)
    except ValueError as e:
        raise typer.BadParameter(f"{by!r}: {e}", param_hint="--by") from None


@app.command()
def sweep(
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Evaluate the rule at this instant (or YYYY-MM-DD: 00:00 UTC); default now.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the fall-back rule: deals without a live next step fall back (idempotent)."""
    report = STATE.engine().sweep(parse_time(at, "--at"))
    if as_json:
        print_json(report)
        return
    for f in report.fell_back:
        say(f"{f.deal}: {f.from_stage} → {f.to_stage} (no next step since {when(f.effective_at)})")
    for key, why in report.not_applicable:
        say(f"{key}: not applied: {why}")
    say(
        f"sweep at {when(report.at)}: {report.examined} deals examined, "
        f"{len(report.fell_back)} fell back, {report.unchanged} unchanged"
    )


# Unlike a report's K, which defaults to all that is recorded, history's defaults to now.
HistoryAsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Effective instant T (or YYYY-MM-DD: 00:00 UTC); default now."),
]
HistoryKnownAt = Annotated[
    str | None,
    typer.Option("--known-at", help="Recording instant K (or YYYY-MM-DD: 00:00 UTC); default now."),
]


@app.command()
def history(
    deal: Annotated[str, typer.Argument(help="The deal's key.")],
    as_of: HistoryAsOf = None,
    known_at: HistoryKnownAt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The auditor's replay: every event in order and the deal at T as known at K."""
    t, k = parse_time(as_of, "--as-of"), parse_time(known_at, "--known-at")
    h = STATE.engine(create=False).history(deal, t, k)
    if k is not None and h.first_recorded is not None and k < h.first_recorded:
        warn(
            f"--known-at {k.isoformat()} is before anything of {h.deal} was recorded: its "
            f"first event was recorded at {h.first_recorded.isoformat()}"
        )
    if as_json:
        print_json(h)  # every field of the replay: the service answers the same
        return
    say(f"{h.deal}: as of {when(h.as_of)}, known at {when(h.known_at)} (times in UTC)")
    at = to_the_second(t for e in h.events for t in (e.effective_at, e.recorded_at))
    for e in h.events:
        stage = (
            e.stage_after
            if e.stage_before in (None, e.stage_after)
            else f"{e.stage_before} → {e.stage_after}"
        )
        say(
            f"#{e.position or '?'} v{e.version}  {at(e.effective_at)}  {e.type}  [{stage}]"
            f"  by {e.actor}, recorded {at(e.recorded_at)}"
        )
        details = summarise(e.data)
        if details:
            say(f"    {details}")
        if e.entered_without:
            missing = ", ".join(e.entered_without)
            say(f"    ! entered without its criteria (retracted later): missing {missing}")
    s = h.state
    if s:
        facts = ", ".join(sorted(s["facts"])) or "-"
        say(
            f"state: {s['status']} at {s['stage']}, "
            f"amount {money(s['amount'])} {s['currency'] or ''}, "
            f"owner {s['owner'] or '-'}, facts {facts}"
        )
        if s["key_info"]:
            say("key info: " + ", ".join(
                f"{topic} (by {info['actor']})" for topic, info in s["key_info"].items()
            ))  # fmt: skip
    if h.later_events:
        say(f"({h.later_events} later event(s) known but effective after {when(h.as_of)})")


# The opening's own envelope is shown in other columns or in the state line below.
_SHOWN_ELSEWHERE = {"deal", "stage", "from_stage", "to_stage", "policy_version"}


def summarise(data: dict[str, Any]) -> str:
    """An event's data as one readable line: empty fields dropped, facts listed by key."""
    parts = []
    for key, value in data.items():
        if key in _SHOWN_ELSEWHERE or value in (None, [], {}):
            continue
        if key == "facts":
            parts.append("facts: " + ", ".join(f"{k}={v}" for k, v in value.items()))
            continue
        if key == "details":  # key information's fields, lists joined
            parts.extend(
                f"{k}={', '.join(v) if isinstance(v, list) else v}" for k, v in value.items()
            )
            continue
        plain = jsonable(value)
        parts.append(
            f"{key}={plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)}"
        )
    return "; ".join(parts)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the command language: deal, account and quota commands."""
    from salesengine.application.command_language import language_schema

    print(json.dumps(language_schema(), ensure_ascii=False, indent=2))


def run(argv: list[str] | None = None) -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 1; a
    store that a reading command cannot find, exit status 2 (a mistyped --db)."""
    try:
        app(args=argv, prog_name="salesengine")
    except StoreMissing as e:
        error(e.message)
        sys.exit(2)
    except SalesEngineError as e:
        error(f"{e.message}")
        sys.exit(1)
    finally:
        STATE.close()
