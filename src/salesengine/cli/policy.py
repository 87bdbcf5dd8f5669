"""``salesengine policy``: the funnel policies the engine knows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from salesengine.cli.options import STATE
from salesengine.cli.render import add_row, out, print_json

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
    table = Table("name", "title", "stages", "source")
    for p in policies:
        add_row(
            table,
            p.name,
            f"{p.title} {p.title_zh or ''}",
            " → ".join(p.stage_keys),
            str(catalog.source(p.name)),
        )
    out.print(table)


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
    table = Table(
        "stage", "name", "win %", "role", "entry criteria", title=f"{policy.title} ({policy.name})"
    )
    for s in policy.stages:
        criteria = "\n".join(f"{c.key}: {c.description}" for c in s.criteria) or "-"
        add_row(table, s.key, f"{s.name} {s.name_zh}", str(s.probability), s.role, criteria)
    add_row(table, "won", "Won 成交", str(policy.won_probability), "", "contract signed")
    out.print(table)
