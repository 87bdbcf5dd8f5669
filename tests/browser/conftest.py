"""A real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright through the
dashboard of a real ``salesengine serve`` on a demo store. Without the browser these
tests skip, and under SALESENGINE_REQUIRE_SERVICES=1 (CI) they fail. Every test leaves a
screenshot of its page under SALESENGINE_ARTIFACTS (default tests/.artifacts/)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.service import Server, make_token, salesengine
from tests.browser.stores import DemoStore
from tests.support.services import service_unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root in a container: no sandbox, no GPU, and none of the
# background traffic (updates, sync) a headless test has no use for.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_ARTIFACTS = Path(__file__).parents[1] / ".artifacts"
ARTIFACTS = Path(os.environ.get("SALESENGINE_ARTIFACTS") or DEFAULT_ARTIFACTS)
MANAGER_TEAMS = ("East 华东", "North 华北", "South 华南")
REP = "Li Wei"


# Package, not session: Playwright's synchronous API keeps an asyncio loop running in
# the main thread while it is open, and every asyncio.run of the tests after these
# would fail on it.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        service_unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        service_unavailable("Playwright", e)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStore]:
    """The demo quarter in a store, served, with a token for each kind of reader. The
    tests that write add their own events beside it; the others compare the page with the
    API and the command line at the same moment, so those writes do not disturb them."""
    db = tmp_path_factory.mktemp("dashboard") / "demo.db"
    salesengine(db, "demo")
    tokens = {
        "manager": make_token(
            db, "Zhou Min 周敏", "manager", *(f"--team={t}" for t in MANAGER_TEAMS)
        ),
        "auditor": make_token(db, "Audrey Auditor", "auditor"),
        "rep": make_token(db, REP, "rep", "--owner", REP),
    }
    # Everything the demo wrote was recorded before this instant, anything a test writes after.
    seeded = datetime.now(UTC)
    time.sleep(0.05)
    server = Server(db=db, log=db.with_name("serve.log"))
    server.start()
    try:
        server.caught_up(tokens["auditor"])
        yield DemoStore(db=db, server=server, tokens=tokens, seeded=seeded)
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage); its screenshot is saved when the test ends,
    and a script error on it fails the test."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="en-US")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
    assert not errors, f"script errors on the page: {errors}"
