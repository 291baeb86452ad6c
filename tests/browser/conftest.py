"""A real browser for the tests: Debian's chromium driven by Playwright, kept off the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("RETURNFLOW_CHROMIUM", "/usr/bin/chromium")
# Screenshots land here so a person can look at what the tests saw.
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():  # never skipped: the page must be seen in a real browser
        pytest.fail(f"no chromium at {CHROMIUM}: run scripts/bootstrap.sh (it installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        yield browser
        browser.close()


def loopback_only(page) -> None:
    """Refuse every request that would leave the machine, so a page cannot lean on a CDN."""
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "http://localhost", "data:", "about:")) else route.abort())
