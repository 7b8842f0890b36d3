"""API tokens in Chromium: an agent makes a read-only token limited to one inbox on the Account page,
sees it once, uses it, and revokes it."""

from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.e2e.conftest import log_in
from tests.factories import InboxFactory


def test_an_agent_makes_a_scoped_token_sees_it_once_and_revokes_it(shop, new_page, screenshot):
    # given an agent of two inboxes, signed in
    other = InboxFactory(name="Returns")
    shop.agent_user.inbox_memberships.create(inbox=other)
    page = new_page()
    log_in(page, shop)
    # when they make a read-only token for the shop's inbox on their Account page
    page.goto(f"{shop.url}/console/account/")
    page.fill("#id_token_name", "Reporting")
    page.check("#id_token_read_only")
    page.select_option("#id_token_inboxes", [str(shop.web_inbox.pk)])
    page.fill("#id_token_days", "30")
    page.click("#token-form button[type=submit]")
    # then the token is shown once, listed by its prefix, and works read-only on that inbox only
    raw = page.inner_text("#new-token").strip()
    screenshot(page, "token-made")
    assert raw.startswith("cxh_") and page.locator("#tokens tbody tr").count() == 1
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    inboxes = client.get("/api/v1/inboxes/").json()["results"]
    assert [inbox["id"] for inbox in inboxes] == [shop.web_inbox.pk]
    assert client.post("/api/v1/agents/me/availability/", {"availability": "busy"}, format="json").status_code == 403
    page.goto(f"{shop.url}/console/account/")
    assert raw not in page.content()
    # when they revoke it, then it stops working
    with page.expect_navigation():
        page.click("#tokens tbody tr button")
    assert page.locator("#tokens tbody tr").count() == 0
    assert client.get("/api/v1/inboxes/").status_code == 401
    assert ApiToken.objects.get().revoked_at is not None
    assert page.errors == []
