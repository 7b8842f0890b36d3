"""An agent's day in Chromium, start to end: what the agent and the customer each see at every step."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import AgentProfile, Conversation, Message
from tests.factories import AgentFactory, ContactFactory, UserFactory, conversation_with

from .conftest import log_in
from .test_live_chat import open_widget, send_from_widget

pytestmark = pytest.mark.slow

FIRST = "Hi, my parcel #881 never arrived. Tracking: https://track.example/881"
REPLY = "Sorry to hear that! Let me check with the carrier."
NOTE = "Carrier says the parcel is lost; refund it"
HANDOVER = "Refund needed, order #881"


def test_an_agents_day(shop, new_page, screenshot):
    # given Alice (offline for now) and Bob, online with one conversation already
    AgentProfile.objects.filter(user=shop.agent_user).update(availability="offline")
    bob = AgentFactory(user=UserFactory(username="bob"), display_name="Bob Agent", inboxes=[shop.web_inbox]).user
    conversation_with(shop.web_inbox, ContactFactory(name="Bob's earlier customer"), body="Hello Bob")
    assert Conversation.objects.get().assignee == bob

    # when Alice logs in and goes online
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    agent.select_option("#availability-switch", "online")
    expect(agent.locator(".availability")).to_have_attribute("data-current", "online")
    expect(agent.locator("body")).to_have_attribute("data-live", "connected")

    # when a customer writes from the shop's widget
    customer = new_page()
    widget = open_widget(customer, shop)
    send_from_widget(widget, FIRST)
    # then Alice (online, no load) gets the conversation, live, and sees the message with its link
    item = agent.locator(".conv-item", has_text="Web chat").filter(has_not_text="Bob's earlier customer").first
    expect(item).to_contain_text("Alice Agent")
    item.click()
    timeline = agent.locator("#timeline")
    expect(timeline.locator("> .msg.in .bubble")).to_have_text(FIRST)
    expect(timeline.locator("> .msg.in .bubble a")).to_have_attribute("href", "https://track.example/881")
    lines = timeline.locator("> .event-line .event-text")
    expect(lines).to_have_text(["Assigned to Alice Agent (automatic routing)"])
    expect(agent.locator("#reply-channel")).to_have_value("web")
    screenshot(agent, "1-new-conversation")

    # when she replies
    agent.fill("#reply", REPLY)
    agent.click("#send-reply")
    # then the customer sees the answer, signed by her
    answer = widget.locator(".msg.theirs", has_text="check with the carrier")
    expect(answer).to_be_visible()
    expect(answer.locator(".sender")).to_have_text("Alice Agent")

    # when she writes an internal note
    agent.check("#note-toggle")
    agent.fill("#reply", NOTE)
    agent.click("#send-reply")
    expect(timeline.locator("> .msg.note .bubble")).to_have_text(NOTE)
    agent.uncheck("#note-toggle")

    # when she uses the /thanks canned response
    agent.locator("#reply").press_sequentially("/tha")
    expect(agent.locator("#canned li .shortcut")).to_have_text(["/thanks"])
    agent.locator("#reply").press("Enter")
    expect(agent.locator("#reply")).to_have_value("Thank you for reaching out!")
    agent.locator("#reply").press("Control+Enter")
    # then the customer sees the reply and the canned text, never the note
    expect(widget.locator(".msg.theirs:not(.greeting) .bubble")).to_have_text([REPLY, "Thank you for reaching out!"])
    screenshot(customer, "2-customer-answers")

    # when she transfers it to Bob, seeing that he is online and how busy he is
    agent.click("#act-transfer")
    bob_option = agent.locator("#transfer-agent option", has_text="Bob Agent")
    expect(bob_option).to_have_text("Bob Agent — online · 1 / 5 open")
    screenshot(agent, "3-transfer-dialog")
    agent.select_option("#transfer-agent", str(bob.pk))
    agent.fill("#transfer-note", HANDOVER)
    agent.locator("#transfer-form button[type=submit]").click()
    expect(agent.locator("#transfer-dialog")).to_be_hidden()
    # then the header names Bob, and the timeline shows the transfer, then the handover note
    expect(agent.locator("#convo-badges")).to_contain_text("Bob Agent")
    expect(lines.last).to_have_text("Transferred to Bob Agent by Alice Agent")
    expect(timeline.locator("> .msg.note .bubble").last).to_have_text(HANDOVER)

    # when she snoozes it for an hour, in one click
    agent.click("#act-snooze")
    agent.click("#snooze-dialog [data-snooze=hour]")
    expect(agent.locator("#snooze-dialog")).to_be_hidden()
    expect(agent.locator("#convo-badges")).to_contain_text("snoozed until")
    expect(lines.last).to_have_text(re.compile(r"^Snoozed until .+ by Alice Agent$"))
    screenshot(agent, "4-snoozed")

    # when she unsnoozes it
    agent.click("#act-unsnooze")
    expect(agent.locator("#convo-badges .badge-open")).to_be_visible()
    expect(lines.last).to_have_text("Unsnoozed by Alice Agent")

    # when she resolves it
    agent.click("#act-resolve")
    expect(agent.locator("#convo-badges .badge-resolved")).to_be_visible()
    expect(lines.last).to_have_text("Resolved by Alice Agent")
    # then the customer is told the conversation was closed
    expect(widget.locator(".closed-note")).to_have_count(1)
    screenshot(customer, "5-customer-closed")

    # when she reopens it
    agent.click("#act-reopen")
    expect(agent.locator("#convo-badges .badge-open")).to_be_visible()
    expect(lines.last).to_have_text("Reopened by Alice Agent")
    expect(widget.locator(".closed-note")).to_have_count(0)
    screenshot(agent, "6-reopened")

    # then the day reads the same after a reload: messages and events in order
    expected = [
        f"msg:{FIRST}",
        "event:Assigned to Alice Agent (automatic routing)",
        f"msg:{REPLY}",
        f"msg:{NOTE}",
        "msg:Thank you for reaching out!",
        "event:Transferred to Bob Agent by Alice Agent",
        f"msg:{HANDOVER}",
        "event:Snoozed until",
        "event:Unsnoozed by Alice Agent",
        "event:Resolved by Alice Agent",
        "event:Reopened by Alice Agent",
    ]
    live = _timeline(agent)
    agent.reload()
    expect(agent.locator("#timeline > .event-line")).to_have_count(6)
    assert _timeline(agent) == live
    assert len(live) == len(expected) and all(
        seen.startswith(want) for seen, want in zip(live, expected, strict=True)
    ), live
    # and the customer never saw who handled what, nor the notes
    shown = widget.locator(".panel").inner_text()
    for private in ("Transferred", "Snoozed", "Unsnoozed", "Assigned", NOTE, HANDOVER, "Bob Agent"):
        assert private not in shown, private
    conversation = Conversation.objects.exclude(contact__name="Bob's earlier customer").get()
    assert (conversation.status, conversation.assignee) == ("open", bob)
    assert Message.objects.filter(conversation=conversation, is_note=True).count() == 2
    assert agent.errors == [] and customer.errors == []


def _timeline(page) -> list[str]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#timeline > .msg, #timeline > .event-line'), (node) =>
            node.classList.contains('msg') ? 'msg:' + node.querySelector('.bubble').textContent
                                           : 'event:' + node.querySelector('.event-text').textContent)"""
    )
