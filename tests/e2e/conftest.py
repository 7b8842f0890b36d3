"""Browser tests: Debian's chromium driven by Playwright against the live server (tests/conftest.py)."""

import os
from pathlib import Path

import pytest

from chat.models import AgentProfile, CannedResponse
from tests.factories import PASSWORD, AgentFactory, InboxFactory, UserFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


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
