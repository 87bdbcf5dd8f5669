"""Who sees what on the page: an auditor replays a deal, a rep sees only their own
deals, and a bad or revoked token brings back the sign-in form with a clear message."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from tests.browser.conftest import REP
from tests.browser.dashboard import (
    SETTLED,
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


def _deal_with_a_path(demo: DemoStore, owner_not: str = "") -> str:
    """A deal that has moved through several stages, of another owner than ``owner_not``."""
    stale = cli_json(demo.db, "health", "--limit", "100")["stale"]
    for stage in ("committed", "developed", "qualified"):
        for d in stale:
            if d["stage"] == stage and d["owner"] != owner_not:
                return str(d["deal"])
    raise AssertionError("the demo has no deal past its first stage")


def test_auditor_replays_a_deal(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["auditor"]
    key = _deal_with_a_path(demo)
    sign_in(page, demo.server.url, token, f"#/deal/{key}")
    history = demo.server.api(token, f"/deals/{key}/history")

    rows = table_rows(page, "replay-events")
    assert [int(r["version"]) for r in rows] == [e["version"] for e in history["events"]]
    assert [r["type"] for r in rows] == [e["type"] for e in history["events"]]
    cells = page.eval_on_selector_all(
        "[data-testid=replay-events] tbody tr",
        "rows => rows.map(tr => [...tr.cells].map(td => td.innerText.trim()))",
    )
    for cell, event in zip(cells, history["events"], strict=True):
        effective, recorded, actor, source = cell[1], cell[2], cell[5], cell[6]
        assert effective == _shown(event["effective_at"])
        assert recorded.startswith(_shown(event["recorded_at"]))
        assert actor == event["actor"]
        assert source.startswith(event["provenance"]["source"])
    path = page.eval_on_selector_all(
        "[data-testid=stage-path] .stage", "chips => chips.map(c => c.dataset.stage)"
    )
    moves = [e for e in history["events"] if e["stage_before"] != e["stage_after"]]
    assert path == [e["stage_after"] for e in moves]
    assert len(path) >= 3

    # Replayed to just after its second stage change: the deal stood in that stage then.
    as_of = moves[1]["effective_at"]
    set_instant(page, "as_of", as_of)
    wait_for_report(page, as_of=as_of)
    then = demo.server.api(token, f"/deals/{key}/history", as_of=as_of)["state"]
    stage = page.text_content("[data-testid=replay-state] dd[data-field=stage]")
    assert stage == then["stage"] == moves[1]["stage_after"]
    after = [r for r in table_rows(page, "replay-events") if r["state"] == "future"]
    assert len(after) == len([e for e in history["events"] if e["effective_at"] > as_of])
    assert after


def _shown(instant: str) -> str:
    """An instant as the page prints it: UTC, to the second."""
    return datetime.fromisoformat(instant).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_rep_sees_only_their_deals(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["rep"]
    sign_in(page, demo.server.url, token, "#/funnel")
    assert page.text_content("[data-testid=who-name]") == REP
    mine = funnel_on_page(page)
    assert mine == funnel_of(demo.server.api(token, "/reports/funnel"))
    everyone = funnel_of(cli_json(demo.db, "funnel"))
    assert 0 < sum(d for d, _, _ in mine.values()) < sum(d for d, _, _ in everyone.values())

    page.click("[data-testid=nav-deals]")
    page.wait_for_selector("table[data-testid=deals-table]")
    seen: list[str] = []
    while True:
        rows = table_rows(page, "deals-table")
        assert rows
        assert {r["owner"] for r in rows} == {REP}
        seen += [r["deal"] for r in rows]
        if page.is_disabled("[data-testid=page-next]"):
            break
        page.click("[data-testid=page-next]")
        page.wait_for_function(
            "first => document.querySelector('[data-testid=deals-table] tr[data-deal]')"
            "?.dataset.deal !== first",
            arg=rows[0]["deal"],
        )
    assert len(seen) == len(set(seen)) == sum(d for d, _, _ in mine.values())

    # Another rep's deal answers as if it did not exist.
    other = _deal_with_a_path(demo, owner_not=REP)
    page.goto(f"{demo.server.url}/#/deal/{other}")
    page.wait_for_selector(SETTLED)
    shown = page.text_content("[data-testid=view-error]") or ""
    assert f"unknown deal '{other}'" in shown  # what a deal that was never opened shows


def test_the_page_survives_a_bad_token(page: Page, demo: DemoStore) -> None:
    page.goto(f"{demo.server.url}/")
    page.fill("[data-testid=token-input]", "se_000000000000_not-a-real-token")
    page.click("[data-testid=sign-in]")
    notice = page.locator("[data-testid=notice]")
    notice.wait_for(state="visible")
    assert "refused" in (notice.text_content() or "")
    assert page.is_visible("[data-testid=token-input]")
    assert page.is_hidden("#main")
    assert page.evaluate("sessionStorage.length") == 0

    # A token revoked while the page is open: the next poll signs out, with the reason.
    made = json.loads(
        salesengine(demo.db, "token", "create", "--name", "Temp", "--role", "auditor", "--json")
    )
    page.fill("[data-testid=token-input]", made["token"])
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("[data-testid=view][data-state=ready]")
    assert page.is_hidden("[data-testid=notice]")
    salesengine(demo.db, "token", "revoke", made["id"])
    page.wait_for_selector("[data-testid=token-input]", state="visible", timeout=10_000)
    assert "refused" in (page.text_content("[data-testid=notice]") or "")
    assert page.is_hidden("#main")
