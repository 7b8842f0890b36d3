"""Browser tests: Debian's chromium driven by Playwright against the live server (tests/conftest.py)."""

import os
import shutil
from pathlib import Path

import pytest

from chat.models import AgentProfile, CannedResponse
from tests.factories import PASSWORD, AgentFactory, InboxFactory, UserFactory

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    """One chromium for the session (Debian's; never downloaded). Skips when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `apt-get install -y chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _django_calls_between_playwright_calls(monkeypatch):
    # Playwright's sync API runs an event loop in this thread between its calls; the test's own
    # ORM calls are plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


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


@pytest.fixture
def screenshot(request):
    """`screenshot(page, "name")` saves test-artifacts/e2e/<test>-<name>.png (kept by CI as artefacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png".replace("/", "_")
        page.screenshot(path=str(path))
        return path

    return save


@pytest.fixture
def shop(live_server_url):
    """The demo's world: a web inbox that allows the live server's origin, an online agent, canned replies."""
    inbox = InboxFactory(name="Acme Shop website", allowed_origins=[live_server_url], prechat_form=False)
    agent = AgentFactory(
        user=UserFactory(username="alice"),
        display_name="Alice Agent",
        availability=AgentProfile.Availability.ONLINE,
        inboxes=[inbox],
    )
    CannedResponse.objects.create(shortcut="thanks", body="Thank you for reaching out!")

    class Shop:
        url = live_server_url
        web_inbox = inbox
        agent_user = agent.user
        password = PASSWORD

    return Shop


def log_in(page, shop, username: str = "alice") -> None:
    page.goto(f"{shop.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", shop.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{shop.url}/console/")


def server_side(function, /, *args, **kwargs):
    """Run a service call as the server would: in its own thread, outside Playwright's event loop.

    Playwright's sync API keeps an event loop in the test's thread, where `async_to_sync` (used by
    the after-commit broadcasts) refuses to run; a worker thread has none.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
