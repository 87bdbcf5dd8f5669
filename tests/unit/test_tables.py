"""Report tables at any width: numbers and keys whole, text wrapped, then narrower layouts."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from salesengine.cli.tables import Grid, key, number, show, text

KEY = "northwind-enterprise-renewal-2026-0001"
AMOUNT = "6,974,000.55"
REASONS = "no_next_step, next_step_overdue, over_stage_limit"


def drawn(grid: Grid, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        show(grid, console)
    return captured.get().splitlines()


def stale() -> Grid:
    grid = Grid([key("deal"), number("amount"), text("reasons")], title="Stale deals (1)")
    grid.add(KEY, AMOUNT, REASONS)
    return grid


@pytest.mark.parametrize("width", [200, 100, 80, 60, 40, 20])
def test_numbers_and_keys_stay_whole_at_any_width(width: int) -> None:
    lines = drawn(stale(), width)
    assert any(KEY in line for line in lines)
    assert any(AMOUNT in line for line in lines)
    assert "…" not in "".join(lines)
    for reason in ("no_next_step", "next_step_overdue", "over_stage_limit"):
        assert any(reason in line for line in lines), "text wraps between words"


def test_a_table_that_fits_is_one_line_per_row_and_a_narrower_one_wraps_its_text() -> None:
    wide = drawn(stale(), 200)
    assert any(KEY in line and AMOUNT in line and REASONS in line for line in wide)
    narrow = drawn(stale(), 80)
    assert all(len(line) <= 80 for line in narrow)
    row = next(line for line in narrow if KEY in line)
    assert AMOUNT in row and REASONS not in row  # the reasons wrapped onto more lines


def test_too_narrow_for_any_table_prints_one_record_per_block() -> None:
    lines = drawn(stale(), 40)
    assert "Stale deals (1)" in lines
    assert f"deal     {KEY}" in lines
    assert f"amount   {AMOUNT}" in lines
    assert f"reasons  {REASONS}" in lines


def test_a_row_must_have_a_cell_per_column() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        stale().add(KEY, AMOUNT)
