"""The agent console in Chromium: filters, one timeline across channels, notes, canned replies, actions."""

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import AgentProfile, Conversation, InboxMembership, Message, Priority
from tests.factories import (
    AgentFactory,
    ContactFactory,
    EmailInboxFactory,
    SupervisorFactory,
    TeamFactory,
    UserFactory,
    conversation_with,
)

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow


def test_filters_select_several_values_and_the_list_updates_live(shop, new_page, screenshot):
    # given an agent of a web and an email inbox, with one conversation in each
    email = EmailInboxFactory(name="Support email")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    conversation_with(shop.web_inbox, ContactFactory(name="Wendy Web"), body="Chat question")
    conversation_with(email, ContactFactory(name="Emma Email"), body="Mail question")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    items = page.locator("#conv-list .conv-item .who")
    expect(items).to_have_count(2)

    # when they filter on the email channel
    page.click("details[data-filter=channel] summary")
    page.check("#filters input[name=channel][value=email]")
    # then only the email conversation is listed, and the filter shows what is selected
    expect(items).to_have_text(["Emma Email"])
    expect(page.locator("details[data-filter=channel] summary")).to_have_text("Channel: Email")

    # when they add web too (several values of one filter)
    page.check("#filters input[name=channel][value=web]")
    expect(items).to_have_count(2)

    # when a new customer writes while the agent watches
    server_side(conversation_with, shop.web_inbox, ContactFactory(name="Nina New"), body="Hello there")
    # then it appears on top of the list without a reload
    expect(items.first).to_have_text("Nina New")
    screenshot(page, "filtered")

    # when they filter on "Unassigned" + resolved only, nothing matches; Clear brings everything back
    page.click("details[data-filter=status] summary")
    page.uncheck("#filters input[name=status][value=open]")
    page.uncheck("#filters input[name=status][value=pending]")
    page.check("#filters input[name=status][value=resolved]")
    expect(page.locator("#conv-list")).to_contain_text("No conversations match")
    page.keyboard.press("Escape")  # closes the open filter menu
    expect(page.locator("details[data-filter=status]")).not_to_have_attribute("open", "")
    page.click("#clear-filters")
    expect(items).to_have_count(3)
    assert page.errors == []


def test_one_timeline_across_channels_with_earlier_conversations_and_survey_history(shop, new_page, screenshot):
    # given a person who chatted on the web (resolved), then emailed about the same thing
    email = EmailInboxFactory(name="Support email")
    InboxMembership.objects.create(user=shop.agent_user, inbox=email)
    maria = ContactFactory(name="Maria Garcia", email="maria@example.com", attributes={"plan": "Gold"})
    first = conversation_with(shop.web_inbox, maria, body="My order #1042 is late")
    services.message_send(conversation=first, by=shop.agent_user, body="Checking with the carrier")
    services.conversation_resolve(conversation=first, by=shop.agent_user)
    second = conversation_with(email, maria, body="Still nothing, see tracking 1Z999", channel="email")
    services.message_receive(inbox=shop.web_inbox, contact=maria, channel="web", body="Any news on the web?")
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)

    # when the agent opens the current conversation
    page.goto(f"{shop.url}/console/c/{second.pk}/")

    # then the earlier conversation sits collapsed above, every message shows its channel,
    # the reply goes by default on the channel the customer last used, and the contact panel fills in
    earlier = page.locator("#timeline details.earlier")
    expect(earlier).to_have_count(1)
    expect(earlier.locator(".earlier-body")).to_be_hidden()
    current = page.locator("#timeline > .msg")
    expect(current).to_have_count(2)
    expect(current.locator(".badge-email")).to_have_count(1)
    expect(current.locator(".badge-web")).to_have_count(1)
    expect(page.locator("#reply-channel")).to_have_value("web")
    expect(page.locator("#contact .contact-name")).to_have_text("Maria Garcia")
    expect(page.locator("#contact")).to_contain_text("Gold")
    earlier.locator("summary").click()
    expect(earlier.locator(".msg .bubble")).to_have_text(["My order #1042 is late", "Checking with the carrier"])
    expect(earlier.locator(".survey-inline")).to_have_count(
        len([s for s in _history(shop, maria) if s["conversation_id"] == first.pk])
    )
    screenshot(page, "timeline")
    assert page.errors == []


def _history(shop, contact):
    from feedback.selectors import contact_survey_history

    return contact_survey_history(shop.agent_user, contact)


def test_notes_canned_responses_and_channel_switch_in_the_reply_box(shop, new_page, screenshot):
    # given a web conversation open in the console, and the customer's widget open
    customer = new_page()
    customer.goto(f"{shop.url}/demo/")
    widget = customer.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    widget.locator(".composer textarea").fill("Do you gift-wrap?")
    widget.locator(".composer textarea").press("Enter")
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    agent.locator(".conv-item").first.click()
    expect(agent.locator("#timeline .msg.in")).to_have_count(1)

    # when the agent writes an internal note
    agent.check("#note-toggle")
    expect(agent.locator("#reply-channel")).to_be_disabled()
    agent.fill("#reply", "Check with the warehouse first")
    agent.click("#send-reply")
    # then it shows as a note in the console and never reaches the customer
    note = agent.locator("#timeline .msg.note")
    expect(note.locator(".bubble")).to_have_text("Check with the warehouse first")
    expect(note.locator(".badge-note")).to_have_text("internal note")

    # when the agent types /tha and picks the canned response with Enter
    agent.uncheck("#note-toggle")
    agent.locator("#reply").press_sequentially("/tha")
    expect(agent.locator("#canned li")).to_have_count(1)
    expect(agent.locator("#canned li .shortcut")).to_have_text("/thanks")
    agent.locator("#reply").press("Enter")
    # then the text is inserted, and Ctrl+Enter sends it
    expect(agent.locator("#reply")).to_have_value("Thank you for reaching out!")
    expect(agent.locator("#canned")).to_be_hidden()
    screenshot(agent, "canned")
    agent.locator("#reply").press("Control+Enter")
    expect(widget.locator(".msg.theirs:not(.greeting) .bubble")).to_have_text(["Thank you for reaching out!"])
    assert widget.locator(".msg", has_text="warehouse").count() == 0
    message = Message.objects.get(body="Thank you for reaching out!")
    assert message.channel == "web" and not message.is_note
    assert Message.objects.get(body="Check with the warehouse first").is_note


def test_assign_transfer_snooze_resolve_reopen_and_availability(shop, new_page):
    # given an unassigned conversation and a second agent in a team
    team = TeamFactory(name="Billing")
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    bob.agent.teams.add(team)
    conversation = conversation_with(shop.web_inbox, ContactFactory(name="Paul"), body="Invoice wrong")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
    page = new_page(viewport={"width": 1400, "height": 850})
    log_in(page, shop)
    page.goto(f"{shop.url}/console/c/{conversation.pk}/")
    expect(page.locator("#convo-title")).to_have_text("Paul")

    # when the agent assigns it to themself
    page.click("#act-assign-me")
    expect(page.locator("#convo-badges")).to_contain_text("Alice Agent")
    assert Conversation.objects.get(pk=conversation.pk).assignee == shop.agent_user

    # when they transfer it to Bob in Billing with a note
    page.click("#act-transfer")
    page.select_option("#transfer-agent", str(bob.pk))
    page.select_option("#transfer-team", str(team.pk))
    page.fill("#transfer-note", "Customer was double charged")
    page.locator("#transfer-form button[type=submit]").click()
    expect(page.locator("#transfer-dialog")).to_be_hidden()
    expect(page.locator("#convo-badges")).to_contain_text("Bob Agent")
    expect(page.locator("#timeline .msg.note", has_text="double charged")).to_have_count(1)

    # when they snooze it for an hour (one click on the preset), resolve it, then reopen it
    page.click("#act-snooze")
    page.click("#snooze-dialog [data-snooze=hour]")
    expect(page.locator("#snooze-dialog")).to_be_hidden()
    expect(page.locator("#convo-badges")).to_contain_text("snoozed until")
    expect(page.locator("#act-snooze")).to_be_hidden()
    page.click("#act-resolve")
    expect(page.locator("#convo-badges")).to_contain_text("resolved")
    expect(page.locator("#act-resolve")).to_be_hidden()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee, conversation.team) == ("resolved", bob, team)
    page.click("#act-reopen")
    expect(page.locator("#convo-badges")).to_contain_text("open")
    expect(page.locator("#act-reopen")).to_be_hidden()

    # when the agent switches their availability to busy
    page.select_option("#availability-switch", "busy")
    expect(page.locator(".availability")).to_have_attribute("data-current", "busy")
    for _ in range(50):
        if AgentProfile.objects.get(user=shop.agent_user).availability == "busy":
            break
        page.wait_for_timeout(100)
    assert AgentProfile.objects.get(user=shop.agent_user).availability == "busy"
    assert page.errors == []


def test_supervisor_sees_the_queue_by_priority_and_every_agents_load(shop, new_page, screenshot):
    # given a supervisor, an urgent and a normal unassigned conversation, and an agent with one case
    SupervisorFactory(user=UserFactory(username="sam"), display_name="Sam Supervisor")
    normal = conversation_with(shop.web_inbox, ContactFactory(name="Norm"), body="Normal")
    urgent = conversation_with(shop.web_inbox, ContactFactory(name="Ursula"), body="Urgent")
    mine = conversation_with(shop.web_inbox, ContactFactory(name="Assigned Al"), body="Mine")
    Conversation.objects.filter(pk__in=[normal.pk, urgent.pk]).update(assignee=None)
    services.conversation_set_priority(conversation=urgent, by=None, priority=Priority.URGENT)
    services.conversation_assign(conversation=mine, assignee=shop.agent_user, by=None)
    page = new_page(viewport={"width": 1400, "height": 900})

    # when the supervisor opens the console
    log_in(page, shop, username="sam")

    # then the queue lists the unassigned conversations, urgent first, and the load of every agent
    queue = page.locator("#queue li a")
    expect(queue).to_have_text(["Ursula", "Norm"])
    load = page.locator("#load .load-row", has_text="Alice Agent")
    expect(load).to_contain_text("1 / 5")
    screenshot(page, "supervisor")
    assert page.errors == []
