"""Two-factor sign-in in Chromium: the code step after the password, a replayed code refused,
and a supervisor made to set up an authenticator by the workspace's rule."""

from accounts import selectors, services
from tests.accounts.helpers import current_code, enrol, next_step
from tests.e2e.conftest import server_side
from tests.factories import SupervisorFactory, UserFactory


def password_step(page, shop, username: str) -> None:
    page.goto(f"{shop.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", shop.password)
    page.click("button[type=submit]")


def test_the_code_step_lets_the_agent_in_once_and_refuses_the_replayed_code(shop, new_page, screenshot):
    # given an agent with an authenticator app, showing a fresh code
    device, _ = enrol(shop.agent_user)
    next_step(device)
    code = current_code(device)
    # when they sign in with their password, then they are asked for the code
    page = new_page()
    password_step(page, shop, "alice")
    page.wait_for_url(f"{shop.url}/console/2fa/?next=/console/")
    screenshot(page, "code-step")
    page.fill("#id_code", code)
    page.click("button.btn-primary")
    # then the console opens
    page.wait_for_url(f"{shop.url}/console/")
    page.wait_for_selector(".topnav")
    # when someone who saw the code replays it from another browser within its 30 s
    thief = new_page()
    password_step(thief, shop, "alice")
    thief.wait_for_url(f"{shop.url}/console/2fa/?next=/console/")
    thief.fill("#id_code", code)
    thief.click("button.btn-primary")
    # then it is refused and the console stays closed
    thief.wait_for_selector("#two-factor-error")
    screenshot(thief, "replay-refused")
    assert "/console/2fa/" in thief.url
    assert thief.goto(f"{shop.url}/api/v1/conversations/").status == 403
    assert page.errors == [] and thief.errors == []


def test_a_supervisor_sets_up_the_app_when_the_workspace_requires_it(shop, new_page, screenshot):
    # given a workspace that requires a second factor of supervisors, and a supervisor without one
    server_side(services.workspace_settings_update, by=None, require_two_factor=True)
    supervisor = SupervisorFactory(user=UserFactory(username="sam"), display_name="Sam Supervisor").user
    # when they sign in
    page = new_page()
    password_step(page, shop, "sam")
    # then they must set up an authenticator app: scan, type its first code, keep the recovery codes
    page.wait_for_url(f"{shop.url}/console/2fa/setup/?next=/console/")
    assert page.inner_text("#totp-secret").strip()
    screenshot(page, "setup")
    device = selectors.totp_device_of(supervisor, confirmed=False)
    page.fill("#id_code", current_code(device))
    page.click("button.btn-primary")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#recovery-continue")
    page.wait_for_url(f"{shop.url}/console/")
    assert selectors.two_factor_enrolled(supervisor)
    assert page.errors == []
