"""The browser fixtures every browser test shares: one Debian chromium through Playwright.

Registered once, in tests/conftest.py: a second sync Playwright in the same session would
refuse to start inside the first one's event loop.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Pages the tests fulfil themselves (page.route) count as public; let them reach 127.0.0.1.
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]


@pytest.fixture(scope="session")
def chromium():
    """One chromium for the session (Debian's; never downloaded). Skips when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `apt-get install -y chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # From here on Playwright keeps an event loop in this thread (browser tests run last,
        # see tests/conftest.py); the tests' and fixtures' own ORM calls are plain synchronous
        # code all the same, down to the database teardown.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium):
    """`new_page(viewport=…)`: a fresh browser context (own localStorage and cookies) per actor."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = chromium.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        # Content-Security-Policy violations show up as console errors ("Refused to …").
        page.on(
            "console",
            lambda message: (
                page.errors.append(f"console: {message.text}")
                if message.type == "error" and ("Refused" in message.text or "Content Security Policy" in message.text)
                else None
            ),
        )
        page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()
