"""A manager moves the funnel's time slider: the numbers on the page are the API's and
the command line's for the instant the slider stands at, split or not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.dashboard import funnel_of, funnel_on_page, sign_in, wait_for_report
from tests.browser.service import cli_json

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore


def test_slider_moves_the_funnel_to_the_api_and_cli_numbers(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    sign_in(page, demo.server.url, token, "#/funnel")
    now = funnel_of(demo.server.api(token, "/reports/funnel"))
    assert funnel_on_page(page) == now

    slider = page.locator("[data-testid=as-of-slider]")
    top = int(slider.get_attribute("max") or 0)
    slider.fill(str(top - 24 * 20))  # a drag twenty days back
    slider.focus()
    for _ in range(5):  # then five hours further back with the keyboard
        slider.press("ArrowLeft")
    as_of = page.input_value("[data-testid=as_of]")
    assert as_of, "the slider left the instant empty (now)"
    wait_for_report(page, as_of=as_of)

    on_page = funnel_on_page(page)
    api = funnel_of(demo.server.api(token, "/reports/funnel", as_of=as_of))
    cli = funnel_of(cli_json(demo.db, "funnel", "--as-of", as_of))
    assert on_page == api == cli
    assert on_page != now, "twenty days back the funnel should differ from today's"
    # The bars carry the same counts as the table.
    for (_, stage, _), (deals, _, _) in on_page.items():
        label = page.text_content(f"[data-testid=bar-{stage}]") or ""
        assert label.startswith(f"{deals} deals"), (stage, label)


def test_split_by_team_at_the_slider_instant(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    sign_in(page, demo.server.url, token, "#/funnel")
    slider = page.locator("[data-testid=as-of-slider]")
    slider.fill(str(int(slider.get_attribute("max") or 0) - 24 * 45))
    page.select_option("[data-testid=by]", "team")
    as_of = page.input_value("[data-testid=as_of]")
    wait_for_report(page, as_of=as_of)
    page.wait_for_selector("table[data-testid=funnel-table] tr[data-group='North 华北']")

    on_page = funnel_on_page(page)
    api = funnel_of(demo.server.api(token, "/reports/funnel", as_of=as_of, by="team"), by="team")
    cli = funnel_of(cli_json(demo.db, "funnel", "--as-of", as_of, "--by", "team"), by="team")
    assert on_page == api == cli
    assert {group for _, _, group in on_page} == {"East 华东", "North 华北", "South 华南"}
    # The chart has a bar per team, its name in CJK as given.
    chart = page.locator("svg.chart").first.text_content() or ""
    assert "North 华北" in chart
