"""The Django admin in Chromium: a supervisor's change goes through the services (real form, real CSRF)
and reaches an agent's console live."""

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import AuditLog, Conversation, ConversationEvent
from feedback.models import SurveyInvitation
from tests.factories import AgentFactory, ContactFactory, SupervisorFactory, UserFactory, conversation_with

from .conftest import log_in

pytestmark = pytest.mark.slow


def test_a_supervisor_resolves_and_reassigns_in_the_admin_and_the_console_sees_it_live(shop, new_page, screenshot):
    # given a conversation Alice has answered, open in her console
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Paul"), body="My invoice is wrong")
    services.conversation_assign(conversation=conversation, assignee=shop.agent_user)
    services.message_send(conversation=conversation, by=shop.agent_user, body="Let me check.")
    sue = SupervisorFactory(user=UserFactory(username="sue", is_staff=True, is_superuser=True)).user
    console = new_page(viewport={"width": 1400, "height": 850})
    log_in(console, shop)
    console.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(console.locator("#convo-badges")).to_contain_text("Alice Agent")

    # when the supervisor logs in to the admin in a fresh browser context
    admin_page = new_page(viewport={"width": 1400, "height": 1000})
    admin_page.goto(f"{shop.url}/admin/")
    admin_page.fill("#id_username", "sue")
    admin_page.fill("#id_password", shop.password)
    admin_page.click("input[type=submit]")
    expect(admin_page.locator("#site-name")).to_be_visible()
    # and opens the conversation from the list, gives it to Bob, resolves it and saves
    admin_page.goto(f"{shop.url}/admin/chat/conversation/")
    admin_page.locator("#result_list a", has_text=str(conversation.pk)).first.click()
    expect(admin_page.locator("#id_status")).to_have_value("open")
    admin_page.select_option("#id_assignee", str(bob.pk))
    admin_page.select_option("#id_status", "resolved")
    admin_page.click("input[name=_save]")

    # then the admin says it was saved
    expect(admin_page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    screenshot(admin_page, "saved")
    # and the conversation changed as from the console: its events by the supervisor, its survey
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == (Conversation.Status.RESOLVED, bob)
    events = ConversationEvent.objects.filter(conversation=conversation, actor=sue)
    assert list(events.values_list("kind", flat=True)) == ["assigned", "resolved"]
    assert SurveyInvitation.objects.filter(conversation=conversation, resolution_number=1).exists()
    # and Alice's console shows it without a reload
    expect(console.locator("#convo-badges")).to_contain_text("resolved")
    expect(console.locator("#convo-badges")).to_contain_text("Bob Agent")
    expect(console.locator("#act-reopen")).to_be_visible()
    screenshot(console, "console")
    assert admin_page.errors == [] and console.errors == []


def test_a_supervisor_erases_a_contact_from_the_admin_after_a_confirmation(shop, new_page, screenshot):
    # given a customer who wrote, and a supervisor logged in to the admin
    maria = ContactFactory(name="Maria Garcia", email="maria@example.com")
    conversation = conversation_with(shop.web_inbox, maria, body="I live at 5 rue de la Paix")
    sue = SupervisorFactory(user=UserFactory(username="sue", is_staff=True, is_superuser=True)).user
    page = new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{shop.url}/admin/login/")
    page.fill("#id_username", "sue")
    page.fill("#id_password", shop.password)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    # when they tick her in the contact list and run "Erase personal data"
    page.goto(f"{shop.url}/admin/chat/contact/")
    page.locator("#result_list tr", has_text="Maria Garcia").locator("input.action-select").check()
    page.select_option("select[name=action]", "erase_personal_data")
    page.click("button[name=index]")
    # then a confirmation page says what goes and what stays, and nothing is erased yet
    expect(page.locator("#content")).to_contain_text("This cannot be undone")
    screenshot(page, "confirm")
    maria.refresh_from_db()
    assert maria.name == "Maria Garcia"

    # when they confirm
    page.click("input[type=submit][value='Yes, erase']")
    # then the admin says so, and she is erased by contact_erase: audited, her message emptied, the rows kept
    expect(page.locator(".messagelist .success")).to_contain_text("Erased the personal data of 1 contact(s)")
    maria.refresh_from_db()
    assert (maria.name, maria.email) == ("", "")
    assert list(conversation.messages.values_list("body", flat=True)) == [""]
    assert AuditLog.objects.get(action="contact_erase", target_id=str(maria.pk)).actor == sue
    assert page.errors == []
