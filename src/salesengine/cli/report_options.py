"""The options the report commands share, and their checks: every one is checked before
the store is opened, so that a mistyped option is named before a missing store is."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from salesengine.cli.option_groups import parameter
from salesengine.cli.options import STATE, parse_time

# The reports load sqlalchemy and numpy, so each command imports them when it runs; the
# command line starts without them. Its help names their groupings from this copy, which
# tests/e2e/test_cli_startup.py holds equal to the original.
GROUPS: tuple[str, ...] = ("owner", "team", "region", "policy", "size")

ByOption = Annotated[
    str | None,
    typer.Option("--by", help=f"Group by one of: {', '.join(GROUPS)}."),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Effective instant T; default now.")
]
KnownAtOption = Annotated[
    str | None, typer.Option("--known-at", help="Recording instant K; default: all recorded.")
]
PolicyOption = Annotated[str | None, typer.Option("--policy", help="Only deals of this policy.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print rows as JSON.")]
OwnerOption = Annotated[
    str | None, typer.Option("--owner", help="Only the deals this owner holds at T.")
]
TeamOption = Annotated[str | None, typer.Option("--team", help="Only the deals of this team at T.")]
SizeBandsOption = Annotated[
    str | None,
    typer.Option(
        "--size-bands",
        help="With --by size: where the bands start, for every deal, e.g. 1000,5000,20000 "
        "(in the deal's currency); default each policy's size_bands.",
    ),
]

# The same options as the parameters of an option group (option_groups.py), by the names
# the commands give them.
BY = parameter("by", ByOption, None)
AS_OF = parameter("as_of", AsOfOption, None)
KNOWN_AT = parameter("known_at", KnownAtOption, None)
POLICY = parameter("policy", PolicyOption, None)
JSON = parameter("as_json", JsonOption, False)
OWNER = parameter("owner", OwnerOption, None)
TEAM = parameter("team", TeamOption, None)
SIZE_BANDS = parameter("bands", SizeBandsOption, None)


def check_by(by: str | None) -> None:
    if by is not None and by not in GROUPS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(GROUPS)}", param_hint="--by")


def size_bands(text: str | None, by: str | None) -> tuple[Decimal, ...] | None:
    """The band limits of --size-bands: amounts separated by commas, rising."""
    if text is None:
        return None
    if by != "size":
        raise typer.BadParameter("only applies with --by size", param_hint="--size-bands")
    from salesengine.domain.policy import parse_size_bands

    try:
        return parse_size_bands(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--size-bands") from None


def check_policy(policy: str | None) -> None:
    if policy is not None and policy not in STATE.catalog().names():
        known = ", ".join(STATE.catalog().names())
        raise typer.BadParameter(f"no policy {policy!r} (one of {known})", param_hint="--policy")


def grouping(by: str | None, bands: str | None, policy: str | None) -> tuple[Decimal, ...] | None:
    """--by, --size-bands and --policy checked, in that order (the first wrong one is
    named); the band limits of --size-bands, if given."""
    check_by(by)
    limits = size_bands(bands, by)
    check_policy(policy)
    return limits


def instants(as_of: str | None, known_at: str | None) -> tuple[datetime, datetime | None]:
    """T defaults to now (the engine's clock: UTC now); K to "everything known" (None).
    Neither opens the store: every option is checked before a missing store is named."""
    t = parse_time(as_of, "--as-of") or datetime.now(UTC)
    return t, parse_time(known_at, "--known-at")


def check_chart(chart: Path | None) -> None:
    """A chart file the report can write, checked before the report runs."""
    if chart is None:
        return
    if chart.suffix.lower() not in (".png", ".html"):
        raise typer.BadParameter("the chart file must end in .png or .html", param_hint="--chart")
    if chart.is_dir():
        raise typer.BadParameter(f"{chart} is a directory", param_hint="--chart")
    if not chart.parent.is_dir():
        raise typer.BadParameter(f"no directory {chart.parent} to write into", param_hint="--chart")
