"""Two-factor sign-in: enrolment, the code step, replays, recovery codes, the workspace's rule."""

import pytest
from django.test import Client

from accounts import selectors, services
from accounts.errors import ErrorCode
from accounts.middleware import CHECK_EVERY_SECONDS, NO_CODE_NEEDED_KEY
from chat.models import AuditLog
from cxhub.errors import Forbidden, InvalidInput
from tests.accounts.helpers import current_code, enrol, next_step
from tests.factories import PASSWORD, AgentFactory, SupervisorFactory, UserFactory

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    """A browser that gave the right password (and nothing more)."""
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_enrolment_gives_ten_single_use_recovery_codes_and_is_audited():
    user = AgentFactory().user
    device, codes = enrol(user)
    assert device.confirmed and len(set(codes)) == 10
    assert selectors.two_factor_enrolled(user) and selectors.recovery_codes_left(user) == 10
    assert AuditLog.objects.filter(action="two_factor_enrolled", target_id=str(user.pk)).exists()


def test_a_wrong_first_code_does_not_turn_it_on():
    user = AgentFactory().user
    services.totp_enrol_start(user=user)
    with pytest.raises(InvalidInput) as refused:
        services.totp_enrol_confirm(user=user, code="000000")
    assert refused.value.code == ErrorCode.OTP_INVALID
    assert not selectors.two_factor_enrolled(user)


def test_a_code_replayed_within_its_window_is_refused():
    # given an enrolled agent whose authenticator shows a new code
    user = AgentFactory().user
    device, _ = enrol(user)
    next_step(device)
    code = current_code(device)
    # when the code is used, then used again within the same 30 s
    assert services.two_factor_verify(user=user, code=code).pk == device.pk
    with pytest.raises(InvalidInput) as replayed:
        services.two_factor_verify(user=user, code=code)
    # then the second use is refused
    assert replayed.value.code == ErrorCode.OTP_INVALID


def test_a_recovery_code_works_once():
    user = AgentFactory().user
    _, codes = enrol(user)
    assert services.two_factor_verify(user=user, code=codes[0].upper()) is not None
    with pytest.raises(InvalidInput):
        services.two_factor_verify(user=user, code=codes[0])
    assert selectors.recovery_codes_left(user) == 9
    assert AuditLog.objects.filter(action="recovery_code_used", data__left=9).exists()


def test_wrong_codes_are_throttled():
    # given an enrolled agent
    user = AgentFactory().user
    device, _ = enrol(user)
    next_step(device)
    # when a wrong code is given
    with pytest.raises(InvalidInput):
        services.two_factor_verify(user=user, code="000000")
    # then even the right one is refused for a while (the failure was kept although it raised)
    with pytest.raises(Forbidden) as throttled:
        services.two_factor_verify(user=user, code=current_code(device))
    assert throttled.value.code == ErrorCode.OTP_THROTTLED
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_an_enrolled_agent_reaches_nothing_until_the_code_is_given(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the wrong code below does not make the right one wait
    # given an enrolled agent who typed only the password
    user = AgentFactory().user
    device, _ = enrol(user)
    next_step(device)
    client = logged_in(user)
    # then the console and the admin send them to the code step, and the API refuses
    console = client.get("/console/")
    assert console.status_code == 302 and console["Location"].startswith("/console/2fa/?next=/console/")
    api = client.get("/api/v1/conversations/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "two_factor_required"
    # when they give a wrong code, then the current one
    assert client.post("/console/2fa/", {"code": "123456", "next": "/console/"}).status_code == 400
    answer = client.post("/console/2fa/", {"code": current_code(device), "next": "/console/"})
    # then they are in
    assert answer.status_code == 302 and answer["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert client.get("/api/v1/conversations/").status_code == 200


def test_setting_up_a_new_authenticator_needs_the_current_one():
    user = AgentFactory().user
    enrol(user)
    client = logged_in(user)
    answer = client.get("/console/2fa/setup/")
    assert answer.status_code == 302 and answer["Location"].startswith("/console/2fa/")


@pytest.mark.parametrize("make_user", [SupervisorFactory, lambda: AgentFactory(user=UserFactory(is_staff=True))])
def test_the_workspace_can_require_it_of_supervisors_and_admins(make_user):
    # given a workspace that requires two-factor sign-in, and a supervisor (or admin) without it
    services.workspace_settings_update(by=None, require_two_factor=True)
    user = make_user().user
    client = logged_in(user)
    # when they open the console, then they are sent to set it up
    assert client.get("/console/")["Location"].startswith("/console/2fa/")
    assert client.get("/console/2fa/?next=/console/")["Location"].startswith("/console/2fa/setup/")
    page = client.get("/console/2fa/setup/?next=/console/")
    assert page.status_code == 200 and b"totp-secret" in page.content
    # when they confirm a code from their new app, then they get recovery codes and the console
    device = selectors.totp_device_of(user, confirmed=False)
    answer = client.post("/console/2fa/setup/", {"code": current_code(device), "next": "/console/"})
    assert answer.status_code == 200 and answer.content.count(b"<code>") == 10
    assert client.get("/console/").status_code == 200


def test_agents_are_not_required_to_use_it_by_the_workspace_rule():
    services.workspace_settings_update(by=None, require_two_factor=True)
    client = logged_in(AgentFactory().user)
    assert client.get("/console/").status_code == 200


def test_changing_the_workspace_rule_is_audited():
    admin = UserFactory(is_staff=True, is_superuser=True)
    services.workspace_settings_update(by=admin, require_two_factor=True)
    services.workspace_settings_update(by=admin, require_two_factor=True)  # no change: no line
    lines = AuditLog.objects.filter(action="workspace_settings_changed")
    assert [line.data for line in lines] == [{"changes": {"require_two_factor": [False, True]}}]
    assert lines.get().actor == admin


def test_new_recovery_codes_replace_the_old_ones():
    user = AgentFactory().user
    _, old = enrol(user)
    client = logged_in(user)
    session = client.session
    from django_otp import DEVICE_ID_SESSION_KEY

    session[DEVICE_ID_SESSION_KEY] = selectors.totp_device_of(user).persistent_id
    session.save()
    page = client.post("/console/account/recovery-codes/")
    assert page.status_code == 200
    with pytest.raises(InvalidInput):
        services.two_factor_verify(user=user, code=old[0])


def test_a_workspace_that_starts_requiring_it_reaches_open_sessions_within_a_minute():
    # given a supervisor already at work, without a second factor
    client = logged_in(SupervisorFactory().user)
    assert client.get("/console/").status_code == 200
    # when the workspace starts requiring one, and a minute passes
    services.workspace_settings_update(by=None, require_two_factor=True)
    session = client.session
    session[NO_CODE_NEEDED_KEY] -= CHECK_EVERY_SECONDS + 1
    session.save()
    # then their next page asks them to set it up
    assert client.get("/console/")["Location"].startswith("/console/2fa/")
