"""The Content-Security-Policy in a real browser: the admin and the API docs work with no violation."""

import shutil

import pytest

from tests.factories import PASSWORD, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (make chromium)"),
]


@pytest.fixture
def page(new_page):
    """A page of the session's chromium (tests/browser.py) that records CSP violations."""
    page = new_page()
    page.violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.violations.append(m.text))
    return page


@pytest.fixture
def root(transactional_db, settings):
    """An admin, created before the browser starts (Playwright's sync API runs an event loop)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_admin_and_api_docs_run_under_the_policy_without_violations(root, live_server, page):
    # given an admin who logs in through the admin's own form
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    # when they open an admin list with its JavaScript (actions, filters) and the API docs
    page.goto(f"{live_server.url}/admin/auth/user/")
    page.wait_for_selector("#result_list")
    page.goto(f"{live_server.url}/api/docs/")
    # then Swagger UI renders the schema from its script file
    page.wait_for_selector(".swagger-ui .information-container", timeout=15000)
    page.wait_for_selector(".opblock", timeout=15000)
    # and the browser reports no blocked script, style or connection
    assert page.violations == []
