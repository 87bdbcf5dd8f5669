"""What a test does and reads on the dashboard, as a person would: sign in, move a
control, wait for the view to be drawn, read the numbers in its tables."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

READY = "[data-testid=view][data-state=ready]"
SETTLED = f"{READY}, [data-testid=view][data-state=error]"


def sign_in(page: Page, base_url: str, token: str, route: str = "") -> None:
    page.goto(f"{base_url}/")
    page.fill("[data-testid=token-input]", token)
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("[data-testid=who-name]:not(:empty)")
    if route:
        page.goto(f"{base_url}/{route}")
    wait_ready(page)


def wait_ready(page: Page, timeout: float = 15_000) -> None:
    """Wait until the view has drawn its latest request (a slider's move starts another)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=view]')?.dataset.state === 'ready'",
        timeout=timeout,
    )


def wait_for_report(page: Page, as_of: str | None = None, known_at: str | None = None) -> None:
    """Wait until the view shows the report of ``as_of`` (and ``known_at``): a control's
    change is drawn after a short debounce, so the view being ready is not enough."""
    page.wait_for_function(
        """([asOf, knownAt]) => {
             const v = document.querySelector('[data-testid=view]');
             const time = (t) => new Date(t).getTime();
             const same = (a, b) => b === null || (a && time(a) === time(b));
             return v?.dataset.state === 'ready' && same(v.dataset.asOf, asOf)
               && same(v.dataset.knownAt, knownAt);
           }""",
        arg=[as_of, known_at],
        timeout=15_000,
    )


def set_instant(page: Page, testid: str, text: str) -> None:
    """Type an instant into a control and commit it (Enter), as a person does."""
    field = page.locator(f"[data-testid={testid}]")
    field.fill(text)
    field.press("Enter")


def number(text: str) -> Decimal:
    """A number as the page prints it (28,913,000.00) as a Decimal."""
    return Decimal(text.replace(",", "").strip())


def table_rows(page: Page, testid: str) -> list[dict[str, Any]]:
    """The rows of a table: its data-* attributes and its cells' text by column."""
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        f"table[data-testid={testid}] tbody tr",
        """rows => rows.map(tr => {
             const row = {...tr.dataset};
             for (const td of tr.querySelectorAll('td[data-col]')) {
               row[td.dataset.col] = td.innerText.trim();
             }
             return row;
           })""",
    )
    return rows


# (policy, stage, group) -> (deals, amount, weighted)
Funnel = dict[tuple[str, str, str], tuple[int, Decimal, Decimal]]


def funnel_on_page(page: Page) -> Funnel:
    """(policy, stage, group) -> (deals, amount, weighted) as the funnel's table shows them."""
    return {
        (r["policy"], r["stage"], r["group"]): (
            int(number(r["deals"])),
            number(r["amount"]),
            number(r["weighted"]),
        )
        for r in table_rows(page, "funnel-table")
    }


def funnel_of(document: dict[str, Any], by: str = "") -> Funnel:
    """The same mapping from a funnel document (the API's or ``funnel --json``'s)."""
    return {
        (r["policy"], r["stage"], str(r[by]) if by else ""): (
            int(r["deals"]),
            Decimal(r["amount"]),
            Decimal(r["weighted"]),
        )
        for r in document["rows"]
    }
