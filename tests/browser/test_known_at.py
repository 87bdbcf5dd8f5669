"""The "known at" control hides a backdated correction: a deal's amount changed today
with an effective date in the past shows in the funnel of that past instant, and is
gone again when the page is asked what was known before it was recorded; the auditor's
replay greys the correction out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.browser.dashboard import (
    funnel_of,
    funnel_on_page,
    set_instant,
    sign_in,
    table_rows,
    wait_for_report,
)
from tests.browser.service import cli_json, salesengine

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore


def _long_stale_deal(demo: DemoStore, skip: set[str]) -> dict[str, Any]:
    """An open deal that has been in its stage for weeks (so it was there ten days ago)."""
    stale = cli_json(demo.db, "health", "--limit", "100")["stale"]
    return next(d for d in stale if d["days_in_stage"] > 20 and d["deal"] not in skip)


def test_known_at_hides_a_backdated_correction(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    as_of = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0).isoformat()
    known_at = demo.seeded.isoformat()
    deal = _long_stale_deal(demo, skip=set())
    before = demo.server.api(token, f"/deals/{deal['deal']}/history", as_of=as_of)["state"]
    raised = Decimal(before["amount"]) + Decimal("1234567")
    backdated = (datetime.now(UTC) - timedelta(days=12)).isoformat()
    salesengine(demo.db, "deal", "amount", deal["deal"], str(raised), "--at", backdated)
    demo.server.caught_up(token)
    key = (deal["policy"], before["stage"], "")

    sign_in(page, demo.server.url, token, f"#/funnel?as_of={as_of}")
    wait_for_report(page, as_of=as_of)
    corrected = funnel_on_page(page)
    assert corrected == funnel_of(demo.server.api(token, "/reports/funnel", as_of=as_of))

    set_instant(page, "known_at", known_at)
    wait_for_report(page, as_of=as_of, known_at=known_at)
    known = funnel_on_page(page)
    api = funnel_of(demo.server.api(token, "/reports/funnel", as_of=as_of, known_at=known_at))
    cli = funnel_of(cli_json(demo.db, "funnel", "--as-of", as_of, "--known-at", known_at))
    assert known == api == cli
    # Only the corrected deal's stage moved, by exactly the correction.
    assert known[key][1] == corrected[key][1] - (raised - Decimal(before["amount"]))
    assert {k: v for k, v in known.items() if k != key} == {
        k: v for k, v in corrected.items() if k != key
    }
    assert "known at" in (page.text_content("[data-testid=view] .meta") or "")


def test_replay_greys_out_what_was_recorded_after_k(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["auditor"]
    deal = _long_stale_deal(demo, skip=set())
    backdated = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    salesengine(demo.db, "deal", "amount", deal["deal"], "4321000", "--at", backdated)
    demo.server.caught_up(token)
    full = demo.server.api(token, f"/deals/{deal['deal']}/history")
    correction = max(full["events"], key=lambda e: e["version"])
    assert correction["type"] == "AmountChanged"

    sign_in(page, demo.server.url, token, f"#/deal/{deal['deal']}")
    row = page.locator(f"[data-testid=replay-events] tr[data-version='{correction['version']}']")
    assert row.get_attribute("data-state") == "known"
    assert "backdated" in (row.text_content() or "")
    assert "4,321,000.00" in (page.text_content("[data-testid=replay-state]") or "")

    known_at = demo.seeded.isoformat()
    set_instant(page, "known_at", known_at)
    wait_for_report(page, known_at=known_at)
    row = page.locator(f"[data-testid=replay-events] tr[data-version='{correction['version']}']")
    assert row.get_attribute("data-state") == "later"
    assert "recorded after K" in (row.text_content() or "")
    grey = row.locator("td").first.evaluate("td => getComputedStyle(td).color")
    black = page.locator("[data-testid=replay-events] tr[data-state=known] td").first.evaluate(
        "td => getComputedStyle(td).color"
    )
    assert grey != black
    later = [r for r in table_rows(page, "replay-events") if r["state"] == "later"]
    assert len(later) >= 1
    assert page.text_content("[data-testid=later-count]") == str(len(later))
    # The deal at T as known at K has the amount from before every correction.
    then = demo.server.api(token, f"/deals/{deal['deal']}/history", known_at=known_at)["state"]
    amount_on_page = page.text_content("[data-testid=replay-state] dd[data-field=amount]") or ""
    assert amount_on_page.split()[0].replace(",", "") == f"{Decimal(then['amount']):.2f}"
    assert then["amount"] != "4321000"
