"""Console frames of issue #14 through the real ASGI stack: conversation events, delivery failures
with their reason, over-long bodies; and what the customer's widget never receives."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from chat import selectors, services
from tests.chat.test_consumers import _fresh_channel_layer, console, db, drain, next_of, visitor, widget  # noqa: F401
from tests.factories import AgentFactory, EmailInboxFactory, InboxFactory, TeamFactory, contact_with

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_consoles_see_conversation_events_live_and_the_customer_never_does():
    # given an agent's console and the customer's widget on one conversation
    inbox, team = await db(InboxFactory), await db(TeamFactory, name="Billing")
    alice = (await db(AgentFactory, display_name="Alice", inboxes=[inbox], availability="offline")).user
    bob = (await db(AgentFactory, display_name="Bob", inboxes=[inbox], availability="offline")).user
    token, contact = await visitor(inbox)
    customer, _ = await widget(inbox, token)
    await customer.send_json_to({"type": "message.send", "client_msg_id": "c1", "body": "help"})
    ack = await next_of(customer, "ack")
    conversation_id = ack["message"]["conversation_id"]
    await drain(customer)  # its own message frame
    agent, _ = await console(alice)
    conversation = await db(selectors.conversation_get, alice, conversation_id)

    # when it is transferred, snoozed and unsnoozed
    await db(services.conversation_transfer, conversation=conversation, by=alice, to_agent=bob, to_team=team)
    await db(services.conversation_snooze, conversation=conversation, by=bob, until=timezone.now() + timedelta(hours=1))
    await db(services.conversation_unsnooze, conversation=conversation, by=bob)

    # then the console gets one conversation.event per change, with names and its place
    frames = [f for f in await drain(agent) if f["type"] == "conversation.event"]
    assert [(f["event"]["kind"], f["event"]["actor"]["name"], f["event"]["after_seq"]) for f in frames] == [
        ("transferred", "Alice", 1),
        ("snoozed", "Bob", 1),
        ("woke", "Bob", 1),
    ]
    assert frames[0]["event"]["data"]["to_team"] == {"id": team.pk, "name": "Billing"}
    assert frames[2]["event"]["data"] == {"reason": "agent"}
    # and the customer only learns the status, never who did what
    seen = await drain(customer)
    assert {f["type"] for f in seen} <= {"conversation.updated"}
    assert [f["conversation"] for f in seen] == [
        {"id": conversation_id, "status": "open"},
        {"id": conversation_id, "status": "snoozed"},
        {"id": conversation_id, "status": "open"},
    ]
    await agent.disconnect()
    await customer.disconnect()


async def test_a_delivery_failure_reaches_the_console_with_its_reason(settings):
    # given an agent's email reply, shown on their console
    inbox = await db(EmailInboxFactory)
    alice = (await db(AgentFactory, inboxes=[inbox])).user
    contact = await db(contact_with, "email", "ana@example.com")
    received = await db(services.message_receive, inbox=inbox, contact=contact, channel="email", body="hi")
    reply = await db(services.message_send, conversation=received.message.conversation, by=alice, body="answer")
    agent, _ = await console(alice)

    # when the provider reports that it bounced
    await db(
        services.message_set_delivery, message_id=reply.message.pk, status="failed", error="550 mailbox unavailable"
    )

    # then the console's message.updated says so, and why
    frame = await next_of(agent, "message.updated")
    assert frame["message"]["delivery_status"] == "failed"
    assert frame["message"]["delivery_error"] == "550 mailbox unavailable"
    await agent.disconnect()


async def test_widget_messages_never_carry_agent_only_fields():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    customer, _ = await widget(inbox, token)
    await customer.send_json_to({"type": "message.send", "client_msg_id": "c1", "body": "hello"})
    frames = await drain(customer)
    messages = [f["message"] for f in frames if f["type"] in ("ack", "message")]
    assert messages
    for message in messages:
        assert not {"delivery_status", "delivery_error", "subject", "shortened"} & set(message)
    await customer.disconnect()


async def test_an_over_long_console_message_is_refused_with_body_too_long():
    inbox = await db(InboxFactory)
    alice = (await db(AgentFactory, inboxes=[inbox])).user
    token, _ = await visitor(inbox)
    customer, _ = await widget(inbox, token)
    await customer.send_json_to({"type": "message.send", "client_msg_id": "c1", "body": "hello"})
    conversation_id = (await next_of(customer, "ack"))["message"]["conversation_id"]
    agent, _ = await console(alice)
    limit = settings.MESSAGE_BODY_MAX_CHARS
    await agent.send_json_to(
        {"type": "message.send", "conversation_id": conversation_id, "client_msg_id": "a1", "body": "z" * (limit + 1)}
    )
    error = await next_of(agent, "error")
    assert (error["code"], error["client_msg_id"], error["frame_type"]) == ("body_too_long", "a1", "message.send")
    assert str(limit) in error["detail"]
    await agent.disconnect()
    await customer.disconnect()
