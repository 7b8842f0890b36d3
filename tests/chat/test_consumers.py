"""The websocket protocol (docs/websocket-protocol.md) through the real ASGI stack, frame by frame."""

import asyncio
import json
import os

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import consumers, events, payloads, services
from chat.models import Message
from chat.widget import visitor_token_revoke, widget_session_start
from cxhub.asgi import application
from tests.factories import AgentFactory, ContactFactory, InboxFactory, conversation_with

pytestmark = [pytest.mark.django_db(transaction=True)]
ORIGIN = "http://127.0.0.1"


def db(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


@pytest.fixture(autouse=True)
async def _fresh_channel_layer():
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    yield
    if hasattr(layer, "flush"):
        await layer.flush()


# --- helpers ---------------------------------------------------------------------------


async def widget_connect(inbox, *, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [(b"host", b"127.0.0.1"), (b"origin", origin.encode())]
    return WebsocketCommunicator(application, f"/ws/widget/?inbox={inbox.public_id}", headers=headers)


async def widget(inbox, token: str) -> tuple[WebsocketCommunicator, dict]:
    """A connected, authenticated widget socket and its auth.ok frame."""
    socket = await widget_connect(inbox)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "auth", "token": token})
    ok = await socket.receive_json_from(timeout=3)
    assert ok["type"] == "auth.ok", ok
    return socket, ok


async def visitor(inbox, **claims):
    session = await db(widget_session_start, inbox=inbox, **claims)
    return session.visitor_token, session.contact


async def console_connect(user, *, query: str = "", origin: str = ORIGIN) -> WebsocketCommunicator:
    """A console socket (not yet connected) with a real session cookie of this user."""

    def cookie():
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    session_id = await db(cookie)
    headers = [(b"host", b"127.0.0.1"), (b"origin", origin.encode()), (b"cookie", f"sessionid={session_id}".encode())]
    return WebsocketCommunicator(application, f"/ws/console/{query}", headers=headers)


async def console(user, query: str = "") -> tuple[WebsocketCommunicator, dict]:
    """A console socket logged in with a real session cookie, and its ready frame."""
    socket = await console_connect(user, query=query)
    connected, _ = await socket.connect()
    assert connected
    ready = await socket.receive_json_from(timeout=3)
    assert ready["type"] == "ready", ready
    return socket, ready


async def next_of(socket, frame_type: str, *, timeout: float = 3) -> dict:
    """The next frame of this type (others are skipped)."""
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


async def frames_until(socket, frame_type: str, *, timeout: float = 3) -> list[dict]:
    """Every frame up to and including the first of this type."""
    frames = []
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def drain(socket, *, quiet: float = 0.3) -> list[dict]:
    """Every frame until the socket has been quiet for `quiet` seconds."""
    frames = []
    while not await socket.receive_nothing(timeout=quiet):
        frames.append(await socket.receive_json_from())
    return frames


async def close_code(socket, *, timeout: float = 3) -> int:
    while True:
        output = await socket.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def still_open(socket) -> None:
    """The socket answers a harmless frame (typing without a conversation gives nothing back)."""
    await socket.send_to(text_data="{")
    frame = await socket.receive_json_from(timeout=3)
    assert frame["code"] == "invalid_json"


async def setup_inbox_with_agent(**agent_kwargs):
    inbox = await db(InboxFactory)
    agent = await db(AgentFactory, inboxes=[inbox], **agent_kwargs)
    return inbox, agent.user


# --- handshake and auth ----------------------------------------------------------------


async def test_foreign_origin_or_unknown_inbox_refuses_the_handshake():
    inbox = await db(InboxFactory, allowed_origins=["https://shop.example"])
    # a host the server allows, but not an origin the inbox allows
    refused = await widget_connect(inbox, origin="http://localhost")
    connected, _ = await refused.connect()
    assert not connected
    unknown = WebsocketCommunicator(application, "/ws/widget/?inbox=nope", headers=[(b"origin", ORIGIN.encode())])
    connected, _ = await unknown.connect()
    assert not connected


async def test_the_widget_works_on_the_company_website_but_the_console_only_on_cxhub():
    # given an inbox embedded on the company's own site, an origin that is not one of cxhub's hosts
    inbox = await db(InboxFactory, allowed_origins=["https://shop.example"])
    token, contact = await visitor(inbox)
    # when the widget connects from that site, then it signs in
    socket = await widget_connect(inbox, origin="https://shop.example")
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "auth", "token": token})
    ok = await socket.receive_json_from(timeout=3)
    assert ok["type"] == "auth.ok" and ok["contact_id"] == contact.pk
    await socket.disconnect()
    # but a console page opened from that site is refused at the handshake
    _, user = await setup_inbox_with_agent()
    foreign = await console_connect(user, origin="https://shop.example")
    connected, _ = await foreign.connect()
    assert not connected


@pytest.mark.parametrize(
    "first_frame",
    [
        {"type": "message.send", "client_msg_id": "a", "body": "hi"},
        {"type": "auth", "token": "forged-token"},
        {"type": "auth"},
        {"type": "auth", "token": 12},
        "not json",
    ],
)
async def test_anything_but_a_good_auth_first_closes_4401(first_frame):
    inbox = await db(InboxFactory)
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    if isinstance(first_frame, str):
        await socket.send_to(text_data=first_frame)
    else:
        await socket.send_json_to(first_frame)
    assert await close_code(socket) == 4401


async def test_revoked_or_foreign_inbox_token_closes_4401():
    inbox, other = await db(InboxFactory), await db(InboxFactory)
    token, _ = await visitor(inbox)
    socket = await widget_connect(other)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": token})
    assert await close_code(socket) == 4401

    await db(visitor_token_revoke, inbox=inbox, token=token)
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": token})
    assert await close_code(socket) == 4401


async def test_a_token_revoked_while_connected_closes_4401_on_the_next_message():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    await db(visitor_token_revoke, inbox=inbox, token=token)
    await socket.send_json_to({"type": "message.send", "client_msg_id": "after", "body": "still here?"})
    assert await close_code(socket) == 4401
    assert await db(Message.objects.count) == 0


async def test_no_auth_in_time_closes_4401(monkeypatch):
    monkeypatch.setattr(consumers.WidgetConsumer, "auth_timeout_seconds", 0.2)
    inbox = await db(InboxFactory)
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    assert await close_code(socket, timeout=3) == 4401


async def test_auth_ok_tells_the_open_conversation_and_presence():
    # given a visitor with an open conversation of two messages, and an online agent
    inbox, _ = await setup_inbox_with_agent(availability="online")
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    await db(services.message_receive, inbox=inbox, contact=contact, channel="web", body="again")
    # when the widget authenticates
    socket, ok = await widget(inbox, token)
    # then it learns where it stands
    assert ok == {
        "type": "auth.ok",
        "contact_id": contact.pk,
        "conversation_id": conversation.pk,
        "status": "open",
        "last_seq": 2,
        "agents_online": True,
    }
    # and a second auth is an error, not a new login
    await socket.send_json_to({"type": "auth", "token": token})
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.disconnect()


async def test_anonymous_console_closes_4401():
    socket = WebsocketCommunicator(application, "/ws/console/", headers=[(b"origin", ORIGIN.encode())])
    connected, _ = await socket.connect()
    assert connected
    assert await close_code(socket) == 4401


async def test_console_ready_lists_inboxes_and_agents():
    inbox, user = await setup_inbox_with_agent(availability="busy", display_name="Ada")
    await db(InboxFactory)  # not hers
    socket, ready = await console(user)
    assert ready["inbox_ids"] == [inbox.pk]
    assert ready["user"] == {"id": user.pk, "name": "Ada", "availability": "busy"}
    assert ready["agents"] == [{"id": user.pk, "name": "Ada", "availability": "busy", "inbox_ids": [inbox.pk]}]
    await socket.disconnect()


# --- messages --------------------------------------------------------------------------


async def test_widget_message_is_stored_acked_and_reaches_the_console():
    # given a console agent and a visitor
    inbox, user = await setup_inbox_with_agent()
    agent_socket, _ = await console(user)
    token, contact = await visitor(inbox, name="Bea")
    socket, _ = await widget(inbox, token)
    # when the visitor sends a message
    await socket.send_json_to({"type": "message.send", "client_msg_id": "m-1", "body": "Where is my order?"})
    frames = await frames_until(socket, "ack")
    frames += await drain(socket)
    # then it is stored, acknowledged and echoed once as a message frame, without agent-only fields
    ack = next(f for f in frames if f["type"] == "ack")
    echo = next(f for f in frames if f["type"] == "message")
    stored = await db(Message.objects.get, client_msg_id="m-1")
    assert ack["client_msg_id"] == "m-1" and ack["message"]["id"] == stored.pk == echo["message"]["id"]
    assert ack["message"]["seq"] == 1 and ack["message"]["channel"] == "web"
    assert ack["message"]["sender"] == {"kind": "contact", "name": "Bea"}
    assert "delivery_status" not in ack["message"] and "delivery_status" not in echo["message"]
    assert [f["type"] for f in frames].count("message") == 1
    assert {"type": "conversation.updated", "conversation": {"id": stored.conversation_id, "status": "open"}} in frames
    # and the agent's console gets the message and the conversation's new state
    message = await next_of(agent_socket, "message")
    assert message["message"]["body"] == "Where is my order?"
    assert message["message"]["delivery_status"] == "received"
    updated = await next_of(agent_socket, "conversation.updated")
    assert updated["conversation"]["id"] == stored.conversation_id
    await socket.disconnect()
    await agent_socket.disconnect()


async def test_duplicate_client_msg_id_is_acked_again_and_stored_once():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    frame = {"type": "message.send", "client_msg_id": "same", "body": "hello"}
    await socket.send_json_to(frame)
    first = await next_of(socket, "ack")
    await drain(socket)
    await socket.send_json_to(frame)
    second = await next_of(socket, "ack")
    assert second == first
    assert await db(Message.objects.filter(client_msg_id="same").count) == 1
    assert await socket.receive_nothing(timeout=0.2)  # no second message frame
    await socket.disconnect()


async def test_agent_reply_and_note_reach_the_right_sockets():
    # given a conversation with a visitor watching it
    inbox, user = await setup_inbox_with_agent(display_name="Ada")
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    socket, _ = await widget(inbox, token)
    agent_socket, _ = await console(user)
    # when the agent writes a note, then a reply
    await agent_socket.send_json_to(
        {
            "type": "message.send",
            "conversation_id": conversation.pk,
            "client_msg_id": "n1",
            "body": "VIP",
            "is_note": True,
        }
    )
    note_frames = await frames_until(agent_socket, "ack")
    await agent_socket.send_json_to(
        {"type": "message.send", "conversation_id": conversation.pk, "client_msg_id": "r1", "body": "Hi there"}
    )
    await next_of(agent_socket, "ack")
    # then the agent saw the note; the visitor gets only the reply (seq 3), never the note
    assert any(f["type"] == "ack" and f["message"]["is_note"] for f in note_frames)
    reply = await next_of(socket, "message")
    assert reply["message"]["seq"] == 3 and reply["message"]["body"] == "Hi there"
    assert reply["message"]["sender"] == {"kind": "agent", "name": "Ada"}
    assert not reply["message"]["is_note"]
    frames = await drain(socket)
    assert all(f.get("message", {}).get("body") != "VIP" for f in frames)
    assert all(f["type"] != "message" for f in frames)
    await socket.disconnect()
    await agent_socket.disconnect()


async def test_agent_cannot_write_to_or_resume_a_conversation_they_cannot_see():
    inbox, user = await setup_inbox_with_agent()
    foreign_inbox = await db(InboxFactory)
    foreign = await db(conversation_with, foreign_inbox)
    agent_socket, _ = await console(user)
    await agent_socket.send_json_to(
        {"type": "message.send", "conversation_id": foreign.pk, "client_msg_id": "x", "body": "peek"}
    )
    error = await next_of(agent_socket, "error")
    assert error["code"] == "not_found" and error["client_msg_id"] == "x"
    await agent_socket.send_json_to({"type": "resume", "conversation_id": foreign.pk, "after_seq": 0})
    assert (await next_of(agent_socket, "error"))["code"] == "not_found"
    await agent_socket.send_json_to({"type": "typing", "conversation_id": foreign.pk, "on": True})
    assert (await next_of(agent_socket, "error"))["code"] == "not_found"
    assert await db(Message.objects.filter(body="peek").count) == 0
    await agent_socket.disconnect()


async def test_reply_to_a_resolved_conversation_is_an_error():
    inbox, user = await setup_inbox_with_agent()
    conversation = await db(conversation_with, inbox)
    await db(services.conversation_resolve, conversation=conversation)
    agent_socket, _ = await console(user)
    await agent_socket.send_json_to(
        {"type": "message.send", "conversation_id": conversation.pk, "client_msg_id": "late", "body": "hello?"}
    )
    assert (await next_of(agent_socket, "error"))["code"] == "conversation_resolved"
    await agent_socket.disconnect()


# --- resume ----------------------------------------------------------------------------


async def test_resume_gives_exactly_the_missed_messages_in_order_without_notes():
    # given a visitor who saw the first message, then went away while four more were written
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact, body="one")
    await db(services.message_send, conversation=conversation, by=user, body="two")
    await db(services.message_send, conversation=conversation, by=user, body="secret", is_note=True)
    await db(services.message_receive, inbox=inbox, contact=contact, channel="web", body="four")
    await db(services.message_send, conversation=conversation, by=user, body="five")
    # when the widget reconnects and resumes after seq 1
    socket, ok = await widget(inbox, token)
    assert ok["last_seq"] == 5
    await socket.send_json_to({"type": "resume", "conversation_id": conversation.pk, "after_seq": 1})
    frames = await frames_until(socket, "resume.done")
    # then it gets 2, 4, 5 in order (never the note), then the marker
    assert [(f["message"]["seq"], f["message"]["body"]) for f in frames[:-1]] == [(2, "two"), (4, "four"), (5, "five")]
    assert frames[-1] == {"type": "resume.done", "conversation_id": conversation.pk, "last_seq": 5}
    # and a console resuming gets the note too
    agent_socket, _ = await console(user)
    await agent_socket.send_json_to({"type": "resume", "conversation_id": conversation.pk, "after_seq": 2})
    frames = await frames_until(agent_socket, "resume.done")
    assert [f["message"]["body"] for f in frames[:-1]] == ["secret", "four", "five"]
    # and live messages after the resume are not doubled
    await db(services.message_send, conversation=conversation, by=user, body="six")
    for s in (socket, agent_socket):
        live = [f["message"]["seq"] for f in await drain(s) if f["type"] == "message"]
        assert live == [6]
    await socket.disconnect()
    await agent_socket.disconnect()


async def test_auth_can_resume_in_the_same_step_so_nothing_interleaves():
    # given a visitor who has seen seq 1 of their conversation, which now has 3 messages
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact, body="one")
    await db(services.message_send, conversation=conversation, by=user, body="two")
    await db(services.message_send, conversation=conversation, by=user, body="three")
    # when the widget authenticates with its position
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": token, "conversation_id": conversation.pk, "after_seq": 1})
    # then auth.ok is followed directly by the missed messages and resume.done
    frames = await frames_until(socket, "resume.done")
    assert [f["type"] for f in frames] == ["auth.ok", "message", "message", "resume.done"]
    assert [f["message"]["seq"] for f in frames[1:3]] == [2, 3]
    # and the next live message follows in order, once
    await db(services.message_send, conversation=conversation, by=user, body="four")
    assert [f["message"]["seq"] for f in await drain(socket) if f["type"] == "message"] == [4]
    await socket.disconnect()


async def test_auth_resume_of_a_foreign_conversation_is_not_found():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    other = await db(conversation_with, inbox, await db(ContactFactory))
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": token, "conversation_id": other.pk, "after_seq": 0})
    assert (await socket.receive_json_from())["type"] == "auth.ok"
    assert (await socket.receive_json_from())["code"] == "not_found"
    await socket.disconnect()


async def test_a_late_resume_sends_only_what_the_socket_has_not_sent():
    # given a console that got seq 3 live before asking to resume after seq 1
    inbox, user = await setup_inbox_with_agent()
    conversation = await db(conversation_with, inbox, body="one")
    await db(services.message_send, conversation=conversation, by=user, body="two")
    agent_socket, _ = await console(user)
    await db(services.message_send, conversation=conversation, by=user, body="three")
    assert [f["message"]["seq"] for f in await drain(agent_socket) if f["type"] == "message"] == [3]
    # when it resumes after seq 1
    await agent_socket.send_json_to({"type": "resume", "conversation_id": conversation.pk, "after_seq": 1})
    frames = await frames_until(agent_socket, "resume.done")
    # then it gets seq 2 only, and resuming again gives nothing new
    assert [f["message"]["seq"] for f in frames if f["type"] == "message"] == [2]
    assert frames[-1]["last_seq"] == 3
    await agent_socket.send_json_to({"type": "resume", "conversation_id": conversation.pk, "after_seq": 3})
    assert [f["type"] for f in await frames_until(agent_socket, "resume.done")] == ["resume.done"]
    await agent_socket.disconnect()


async def test_console_can_resume_while_connecting():
    # given two conversations the agent has partly seen, and one of another inbox
    inbox, user = await setup_inbox_with_agent()
    first = await db(conversation_with, inbox, body="a1")
    await db(services.message_send, conversation=first, by=user, body="a2")
    second = await db(conversation_with, inbox, body="b1")
    foreign = await db(conversation_with, await db(InboxFactory))
    # when the console reconnects with its positions in the URL
    socket, _ = await console(user, f"?resume={first.pk}:1,{second.pk}:0,{foreign.pk}:0,junk")
    frames = await drain(socket)
    # then it gets what it missed, conversation by conversation, and not_found for the foreign one
    assert [(f["type"], f.get("message", {}).get("body")) for f in frames] == [
        ("message", "a2"),
        ("resume.done", None),
        ("message", "b1"),
        ("resume.done", None),
        ("error", None),
    ]
    assert frames[-1]["code"] == "not_found"
    await socket.disconnect()


async def test_widget_cannot_resume_someone_elses_conversation():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    other = await db(conversation_with, inbox, await db(ContactFactory))
    socket, _ = await widget(inbox, token)
    await socket.send_json_to({"type": "resume", "conversation_id": other.pk, "after_seq": 0})
    assert (await socket.receive_json_from())["code"] == "not_found"
    await socket.disconnect()


async def test_a_repeated_event_is_not_doubled():
    # given a widget that has seen seq 1, then got 2 and 3 live
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    socket, _ = await widget(inbox, token)

    def write(body):
        message = services.message_send(conversation=conversation, by=user, body=body).message
        return payloads.message_for_console(Message.objects.select_related("conversation__contact").get(pk=message.pk))

    written = [await db(write, "2"), await db(write, "3")]
    frames = await drain(socket)
    assert [f["message"]["seq"] for f in frames if f["type"] == "message"] == [2, 3]
    # when their events arrive again (a retried broadcast), in any order
    group = events.contact_group(contact.pk)
    for payload in reversed(written):
        await get_channel_layer().group_send(group, {"type": "chat.message", "message": payload})
    # then nothing is sent twice
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="reaches into the in-memory layer's groups")
async def test_an_overtaking_event_fills_the_gap_from_the_database():
    # given a widget at seq 1
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    socket, _ = await widget(inbox, token)
    layer = get_channel_layer()
    # when messages 2 and 3 are committed while their broadcasts are still on their way
    await layer.group_discard(events.contact_group(contact.pk), socket_channel := await _channel_of(socket, layer))

    def write(body):
        message = services.message_send(conversation=conversation, by=user, body=body).message
        return payloads.message_for_console(Message.objects.select_related("conversation__contact").get(pk=message.pk))

    two, three = await db(write, "two"), await db(write, "three")
    await layer.group_add(events.contact_group(contact.pk), socket_channel)
    # and 3's event arrives before 2's
    group = events.contact_group(contact.pk)
    await layer.group_send(group, {"type": "chat.message", "message": three})
    await layer.group_send(group, {"type": "chat.message", "message": two})
    frames = await drain(socket)
    # then the widget gets 2 then 3, once each
    assert [f["message"]["seq"] for f in frames if f["type"] == "message"] == [2, 3]
    await socket.disconnect()


async def _channel_of(socket, layer) -> str:
    """The channel name of the consumer behind a communicator (it is the only member of its groups)."""
    for name, channels in layer.groups.items():
        if name.startswith("visitors."):
            return next(iter(channels))
    raise AssertionError("no widget channel")


# --- bad frames ------------------------------------------------------------------------


async def test_bad_frames_get_errors_and_the_socket_stays_open():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    cases = [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        (json.dumps({"no": "type"}), "unknown_type"),
        (json.dumps({"type": "launch.rockets"}), "unknown_type"),
        (json.dumps({"type": "message.send", "body": "no id"}), "invalid"),
        (json.dumps({"type": "message.send", "client_msg_id": "x" * 65, "body": "long id"}), "invalid"),
        (json.dumps({"type": "message.send", "client_msg_id": "e", "body": "   "}), "invalid"),
        (json.dumps({"type": "message.send", "client_msg_id": "f", "body": "x" * 10_001}), "body_too_long"),
        (json.dumps({"type": "resume", "conversation_id": "1", "after_seq": 0}), "invalid"),
        (json.dumps({"type": "resume", "conversation_id": 1, "after_seq": -1}), "invalid"),
        (json.dumps({"type": "typing", "on": "yes"}), "invalid"),
        (json.dumps({"type": "read", "seq": True}), "invalid"),
        # survey.answer is feedback's frame (feedback.services.survey_answer_frame): the token is
        # checked first; a bad score on a real invitation is tests/feedback/test_survey_widget.py's
        (json.dumps({"type": "survey.answer", "invitation": "t", "csat": 9}), "survey_not_found"),
        (json.dumps({"type": "survey.answer", "csat": 5}), "survey_not_found"),
    ]
    for text, code in cases:
        await socket.send_to(text_data=text)
        frame = await socket.receive_json_from(timeout=3)
        assert (frame["type"], frame["code"]) == ("error", code), text[:60]
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from())["code"] == "invalid_json"
    assert await db(Message.objects.count) == 0
    await still_open(socket)
    await socket.disconnect()


async def test_oversized_frame_gets_an_error_then_close_1009():
    inbox = await db(InboxFactory)
    token, _ = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    await socket.send_json_to({"type": "message.send", "client_msg_id": "big", "body": "x" * (64 * 1024)})
    frame = await socket.receive_json_from()
    assert frame["code"] == "frame_too_large"
    assert await close_code(socket) == 1009
    assert await db(Message.objects.count) == 0


async def test_a_flood_is_rate_limited_per_socket():
    inbox, user = await setup_inbox_with_agent()
    agent_socket, _ = await console(user)
    for _ in range(30):
        await agent_socket.send_json_to({"type": "presence", "availability": "bogus"})
    codes = [(await agent_socket.receive_json_from())["code"] for _ in range(30)]
    assert codes.count("rate_limited") >= 5
    assert codes[:20] == ["invalid"] * 20  # the burst passes
    await asyncio.sleep(0.3)  # the bucket refills
    await agent_socket.send_json_to({"type": "presence", "availability": "bogus"})
    assert (await agent_socket.receive_json_from())["code"] == "invalid"
    await agent_socket.disconnect()


async def test_unknown_group_events_are_ignored():
    inbox = await db(InboxFactory)
    token, contact = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    await get_channel_layer().group_send(events.contact_group(contact.pk), {"type": "chat.something_new", "x": 1})
    assert await socket.receive_nothing(timeout=0.2)
    await still_open(socket)
    await socket.disconnect()


# --- typing, read, presence, conversation updates ---------------------------------------


async def test_typing_and_read_are_relayed_both_ways_but_notes_stay_private():
    inbox, user = await setup_inbox_with_agent(display_name="Ada")
    token, contact = await visitor(inbox, name="Bea")
    conversation = await db(conversation_with, inbox, contact)
    socket, _ = await widget(inbox, token)
    agent_socket, _ = await console(user)
    other_agent = await db(AgentFactory, inboxes=[inbox])
    other_socket, _ = await console(other_agent.user)

    await socket.send_json_to({"type": "typing", "on": True})
    typing = await next_of(agent_socket, "typing")
    assert typing["conversation_id"] == conversation.pk and typing["on"] is True
    assert typing["sender"]["kind"] == "contact" and typing["sender"]["name"] == "Bea"
    await socket.send_json_to({"type": "read", "seq": 1})
    read = await next_of(agent_socket, "read")
    assert read["seq"] == 1 and read["reader"]["kind"] == "contact"

    await drain(other_socket)
    await agent_socket.send_json_to({"type": "typing", "conversation_id": conversation.pk, "on": True})
    typing = await next_of(socket, "typing")
    assert typing == {
        "type": "typing",
        "conversation_id": conversation.pk,
        "on": True,
        "sender": {"kind": "agent", "name": "Ada"},
    }
    assert (await next_of(other_socket, "typing"))["sender"]["id"] == user.pk
    await agent_socket.send_json_to({"type": "read", "conversation_id": conversation.pk, "seq": 1})
    assert (await next_of(socket, "read"))["reader"] == {"kind": "agent", "name": "Ada"}

    await agent_socket.send_json_to({"type": "typing", "conversation_id": conversation.pk, "on": True, "is_note": True})
    assert (await next_of(other_socket, "typing"))["is_note"] is True
    assert await socket.receive_nothing(timeout=0.3)  # the customer never sees a note being typed
    # nobody gets their own typing back
    assert await agent_socket.receive_nothing(timeout=0.2)
    for s in (socket, agent_socket, other_socket):
        await s.disconnect()


async def test_presence_reaches_consoles_and_widgets_and_releases_unanswered_work():
    # given two agents of an inbox, a widget, and a conversation assigned to the first
    inbox, user = await setup_inbox_with_agent(display_name="Ada", availability="online")
    watcher = await db(AgentFactory, inboxes=[inbox], availability="offline")
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    await db(services.conversation_assign, conversation=conversation, assignee=user)
    socket, ok = await widget(inbox, token)
    assert ok["agents_online"] is True
    agent_socket, _ = await console(user)
    watcher_socket, _ = await console(watcher.user)
    # when the first agent goes offline from the console
    await agent_socket.send_json_to({"type": "presence", "availability": "offline"})
    # then the other console hears it, the widget learns nobody is online, the conversation is released
    presence = await next_of(watcher_socket, "presence")
    assert presence == {
        "type": "presence",
        "inbox_id": inbox.pk,
        "agent": {"id": user.pk, "name": "Ada", "availability": "offline"},
    }
    assert await next_of(socket, "presence") == {"type": "presence", "agents_online": False}
    await conversation.arefresh_from_db()
    assert conversation.assignee_id is None
    # and a bad availability is an error
    await agent_socket.send_json_to({"type": "presence", "availability": "asleep"})
    assert (await next_of(agent_socket, "error"))["code"] == "invalid"
    for s in (socket, agent_socket, watcher_socket):
        await s.disconnect()


async def test_conversation_updates_reach_console_in_full_and_widget_as_status_only():
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact)
    socket, _ = await widget(inbox, token)
    agent_socket, _ = await console(user)
    await db(services.conversation_resolve, conversation=conversation, by=user)
    assert await next_of(socket, "conversation.updated") == {
        "type": "conversation.updated",
        "conversation": {"id": conversation.pk, "status": "resolved"},
    }
    full = (await next_of(agent_socket, "conversation.updated"))["conversation"]
    assert full["status"] == "resolved" and "assignee_id" in full
    # a new message after resolution opens a new conversation; the widget gets it from seq 1
    await socket.send_json_to({"type": "message.send", "client_msg_id": "new", "body": "one more thing"})
    ack = await next_of(socket, "ack")
    assert ack["message"]["conversation_id"] != conversation.pk and ack["message"]["seq"] == 1
    for s in (socket, agent_socket):
        await s.disconnect()


async def test_delivery_status_changes_reach_the_console_as_message_updated():
    inbox, user = await setup_inbox_with_agent()
    conversation = await db(conversation_with, inbox)
    agent_socket, _ = await console(user)
    sent = await db(lambda: services.message_send(conversation=conversation, by=user, body="hi").message)
    assert (await next_of(agent_socket, "message"))["message"]["id"] == sent.pk
    await db(services.message_set_delivery, message_id=sent.pk, status="delivered")
    updated = await next_of(agent_socket, "message.updated")
    assert updated["message"]["id"] == sent.pk and updated["message"]["delivery_status"] == "delivered"
    await agent_socket.disconnect()


# --- surveys ---------------------------------------------------------------------------


async def test_survey_frames_are_forwarded_and_answers_go_to_the_feedback_service():
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    agent_socket, _ = await console(user)
    layer = get_channel_layer()
    await layer.group_send(
        events.contact_group(contact.pk),
        {"type": "chat.survey_request", "invitation": "tok", "questions": ["csat", "comment"]},
    )
    assert await next_of(socket, "survey.request") == {
        "type": "survey.request",
        "invitation": "tok",
        "questions": ["csat", "comment"],
    }
    await layer.group_send(events.contact_group(contact.pk), {"type": "chat.survey_answered", "invitation": "tok"})
    answered = {"invitation": 7, "conversation_id": 3, "response": {"csat": 5, "comment": "great"}}
    await layer.group_send(events.inbox_group(inbox.pk), {"type": "chat.survey_answered", **answered})
    assert await next_of(socket, "survey.answered") == {"type": "survey.answered", "invitation": "tok"}
    # the console learns which conversation and what the scores are (never a token)
    assert await next_of(agent_socket, "survey.answered") == {"type": "survey.answered", **answered}
    # an answer to an unknown invitation is the feedback service's domain error, as an error frame
    await socket.send_json_to({"type": "survey.answer", "invitation": "no-such-token", "csat": 5})
    error = await next_of(socket, "error")
    assert error["frame_type"] == "survey.answer"
    assert error["code"] in {"survey_not_found", "not_found"}
    await still_open(socket)
    for s in (socket, agent_socket):
        await s.disconnect()


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="reads the in-memory layer's group table")
async def test_long_lived_sockets_renew_their_group_memberships(monkeypatch):
    # given a layer that forgets memberships after group_expiry, and a widget connected a while
    monkeypatch.setattr(consumers.base, "GROUP_REFRESH_SECONDS", 0.05)
    inbox = await db(InboxFactory)
    token, contact = await visitor(inbox)
    socket, _ = await widget(inbox, token)
    layer = get_channel_layer()
    group = events.contact_group(contact.pk)
    (channel, joined_at), *_ = layer.groups[group].items()
    # when time passes
    await asyncio.sleep(0.2)
    # then the membership was renewed
    assert layer.groups[group][channel] > joined_at
    await socket.disconnect()


async def test_a_resync_event_sends_what_was_committed_while_broadcasts_were_lost():
    # given a widget and a console following a conversation at seq 1
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    conversation = await db(conversation_with, inbox, contact, body="one")
    socket, _ = await widget(inbox, token)
    agent_socket, _ = await console(user, f"?resume={conversation.pk}:0")
    await drain(agent_socket)
    layer = get_channel_layer()
    # when two messages are committed but their broadcasts are lost (Redis was restarting)
    from unittest import mock

    with mock.patch.object(events, "send"):
        await db(services.message_send, conversation=conversation, by=user, body="two")
        await db(services.message_send, conversation=conversation, by=user, body="three", is_note=True)
    assert await socket.receive_nothing(timeout=0.2)
    # and the layer asks every socket to resync
    for group in (events.contact_group(contact.pk), events.inbox_group(inbox.pk)):
        await layer.group_send(group, {"type": "chat.resync"})
    # then each socket gets exactly what it missed (the widget without the note), in order
    assert [f["message"]["body"] for f in await drain(socket) if f["type"] == "message"] == ["two"]
    assert [f["message"]["body"] for f in await drain(agent_socket) if f["type"] == "message"] == ["two", "three"]
    # and a second resync sends nothing
    await layer.group_send(events.contact_group(contact.pk), {"type": "chat.resync"})
    assert await socket.receive_nothing(timeout=0.3)
    for s in (socket, agent_socket):
        await s.disconnect()


async def test_a_resync_brings_a_conversation_opened_while_broadcasts_were_lost():
    # given a widget whose conversation was resolved
    inbox, user = await setup_inbox_with_agent()
    token, contact = await visitor(inbox)
    old = await db(conversation_with, inbox, contact)
    await db(services.conversation_resolve, conversation=old)
    socket, ok = await widget(inbox, token)
    assert ok["conversation_id"] is None
    # when the customer writes again (another tab) while broadcasts are lost
    from unittest import mock

    with mock.patch.object(events, "send"):
        new = await db(conversation_with, inbox, contact, body="again")
    assert new.pk != old.pk
    await get_channel_layer().group_send(events.contact_group(contact.pk), {"type": "chat.resync"})
    # then the widget gets the new conversation's message
    frames = [f for f in await drain(socket) if f["type"] == "message"]
    assert [(f["message"]["conversation_id"], f["message"]["body"]) for f in frames] == [(new.pk, "again")]
    await socket.disconnect()
