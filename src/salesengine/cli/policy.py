"""``salesengine policy``: the funnel policies the engine knows, and the versions the
store keeps of them (docs/metrics.md, "Policy versions")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from salesengine.cli.options import STATE
from salesengine.cli.render import err, print_json, say, short_time
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    # Loaded with the catalog when a command reads the policies, not at start-up.
    from salesengine.domain.policy import FunnelPolicy, KeptVersion

app = typer.Typer(
    help="Funnel policies: stages, probabilities, entry criteria.", no_args_is_help=True
)


def kept_versions() -> list[KeptVersion] | None:
    """The versions the store keeps; None (with a note) when there is no store to read.
    A store that does not exist is not created for it."""
    from salesengine.domain.errors import StoreMissing, StoreUnavailable

    try:
        return STATE.engine(create=False).kept_policy_versions()
    except StoreMissing:
        return None
    except StoreUnavailable as e:
        err.print(f"[yellow]note:[/] versions kept in the store not shown: {escape(e.message)}")
        return None


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the policies (built-in and from SALESENGINE_POLICY_PATH), each with the
    versions the store keeps of it."""
    catalog = STATE.catalog()
    policies = catalog.all()
    kept = kept_versions()
    by_name: dict[str, list[KeptVersion]] = {}
    for v in kept or []:
        by_name.setdefault(v.name, []).append(v)
    if as_json:
        print_json(
            [
                {
                    "name": p.name,
                    "title": p.title,
                    "stages": list(p.stage_keys),
                    "version": p.fingerprint,
                    "kept_versions": [_kept_json(v, p) for v in by_name.get(p.name, [])],
                }
                for p in policies
            ]
        )
        return
    table = Grid([key("name"), text("title"), text("stages"), text("source"), key("versions kept")])
    for p in policies:
        versions = "\n".join(
            f"{v.fingerprint} {short_time(v.recorded_at)}"
            + (" (current)" if v.fingerprint == p.fingerprint else "")
            for v in by_name.get(p.name, [])
        )
        table.add(
            p.name,
            f"{p.title} {p.title_zh or ''}",
            " → ".join(p.stage_keys),
            str(catalog.source(p.name)),
            versions or ("-" if kept is not None else "(no store)"),
        )
    table.print()


def _kept_json(version: KeptVersion, current: FunnelPolicy) -> dict[str, Any]:
    return {
        "version": version.fingerprint,
        "recorded_at": version.recorded_at,
        "source": version.source,
        "current": version.fingerprint == current.fingerprint,
    }


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Policy name, e.g. five-level.")],
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="A version the store keeps (its fingerprint, or the start of it), "
            "instead of the policy file's.",
        ),
    ] = None,
    versions: Annotated[
        bool,
        typer.Option(
            "--versions", help="List the versions the store knows, with when each was first used."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a policy's stages with their names, probabilities and entry criteria."""
    if version is not None and versions:
        raise typer.BadParameter("give --version or --versions, not both", param_hint="--version")
    current = STATE.catalog().get(name)
    if versions:
        _show_versions(current, as_json)
        return
    policy = current if version is None else _kept_version(current, version)
    if as_json:
        print_json(policy.shown())
        return
    label = f"version {policy.fingerprint}" + (
        "" if policy.fingerprint == current.fingerprint else ", not the policy file's"
    )
    table = Grid(
        [key("stage"), text("name"), number("win %"), text("role"), text("entry criteria")],
        title=f"{policy.title} ({policy.name}, {label})",
    )
    for s in policy.stages:
        criteria = "\n".join(f"{c.key}: {c.description}" for c in s.criteria) or "-"
        table.add(s.key, f"{s.name} {s.name_zh}", str(s.probability), s.role, criteria)
    table.add("won", "Won 成交", str(policy.won_probability), "", "contract signed")
    table.print()
    from salesengine.reports.size_bands import SizeBands

    bands = ", ".join(SizeBands(policy.size_bands).labels)
    say(f"size bands (--by size, in the deal's currency): {bands}")
    grades = ", ".join(f"{g} <= {days}" for g, days in policy.grade_days.limits)
    cadence = ", ".join(f"{g} {days}" for g, days in policy.contact_cadence_days.as_dict().items())
    say(f"grades (days to the expected close): {grades}, D beyond or without a date")
    say(f"contact cadence (days): {cadence}; visit target {policy.visit_target_per_week} a week")
    kinds = policy.effective_visit_kinds
    say(f"visits that may count as effective: {', '.join(kinds) if kinds else 'every kind'}")


def _kept_version(current: FunnelPolicy, wanted: str) -> FunnelPolicy:
    """The version named by its fingerprint (or a unique start of it): the policy
    file's, or one the store keeps."""
    from salesengine.domain.policy import version_named

    try:
        return version_named(current, kept_versions() or [], wanted)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--version") from None


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: str
    current: bool
    first_used: datetime | None  # the first recorded stage entry under it
    deals: int  # deals with a stage entered under it
    recorded_at: datetime | None  # when the store kept it (None: not kept)
    source: str | None  # how it came to be kept

    @property
    def kept_since(self) -> str:
        if self.recorded_at is not None:
            return f"{short_time(self.recorded_at)} ({self.source})"
        if self.current:
            return "policy file only"
        return "unknown: weighed with the current version"


def _show_versions(current: FunnelPolicy, as_json: bool) -> None:
    """Every version the store knows: kept ones, and any a stage was entered under."""
    from salesengine.cli.read_models import catch_up, runner
    from salesengine.projections.base import from_us
    from salesengine.reports.weights import version_uses

    r = runner(create=False)
    try:
        catch_up(r)  # it also keeps the versions of older events found on disk
        kept = {v.fingerprint: v for v in STATE.engine(create=False).kept_policy_versions()}
        kept = {fp: v for fp, v in kept.items() if v.name == current.name}
        with r.sql.connect() as conn:
            uses = version_uses(conn, current.name)
    finally:
        r.sql.dispose()
    rows = []
    for fp in set(kept) | set(uses) | {current.fingerprint}:
        used = uses.get(fp)
        v = kept.get(fp)
        rows.append(
            VersionRow(
                version=fp,
                current=fp == current.fingerprint,
                first_used=None if used is None else from_us(used[0]),
                deals=0 if used is None else used[1],
                recorded_at=None if v is None else v.recorded_at,
                source=None if v is None else v.source,
            )
        )
    # In the order they were first used (else kept).
    rows.sort(key=lambda row: (row.first_used or row.recorded_at or _LAST, row.version))
    if as_json:
        print_json({"name": current.name, "version": current.fingerprint, "versions": rows})
        return
    table = Grid(
        [key("version"), key("first used"), number("deals"), text("kept since")],
        title=f"Versions of {current.name}",
    )
    for row in rows:
        table.add(
            row.version + (" (current)" if row.current else ""),
            "-" if row.first_used is None else short_time(row.first_used),
            str(row.deals),
            row.kept_since,
        )
    table.print()


_LAST = datetime.max.replace(tzinfo=UTC)
