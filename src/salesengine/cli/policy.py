"""``salesengine policy``: the funnel policies the engine knows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import print_json, say
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    # Loaded with the catalogue when a command reads the policies, not at start-up.
    from salesengine.domain.policy import FunnelPolicy

app = typer.Typer(
    help="Funnel policies: stages, probabilities, entry criteria.", no_args_is_help=True
)


def policy_json(policy: FunnelPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "title": policy.title,
        "title_zh": policy.title_zh,
        "currency": policy.currency,
        "fallback": None if policy.fallback is None else policy.fallback.model_dump(),
        "visit_target_per_week": policy.visit_target_per_week,
        "size_bands": list(policy.size_bands),
        "stages": [
            {
                "key": s.key,
                "name": s.name,
                "name_zh": s.name_zh,
                "probability": s.probability,
                "role": s.role,
                "criteria": [{"key": c.key, "description": c.description} for c in s.criteria],
                "time_rules": s.time_rules.model_dump(),
            }
            for s in policy.stages
        ],
        "outcomes": [
            {"key": "won", "probability": policy.won_probability},
            {"key": "lost", "probability": 0},
            {"key": "abandoned", "probability": 0},
        ],
    }


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the policies (built-in and from SALESENGINE_POLICY_PATH)."""
    catalog = STATE.catalog()
    policies = catalog.all()
    if as_json:
        print_json(
            [{"name": p.name, "title": p.title, "stages": list(p.stage_keys)} for p in policies]
        )
        return
    table = Grid([key("name"), text("title"), text("stages"), text("source")])
    for p in policies:
        table.add(
            p.name,
            f"{p.title} {p.title_zh or ''}",
            " → ".join(p.stage_keys),
            str(catalog.source(p.name)),
        )
    table.print()


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Policy name, e.g. five-level.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a policy's stages with their names, probabilities and entry criteria."""
    policy = STATE.catalog().get(name)
    if as_json:
        print_json(policy_json(policy))
        return
    table = Grid(
        [key("stage"), text("name"), number("win %"), text("role"), text("entry criteria")],
        title=f"{policy.title} ({policy.name})",
    )
    for s in policy.stages:
        criteria = "\n".join(f"{c.key}: {c.description}" for c in s.criteria) or "-"
        table.add(s.key, f"{s.name} {s.name_zh}", str(s.probability), s.role, criteria)
    table.add("won", "Won 成交", str(policy.won_probability), "", "contract signed")
    table.print()
    from salesengine.reports.size_bands import SizeBands

    bands = ", ".join(SizeBands(policy.size_bands).labels)
    say(f"size bands (--by size, in the deal's currency): {bands}")
