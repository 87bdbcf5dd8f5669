"""The page follows the store: a deal opened by someone else shows in the funnel within
a few seconds, without reloading; and every view draws for a manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.dashboard import SETTLED, funnel_of, funnel_on_page, sign_in
from tests.browser.service import salesengine

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore

OPENING_FACTS = ("key_people_known", "org_structure_confirmed", "need_determined", "visit_arranged")


def test_new_events_show_without_reloading(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    sign_in(page, demo.server.url, token, "#/funnel")
    key = ("five-level", "identified", "")
    before = funnel_on_page(page)[key]
    facts = [f"--fact={f}" for f in OPENING_FACTS]
    salesengine(
        demo.db, "deal", "open", "live-refresh-1", "--policy", "five-level", "--owner", "Li Wei",
        "--team", "North 华北", "--amount", "250000", *facts,
    )  # fmt: skip
    page.wait_for_function(
        'n => document.querySelector("[data-testid=funnel-table] tr[data-stage=identified] '
        'td[data-col=deals]")?.innerText === String(n)',
        arg=before[0] + 1,
        timeout=30_000,  # a catch-up, a status poll (2 s) and a redraw, on a loaded machine
    )
    assert funnel_on_page(page) == funnel_of(demo.server.api(token, "/reports/funnel"))


VIEWS = ["funnel", "compare", "conversion", "cycle-time", "forecast", "health", "deals", "deal"]
VIEWS += ["quotas", "portfolio", "anomalies"]


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_draws_for_a_manager(page: Page, demo: DemoStore, view: str) -> None:
    sign_in(page, demo.server.url, demo.tokens["manager"])
    page.goto(f"{demo.server.url}/#/{view}?by=owner")
    page.wait_for_selector(SETTLED)
    error = page.locator("[data-testid=view-error]")
    assert error.count() == 0, error.text_content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"view-{view}.png"), full_page=True)


def test_a_view_that_cannot_draw_its_answer_says_so_and_draws_again_later(
    page: Page, demo: DemoStore
) -> None:
    """An answer the view cannot draw (here a funnel without rows) is an error on the
    page, not a view left loading for good; the next answer draws."""
    sign_in(page, demo.server.url, demo.tokens["manager"], "#/funnel")
    page.route("**/api/v1/reports/funnel*", lambda route: route.fulfill(json={}))
    page.evaluate("() => window.dispatchEvent(new HashChangeEvent('hashchange'))")
    page.wait_for_selector("[data-testid=view][data-state=error]", timeout=15_000)
    shown = page.inner_text("[data-testid=view-error]")
    assert "This view could not be drawn" in shown, shown
    page.unroute("**/api/v1/reports/funnel*")
    page.evaluate("() => window.dispatchEvent(new HashChangeEvent('hashchange'))")
    page.wait_for_selector("[data-testid=funnel-table]", timeout=15_000)
