"""``salesengine account show | list | chain | coverage | adopt``: accounts read as of T,
known at K (reports.accounts), and the adoption of the accounts deals name."""

# typer reads these annotations at runtime, so they are not postponed.
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import fail, money, print_json, say, short_time, when
from salesengine.cli.report_options import instants
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from salesengine.reports.accounts import AccountView, ContactView

# The reports load sqlalchemy: each command imports them when it runs.

R = TypeVar("R")

AsOf = Annotated[str | None, typer.Option("--as-of", help="Effective instant T; default now.")]
KnownAt = Annotated[
    str | None, typer.Option("--known-at", help="Recording instant K; default: all recorded.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Key = Annotated[str, typer.Argument(help="The account's key.")]
Owner = Annotated[str | None, typer.Option("--owner", help="Only accounts this rep owns at T.")]
Team = Annotated[str | None, typer.Option("--team", help="Only accounts of this team at T.")]
Region = Annotated[str | None, typer.Option("--region", help="Only accounts of this region.")]

GRADE_SOURCES = {"set": "set", "deals": "from its open deals", "no_open_deals": "no open deal"}


def _run(
    as_of: str | None,
    known_at: str | None,
    query: Callable[["Connection", datetime, datetime | None], R],
) -> tuple[R, datetime, datetime | None, datetime | None]:
    """``query`` on the read models (caught up first) at T, K; with T, K and the store's
    earliest recorded instant."""
    from salesengine.cli.read_models import run_report
    from salesengine.reports.recorded import ACCOUNTS

    t, k = instants(as_of, known_at)
    result, earliest = run_report(None, k, lambda conn: query(conn, t, k), ACCOUNTS)
    return result, t, k, earliest


def _header(t: datetime, k: datetime | None, earliest: datetime | None) -> dict[str, Any]:
    return {"as_of": t, "known_at": k, "earliest_recorded": earliest}


def _title(t: datetime, k: datetime | None) -> str:
    return f"as of {when(t)}" + ("" if k is None else f", known at {when(k)}")


def show(
    account: Key,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    activities: Annotated[
        int, typer.Option("--activities", min=0, help="Recent activities listed (0: all).")
    ] = 10,
    as_json: AsJson = False,
) -> None:
    """One account as of T, known at K.

    Its fields, RAD cell, grade and cadence, contacts as an org chart, recent activities
    and its deals."""
    from salesengine.application.accounts import Accounts
    from salesengine.cli.read_models import all_policies
    from salesengine.reports.accounts import account_view
    from salesengine.reports.decision_chain import decision_chain

    view, t, k, earliest = _run(
        as_of,
        known_at,
        lambda conn, t, k: account_view(
            conn, Accounts(STATE.engine()), account, as_of=t, known_at=k, policies=all_policies()
        ),
    )
    if as_json:
        print_json({**_header(t, k, earliest), "account": view})
        return
    v = view
    kind = "" if v.recorded else " (implicit: only named by deals; account adopt records it)"
    say(f"{v.account}: {v.name}{kind}, {_title(t, k)}")
    fields = [
        ("owner", v.owner),
        ("team", v.team),
        ("region", v.region),
        ("industry", v.industry),
        ("customer", v.customer),
    ]
    say("  " + "  ".join(f"{name} {value or '-'}" for name, value in fields))
    bp = "-" if v.buying_power is None else f"{money(v.buying_power)} {v.bp_currency}"
    sow = "-" if v.share_of_wallet is None else f"{v.share_of_wallet}%"
    say(f"  BP {bp}  SOW {sow}  RAD {v.rad or 'unknown'}")
    say(
        f"  grade {v.grade} ({GRADE_SOURCES[v.grade_source]}), cadence {v.cadence_days} days; "
        + _contact_line(v)
    )
    chain = decision_chain(v, k, t)
    say(f"Contacts ({len(chain.nodes)} present, {len(chain.left)} left):")
    for node in chain.nodes:
        say("  " + "  " * node.depth + _person(node.contact))
    for c in chain.left:
        say(f"  left {short_time(c.left_at) if c.left_at else ''}: {_person(c)}")
    listed = v.activities if activities == 0 else v.activities[:activities]
    grid = Grid(
        [key("at"), key("kind"), key("effective"), key("on"), key("by"), text("note")],
        title=f"Activities ({len(v.activities)}, latest first)",
    )
    for a in listed:
        grid.add(
            short_time(a.at), a.kind, "yes" if a.effective else "no", a.on, a.actor, a.note or ""
        )
    grid.print()
    deals = Grid(
        [key("deal"), key("position"), key("grade"), key("owner"), number("amount"),
         key("currency"), key("expected close")],
        title=f"Deals ({len(v.deals)}, {v.open_deals} open)",
    )  # fmt: skip
    for d in v.deals:
        close = "" if d.expected_close is None else d.expected_close.isoformat()
        deals.add(
            d.deal, d.position, d.grade or "", d.owner or "", money(d.amount), d.currency or "",
            close,
        )  # fmt: skip
    deals.print()


def _contact_line(v: "AccountView") -> str:
    if v.last_contact is None:
        return "never contacted"
    within = "within" if v.in_cadence else "beyond"
    return (
        f"last contact {short_time(v.last_contact)}, {v.days_since_contact or 0:.1f} days "
        f"before T ({within} the cadence)"
    )


def _person(c: "ContactView") -> str:
    title = f", {c.title}" if c.title else ""
    sign = f"{c.support:+d}" if c.support else "0"
    return f"{c.contact} ({c.name}{title}): {c.role}, {c.support_name} ({sign})"


def list_(
    as_of: AsOf = None,
    known_at: KnownAt = None,
    owner: Owner = None,
    team: Team = None,
    region: Region = None,
    grade: Annotated[str | None, typer.Option("--grade", help="A, B, C or D.")] = None,
    rad: Annotated[str | None, typer.Option("--rad", help="A RAD cell, R1 .. A3.")] = None,
    as_json: AsJson = False,
) -> None:
    """Accounts as of T, known at K, with their owner, grade, RAD cell and last contact."""
    from salesengine.application.accounts import Accounts
    from salesengine.cli.read_models import all_policies
    from salesengine.domain.account_state import rad_refusal
    from salesengine.reports.accounts import AccountFilter, account_views

    if grade is not None and grade not in ("A", "B", "C", "D"):
        raise typer.BadParameter(f"{grade!r} is not one of A, B, C, D", param_hint="--grade")
    why = None if rad is None else rad_refusal(rad)
    if why is not None:
        raise typer.BadParameter(why, param_hint="--rad")
    keep = AccountFilter(owner, team, region, grade, rad)
    views, t, k, earliest = _run(
        as_of,
        known_at,
        lambda conn, t, k: account_views(
            conn, Accounts(STATE.engine()), as_of=t, known_at=k, policies=all_policies()
        ),
    )
    kept = [v for v in views if keep.keeps(v)]
    if as_json:
        from salesengine.reports.account_documents import account_summary

        rows = [account_summary(v) for v in kept]
        print_json({**_header(t, k, earliest), "accounts": rows})
        return
    grid = Grid(
        [key("account"), text("name"), key("owner"), key("team"), key("region"), key("grade"),
         key("rad"), key("last contact"), number("open deals"), key("recorded")],
        title=f"Accounts ({len(kept)}) {_title(t, k)}",
    )  # fmt: skip
    for v in kept:
        last = "never" if v.last_contact is None else short_time(v.last_contact)
        grid.add(
            v.account, v.name, v.owner or "", v.team or "", v.region or "", v.grade,
            v.rad or "", last, str(v.open_deals), "yes" if v.recorded else "no",
        )  # fmt: skip
    grid.print()


def chain(
    account: Key, as_of: AsOf = None, known_at: KnownAt = None, as_json: AsJson = False
) -> None:
    """The decision chain as of T, known at K.

    Who we thought decided, influenced, used, set policy and started it, their support,
    and the reporting lines."""
    from salesengine.application.accounts import Accounts
    from salesengine.cli.read_models import all_policies
    from salesengine.reports.accounts import account_view
    from salesengine.reports.decision_chain import decision_chain

    result, t, k, earliest = _run(
        as_of,
        known_at,
        lambda conn, t, k: decision_chain(
            account_view(
                conn,
                Accounts(STATE.engine()),
                account,
                as_of=t,
                known_at=k,
                policies=all_policies(),
            ),
            k,
            t,
        ),
    )
    if as_json:
        print_json({**_header(t, k, earliest), "chain": result})
        return
    say(f"Decision chain of {result.account}, {_title(t, k)}")
    if not result.nodes:
        say("  (no contact recorded then)")
    for node in result.nodes:
        say("  " + "  " * node.depth + _person(node.contact))
    from salesengine.domain.account_state import ROLES

    for role in ROLES:
        people = result.by_role.get(role, [])
        say(f"  {role.replace('_', ' ')}: {', '.join(people) if people else '(nobody known)'}")
    for c in result.left:
        say(f"  left {short_time(c.left_at) if c.left_at else ''}: {_person(c)}")


def coverage(
    as_of: AsOf = None,
    known_at: KnownAt = None,
    owner: Owner = None,
    team: Team = None,
    region: Region = None,
    as_json: AsJson = False,
) -> None:
    """Coverage (SOA) as of T, known at K, per rep and grade.

    Accounts with a named owner and a contact within the grade's cadence; accounts never
    contacted, and those contacted but not within the cadence."""
    from salesengine.application.accounts import Accounts
    from salesengine.cli.read_models import all_policies
    from salesengine.reports.accounts import AccountFilter, account_views
    from salesengine.reports.accounts import coverage as soa

    keep = AccountFilter(owner, team, region)
    result, t, k, earliest = _run(
        as_of,
        known_at,
        lambda conn, t, k: soa(
            [
                v
                for v in account_views(
                    conn, Accounts(STATE.engine()), as_of=t, known_at=k, policies=all_policies()
                )
                if keep.keeps(v)
            ],
            as_of=t,
            known_at=k,
        ),
    )
    if as_json:
        print_json({**_header(t, k, earliest), "coverage": result})
        return
    grid = Grid(
        [key("owner"), key("grade"), number("cadence"), number("accounts"),
         number("named owner"), number("in cadence"), number("covered"),
         number("never contacted"), number("coverage")],
        title=f"Coverage (SOA) {_title(t, k)}",
    )  # fmt: skip
    for r in [*result.rows, result.total]:
        share = "" if r.coverage is None else f"{r.coverage:.0%}"
        cadence = "" if r.grade == "all" else str(r.cadence_days)
        owner_cell = "(all)" if r.grade == "all" else (r.owner or "(none)")
        grid.add(
            owner_cell, r.grade, cadence, str(r.accounts), str(r.named_owner),
            str(r.in_cadence), str(r.covered), str(r.never_contacted), share,
        )  # fmt: skip
    grid.print()
    if not result.never_contacted:
        say("Never contacted: none")
    else:
        never = Grid([key("account"), key("owner"), key("grade")], title="Never contacted")
        for u in result.never_contacted:
            never.add(u.account, u.owner or "(none)", u.grade)
        never.print()
    if not result.overdue:
        say("Contacted, but not within the cadence: none")
        return
    late = Grid(
        [key("account"), key("owner"), key("grade"), key("last contact"),
         number("days since"), number("cadence")],
        title="Contacted, but not within the cadence",
    )  # fmt: skip
    for u in result.overdue:
        last = "" if u.last_contact is None else short_time(u.last_contact)
        days = f"{u.days_since_contact or 0:.1f}"
        late.add(u.account, u.owner or "(none)", u.grade, last, days, str(u.cadence_days))
    late.print()


def adopt(
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner", help="The owner of accounts none of whose deals has one; else skipped."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Record the accounts deals name that no account event records yet.

    Each such implicit account is recorded as the reads show it now: its owner, team and
    region those of the earliest opened of its deals with an owner, effective when that
    deal opened."""
    from pydantic import ValidationError

    from salesengine.application.account_commands import parse_account_command
    from salesengine.application.accounts import Accounts
    from salesengine.cli.read_models import all_policies
    from salesengine.importing.common.validation import describe_validation
    from salesengine.reports.accounts import account_views

    # The engine is the one the read models were caught up from (the store must exist).
    views, _, _, _ = _run(
        None,
        None,
        lambda conn, t, k: account_views(
            conn, Accounts(STATE.engine()), as_of=t, known_at=k, policies=all_policies()
        ),
    )
    service = Accounts(STATE.engine())
    adopted: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for v in views:
        if v.recorded:
            continue
        chosen = v.owner or owner
        if chosen is None:
            reason = "none of its deals has an owner: give --owner"
            skipped.append({"account": v.account, "reason": reason})
            continue
        first = next((d for d in v.deals if d.owner is not None), v.deals[0])
        raw = {"cmd": "account_open", "account": v.account, "owner": chosen, "team": v.team,
               "region": v.region, "adopted_from": first.deal, "at": v.opened_at}  # fmt: skip
        try:
            command = parse_account_command({k: x for k, x in raw.items() if x is not None})
        except ValidationError as e:
            fail(f"account '{v.account}': {describe_validation(e)}")
        result = service.execute(command)
        adopted.append({"account": v.account, "owner": chosen, "from_deal": first.deal,
                        "effective_at": v.opened_at, "status": result.status})  # fmt: skip
    if as_json:
        print_json({"adopted": adopted, "skipped": skipped})
        return
    for a in adopted:
        say(f"{a['account']}: adopted from deal {a['from_deal']}, owner {a['owner']}")
    for s in skipped:
        say(f"{s['account']}: skipped: {s['reason']}")
    say(f"{len(adopted)} account(s) adopted, {len(skipped)} skipped")


def history(
    account: Key, as_of: AsOf = None, known_at: KnownAt = None, as_json: AsJson = False
) -> None:
    """Every event of an account, with both clocks.

    The events recorded by K in timeline order (effective time, then version); those
    effective after T marked."""
    from salesengine.application.accounts import Accounts
    from salesengine.reports.account_documents import history_rows

    t, k = instants(as_of, known_at)
    rows = history_rows(Accounts(STATE.engine(create=False)).events(account), t, k)
    if as_json:
        print_json({"account": account, "as_of": t, "known_at": k, "events": rows})
        return
    say(f"{account}: {len(rows)} event(s) {_title(t, k)} (times in UTC)")
    for r in rows:
        later = "  (after T)" if r["after_t"] else ""
        details = "; ".join(f"{name}={value}" for name, value in r["data"].items())
        say(
            f"v{r['version']}  {short_time(r['effective_at'])}  {r['type']}  by {r['actor']}, "
            f"recorded {short_time(r['recorded_at'])}{later}"
        )
        if details:
            say(f"    {details}")
