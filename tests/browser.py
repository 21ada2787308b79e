"""Debian's Chromium for the browser tests: where it is, what its absence means, how it starts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "results" / "screenshots"  # copied to docs/screenshots for the README
# Headless in a container: no sandbox, no GPU, and none of the browser's own traffic.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]  # fmt: skip

playwright_api = pytest.importorskip("playwright.sync_api")


def chromium_or_skip() -> None:
    """Skip when Chromium is missing, unless CI demands it (SHOP_REQUIRE_SERVICES=1)."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
        pytest.fail("Chromium is required for the browser tests (./shop test installs it with apt-get)")
    pytest.skip("Chromium is not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium, closed on the way out (the `browser` fixture in conftest.py)."""
    chromium_or_skip()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def open_first_ticket_in_console(browser: Any, gateway_url: str, username: str, password: str) -> Any:
    """An agent signs in to the console on a desktop-sized page and opens the first ticket of the queue."""
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    agent.goto(f"{gateway_url}/console")
    agent.fill("#login-username", username)
    agent.fill("#login-password", password)
    agent.click("#login-submit")
    ticket = agent.locator("#queue .ticket").first
    playwright_api.expect(ticket).to_be_visible(timeout=20000)
    ticket.click()
    return agent
