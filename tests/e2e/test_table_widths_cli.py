"""End to end: report tables piped at 80 columns and narrower never cut a number or a key.

Piped output has no terminal to measure: it is 80 columns wide unless ``COLUMNS`` says
otherwise. Every figure and key the JSON output gives must appear whole on one line of
the text output, whichever layout the width left (table, compact table, blocks).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_inputs import OPENING, iso
from tests.support.cli_runner import CLI, Run, write_jsonl

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")
OWNERS = ("Alexandra Konstantinopoulou", "Li Wei")
KEYS = [f"northwind-enterprise-renewal-2026-{n:04d}" for n in range(1, 6)]
AS_OF = iso(20)
WIDTHS = ("80", "40")


def pipeline(tmp_path: Path) -> Path:
    """Five deals with long keys and large amounts: two advance, one is won, one lost."""
    lines: list[dict[str, Any]] = []
    for n, deal in enumerate(KEYS):
        lines.append(
            {"cmd": "open", "deal": deal, "policy": "five-level", "at": iso(n), "by": OWNERS[0],
             "owner": OWNERS[n % 2], "team": "North Enterprise Accounts",
             "amount": f"{6_974_000 + 1_234_567 * n}.55", "expected_close": "2026-12-31",
             "facts": OPENING}
        )  # fmt: skip
    for deal in KEYS[:3]:
        lines += [{"cmd": "fact", "deal": deal, "name": name, "at": iso(6)} for name in CONTACTED]
        lines.append({"cmd": "advance", "deal": deal, "to": "contacted", "at": iso(7)})
    lines.append({"cmd": "won", "deal": KEYS[0], "at": iso(9)})
    lines.append({"cmd": "lost", "deal": KEYS[1], "reason": "price", "at": iso(10)})
    lines.append({"cmd": "visit", "deal": KEYS[2], "at": iso(11), "by": OWNERS[0]})
    return write_jsonl(tmp_path / "pipeline.jsonl", lines)


def money(value: str) -> str:
    return f"{Decimal(value):,.2f}"


def whole(run: Run, tokens: set[str]) -> None:
    """Each token on one line of the output; nothing shortened with an ellipsis."""
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    missing = sorted(t for t in tokens if not any(t in line for line in lines))
    assert not missing, f"cut or missing: {missing}\n{run.out}"
    assert "…" not in run.out + run.err, run.out


@pytest.fixture
def imported(cli: CLI, tmp_path: Path) -> CLI:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    return cli


def at(cli: CLI, width: str, *args: str) -> Run:
    return cli(*args, env={"COLUMNS": width})


@pytest.mark.parametrize("width", WIDTHS)
def test_funnel_tables_keep_every_amount_whole(imported: CLI, width: str) -> None:
    for by in ((), ("--by", "owner"), ("--by", "team")):
        rows = imported("funnel", "--as-of", AS_OF, *by, "--json").json()["rows"]
        tokens = {money(r[k]) for r in rows if r["deals"] for k in ("amount", "weighted")}
        tokens |= {r[by[1]] for r in rows if by}
        whole(at(imported, width, "funnel", "--as-of", AS_OF, *by), tokens)
        period = ("--as-of", iso(3), "--compare", AS_OF, *by)
        rows = imported("funnel", *period, "--json").json()["rows"]
        tokens = {money(r[f"{m}_amount"]) for r in rows for m in ("start", "in", "out", "end")}
        whole(at(imported, width, "funnel", *period), tokens)


@pytest.mark.parametrize("width", WIDTHS)
def test_window_reports_keep_every_figure_whole(imported: CLI, width: str) -> None:
    window = ("--from", iso(0), "--to", iso(30), "--by", "owner")
    rows = imported("conversion", *window, "--json").json()["rows"]
    tokens = {f"{r['conversion']:.1%}" for r in rows if r["cohort"]} | set(OWNERS)
    whole(at(imported, width, "conversion", *window), tokens)
    rows = imported("cycle-time", *window, "--json").json()["rows"]
    tokens = {f"{r['mean_days']:,.1f}" for r in rows if r["count"]} | set(OWNERS)
    whole(at(imported, width, "cycle-time", *window), tokens)


@pytest.mark.parametrize("width", WIDTHS)
def test_forecast_and_health_keep_amounts_and_deal_keys_whole(imported: CLI, width: str) -> None:
    report = imported("forecast", "--as-of", AS_OF, "--json").json()
    tokens = {money(p[k]) for p in report["weighted_pipeline"] for k in ("amount", "weighted")}
    whole(at(imported, width, "forecast", "--as-of", AS_OF), tokens)
    report = imported("health", "--as-of", AS_OF, "--json").json()
    assert report["stale"], "the example has stale deals"
    tokens = {s["deal"] for s in report["stale"]} | {s["owner"] for s in report["stale"]}
    tokens |= {money(g["amount"]) for g in report["grades"]}
    tokens |= {f"{s['days_in_stage']:.1f}" for s in report["stale"]}
    whole(at(imported, width, "health", "--as-of", AS_OF), tokens)


@pytest.mark.parametrize("width", WIDTHS)
def test_plan_policy_history_and_import_keep_figures_and_keys_whole(
    imported: CLI, tmp_path: Path, width: str
) -> None:
    period = ("--target", "123456789", "--period", "2026-01-01..2027-01-01", "--as-of", AS_OF)
    plan = imported("plan", *period, "--json").json()
    tokens = {f"{Decimal(r['amount']):,.0f}" for r in plan["rows"]}
    whole(at(imported, width, "plan", *period), tokens | {"123,456,789.00"})
    show = imported("policy", "show", "five-level", "--json").json()
    criteria = {c["key"] for s in show["stages"] for c in s["criteria"]}
    whole(at(imported, width, "policy", "show", "five-level"), criteria)
    whole(at(imported, width, "policy", "list"), {"five-level", "funnel-list", "seven-stage"})
    whole(at(imported, width, "history", KEYS[4]), {KEYS[4], "11,912,268.55"})
    again = at(imported, width, "import", str(tmp_path / "pipeline.jsonl"))
    assert again.code == 0 and "…" not in again.out
