"""The Review page (the case review's one-to-one pack) as a manager and a rep use it:
what it shows is the API's pack for the same T, the owner picker narrows it to one rep,
and a rep is offered no one but themself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import REP
from tests.browser.dashboard import sign_in, table_rows, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore

# Today, 00:00 UTC: the demo's quarter ends now, and the page and the API ask the same T.
AS_OF = datetime.now(UTC).date().isoformat()


def grade(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in doc["grades"] if g["grade"] == name)


def test_the_manager_reads_the_pack_the_api_gives(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    sign_in(page, demo.server.url, token, f"#/review?as_of={AS_OF}")
    doc = demo.server.api(token, "/reports/review", as_of=AS_OF)
    assert page.inner_text("[data-testid=review-a-total]") == str(grade(doc, "A")["total"])
    shown_a = page.eval_on_selector_all(
        "[data-testid=review-a-deal]", "cards => cards.map(c => c.dataset.deal)"
    )
    assert shown_a == [d["deal"] for d in grade(doc, "A")["deals"]]
    for card, d in zip(shown_a, grade(doc, "A")["deals"], strict=True):
        missing = page.inner_text(
            f"[data-testid=review-a-deal][data-deal='{card}'] [data-testid=review-missing]"
        )
        assert missing.startswith(", ".join(d["missing"]) or "nothing")
    b_rows = table_rows(page, "review-b")
    assert [r["deal"] for r in b_rows] == [d["deal"] for d in grade(doc, "B")["deals"]]
    c = grade(doc, "C")
    assert page.inner_text("[data-testid=review-c-title]") == (
        f"C deals: {len(c['deals'])} of {c['total']} sampled"
    )
    assert [r["deal"] for r in table_rows(page, "review-overdue")] == [
        o["deal"] for o in doc["overdue_contacts"]
    ]
    assert page.inner_text("[data-testid=review-new-deals]") == str(doc["new_deals_total"])
    assert sum(len(g["deals"]) for g in doc["grades"]) > 0  # the demo has a pack to read


def test_the_owner_picker_narrows_the_pack_to_one_rep(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["manager"]
    sign_in(page, demo.server.url, token, f"#/review?as_of={AS_OF}")
    page.select_option("[data-testid=review-owner]", REP)
    page.wait_for_function(
        "(who) => document.querySelector('[data-testid=review-who]')?.innerText === who", arg=REP
    )
    wait_ready(page)
    # Bookmarkable: the same page comes back from its address, the owner read as written.
    page.reload()
    page.wait_for_selector("[data-testid=review-who]")
    wait_ready(page)
    assert page.inner_text("[data-testid=review-who]") == REP
    doc = demo.server.api(token, "/reports/review", as_of=AS_OF, owner=REP)
    b_rows = table_rows(page, "review-b")
    assert [r["deal"] for r in b_rows] == [d["deal"] for d in grade(doc, "B")["deals"]]
    assert all(r["owner"] == REP for r in b_rows)
    assert page.inner_text("[data-testid=review-a-total]") == str(grade(doc, "A")["total"])


def test_a_rep_is_offered_only_themself(page: Page, demo: DemoStore) -> None:
    sign_in(page, demo.server.url, demo.tokens["rep"], f"#/review?as_of={AS_OF}")
    owners = page.eval_on_selector_all(
        "[data-testid=review-owner] option", "options => options.map(o => o.value)"
    )
    assert owners == ["", REP]
    deals = page.eval_on_selector_all(
        "[data-testid=view] a[data-testid=deal-link]", "links => links.map(a => a.innerText)"
    )
    mine = demo.server.api(demo.tokens["rep"], "/deals", owner=REP, limit="1000")["items"]
    assert set(deals) <= {d["key"] for d in mine}
