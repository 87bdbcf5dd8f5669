"""The Accounts page and an account's page, as a rep and a manager use them: the list
the API answers for them, an account's decision chain drawn as its reporting lines, the
known-at control, and an account out of reach answered as an unknown one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import REP
from tests.browser.dashboard import READY, SETTLED, set_instant, sign_in, table_rows, wait_ready
from tests.browser.service import salesengine

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore

MINE = "Browser Account 浏览器"
THEIRS = "Browser Account of Wu Xia"


@pytest.fixture(scope="module")
def recorded(demo: DemoStore) -> datetime:
    """Two accounts recorded beside the demo: the rep's, with a chain of three people and a
    seminar, and one of a rep of another team. The instant before them is returned."""
    before = datetime.now(UTC)
    commands = [
        ("open", MINE, "--owner", REP, "--team", "North 华北", "--region", "Beijing",
         "--at", "2026-01-05"),
        ("bp", MINE, "800000", "--currency", "CNY", "--at", "2026-01-06"),
        ("sow", MINE, "60", "--at", "2026-01-06"),
        ("contact", "add", MINE, "gao", "--name", "Gao Jun 高军", "--title", "CEO",
         "--role", "policy_maker", "--support", "1", "--at", "2026-01-07"),
        ("contact", "add", MINE, "ma", "--name", "Ma Li", "--role", "decision_maker",
         "--support", "2", "--reports-to", "gao", "--at", "2026-01-07"),
        ("contact", "add", MINE, "he", "--name", "He Ping", "--role", "end_user",
         "--support", "-2", "--reports-to", "ma", "--at", "2026-01-08"),
        ("activity", MINE, "--kind", "seminar", "--effective", "--attendee", "ma",
         "--at", "2026-01-09"),
        ("open", THEIRS, "--owner", "Wu Xia", "--team", "South 华南", "--at", "2026-01-05"),
    ]  # fmt: skip
    for command in commands:
        salesengine(demo.db, "account", *command)
    demo.server.caught_up(demo.tokens["auditor"])  # the page reads the read models
    return before


def test_a_rep_sees_the_accounts_the_api_gives_them(
    page: Page, demo: DemoStore, recorded: datetime
) -> None:
    token = demo.tokens["rep"]
    sign_in(page, demo.server.url, token, "#/accounts")
    expected = demo.server.api(token, "/accounts")["accounts"]
    rows = table_rows(page, "accounts-table")
    assert [r["account"] for r in rows] == [a["account"] for a in expected]
    assert MINE in [r["account"] for r in rows]
    assert THEIRS not in [r["account"] for r in rows]
    for row, doc in zip(rows, expected, strict=True):
        assert row["owner"] == (doc["owner"] or "")
        assert row["grade"].split()[0] == doc["grade"]
        assert row["rad"] == (doc["rad"] or "–")
        late = (
            "" if doc["in_cadence"] else "never contacted" if not doc["last_contact"] else "overdue"
        )
        assert row["in_cadence"] == late
    mine = next(r for r in rows if r["account"] == MINE)
    assert mine["rad"] == "R2"
    assert page.inner_text("[data-testid=accounts-count]") == str(len(expected))


def test_an_account_page_draws_the_chain_as_reporting_lines(
    page: Page, demo: DemoStore, recorded: datetime
) -> None:
    token = demo.tokens["rep"]
    sign_in(page, demo.server.url, token, "#/accounts")
    page.click(f"tr[data-account='{MINE}'] td[data-col=name]")
    page.wait_for_selector("[data-testid=account-title]")
    wait_ready(page)
    assert page.inner_text("[data-testid=account-title]") == MINE
    assert page.inner_text("dd[data-field='RAD cell']") == "R2"
    # Each person sits in the list under their superior: gao > ma > he.
    nested = page.eval_on_selector_all(
        "[data-testid=chain-tree] .person",
        """people => people.map(p => {
             const boss = p.closest('li').parentElement.closest('li');
             return [p.dataset.contact, boss?.querySelector('.person')?.dataset.contact ?? null];
           })""",
    )
    assert nested == [["gao", None], ["ma", "gao"], ["he", "ma"]]
    he = page.locator("[data-testid=chain-person][data-contact=he]")
    assert he.locator("[data-testid=chain-role]").inner_text() == "end user"
    assert he.locator("[data-testid=chain-support]").inner_text() == "opponent (-2)"
    roles = page.inner_text("[data-testid=chain-roles]")
    assert roles == "policy maker: Gao Jun 高军 · end user: He Ping · decision maker: Ma Li"
    activities = table_rows(page, "account-activities")
    assert [(a["kind"], a["effective"], a["on"]) for a in activities] == [
        ("seminar", "yes", "account")
    ]


def test_the_known_at_control_shows_what_was_known_then(
    page: Page, demo: DemoStore, recorded: datetime
) -> None:
    token = demo.tokens["rep"]
    sign_in(page, demo.server.url, token, "#/accounts")
    assert MINE in [r["account"] for r in table_rows(page, "accounts-table")]
    set_instant(page, "known_at", recorded.isoformat())
    page.wait_for_function(
        "() => document.querySelector('[data-testid=view]').dataset.knownAt !== ''"
    )
    wait_ready(page)
    shown = [r["account"] for r in table_rows(page, "accounts-table")]
    assert MINE not in shown
    then = demo.server.api(token, "/accounts", known_at=recorded.isoformat())["accounts"]
    assert shown == [a["account"] for a in then]


def test_an_account_out_of_reach_reads_as_unknown(
    page: Page, demo: DemoStore, recorded: datetime
) -> None:
    sign_in(page, demo.server.url, demo.tokens["rep"])
    page.goto(f"{demo.server.url}/#/account/{THEIRS}")
    page.wait_for_selector(SETTLED)
    error = page.inner_text("[data-testid=view-error]")
    assert f"no account '{THEIRS}'" in error
    page.click("#sign-out")
    sign_in(page, demo.server.url, demo.tokens["manager"], f"#/account/{THEIRS}")
    page.wait_for_selector(READY)
    assert page.inner_text("[data-field=owner]") == "Wu Xia"
