"""Authorisation matrix of the websocket routes (chat.routing): every role against inbox A's conversation.

The rule for the two sockets (test_authz_matrix.WEBSOCKET_RULES): /ws/console/ is for logged-in
agents, scoped to their inboxes; /ws/widget/ is for a visitor with a token of that inbox, from
an allowed origin, and sees only the visitor's own conversations and never a note.
"""

import json

import pytest
from django.test import Client

from chat.models import Conversation, Message

from .figures import FIGURES
from .world import build_world

# --- websockets --------------------------------------------------------------------------


def _ws_headers(origin: str = "http://127.0.0.1", cookie: str = "") -> list:
    headers = [(b"host", b"127.0.0.1"), (b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return headers


async def _close_code(socket, timeout: float = 3) -> int | None:
    while True:
        output = await socket.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def _frames(socket, quiet: float = 0.3) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(timeout=quiet):
        output = await socket.receive_output()
        if output["type"] == "websocket.close":
            frames.append({"type": "closed", "code": output.get("code")})
            break
        frames.append(json.loads(output["text"]))
    return frames


@pytest.mark.django_db(transaction=True)
async def test_websocket_matrix():
    """Both sockets, every role, against inbox A's conversation: refused or 404, never a frame of A."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import override_settings

    from chat import services
    from cxhub.asgi import application

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        world = await database_sync_to_async(build_world)()

    def session_of(user):
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    sessions = {}
    for role, user in (("agent_other", world.b.agent), ("supervisor", world.supervisor), ("admin", world.admin)):
        sessions[role] = await database_sync_to_async(session_of)(user)
    a, b = world.a, world.b
    checks, leaks = 0, []

    def check(ok: bool, what: str):
        nonlocal checks
        checks += 1
        if not ok:
            leaks.append(what)

    messages_before = await database_sync_to_async(Message.objects.count)()

    # the console socket: anonymous and a visitor's token as a cookie are closed with 4401
    for role, cookie in (("anonymous", ""), ("visitor", b.visitor_token)):
        socket = WebsocketCommunicator(application, "/ws/console/", headers=_ws_headers(cookie=cookie))
        await socket.connect()
        code = await _close_code(socket)
        check(code == 4401, f"ws/console/ as {role}: closed with {code}, want 4401")
        await socket.disconnect()

    # the agent of inbox B: not subscribed to A, every frame about A's conversation is not_found
    socket = WebsocketCommunicator(application, "/ws/console/", headers=_ws_headers(cookie=sessions["agent_other"]))
    connected, _ = await socket.connect()
    ready = await socket.receive_json_from(timeout=3)
    check(a.inbox.pk not in ready.get("inbox_ids", []), "ws/console/ agent of B is subscribed to inbox A")
    check(a.marker not in str(ready), "ws/console/ ready frame of the agent of B shows inbox A's data")
    conversation_id = a.conversation.pk
    for frame in (
        {"type": "resume", "conversation_id": conversation_id, "after_seq": 0},
        {"type": "message.send", "conversation_id": conversation_id, "client_msg_id": "x1", "body": "hi"},
        {
            "type": "message.send",
            "conversation_id": conversation_id,
            "client_msg_id": "x2",
            "body": "n",
            "is_note": True,
        },
        {"type": "typing", "conversation_id": conversation_id, "on": True},
        {"type": "read", "conversation_id": conversation_id, "seq": 1},
    ):
        await socket.send_json_to(frame)
        answer = await socket.receive_json_from(timeout=3)
        check(
            answer.get("type") == "error" and answer.get("code") == "not_found",
            f"ws/console/ agent of B, {frame['type']} on A's conversation: {answer}",
        )
        check(a.marker not in str(answer), f"ws/console/ agent of B sees A's data after {frame['type']}")
    # a message arriving in inbox A is not broadcast to the agent of B
    await database_sync_to_async(services.message_receive)(
        inbox=a.inbox, contact=a.contact, channel="web", body=f"Live {a.marker}"
    )
    later = await _frames(socket)
    check(all(a.marker not in str(f) for f in later), "ws/console/ agent of B received a frame of inbox A")
    await socket.disconnect()

    # supervisors and admins see A's conversation (the rule allows them)
    for role in ("supervisor", "admin"):
        socket = WebsocketCommunicator(application, "/ws/console/", headers=_ws_headers(cookie=sessions[role]))
        await socket.connect()
        await socket.receive_json_from(timeout=3)
        await socket.send_json_to({"type": "resume", "conversation_id": conversation_id, "after_seq": 0})
        frames = await _frames(socket)
        check(
            any(f.get("type") == "resume.done" for f in frames), f"ws/console/ {role} may not resume A's conversation"
        )
        await socket.disconnect()

    # the widget socket: no token, a token of another inbox, a foreign origin
    socket = WebsocketCommunicator(application, f"/ws/widget/?inbox={a.inbox.public_id}", headers=_ws_headers())
    await socket.connect()
    await socket.send_json_to({"type": "message.send", "client_msg_id": "y1", "body": "hi"})
    code = await _close_code(socket)
    check(code == 4401, f"ws/widget/ without auth: closed with {code}, want 4401")
    socket = WebsocketCommunicator(application, f"/ws/widget/?inbox={a.inbox.public_id}", headers=_ws_headers())
    await socket.connect()
    await socket.send_json_to({"type": "auth", "token": b.visitor_token})
    code = await _close_code(socket)
    check(code == 4401, f"ws/widget/ with inbox B's visitor token on inbox A: closed with {code}, want 4401")
    socket = WebsocketCommunicator(
        application, f"/ws/widget/?inbox={a.inbox.public_id}", headers=_ws_headers(origin="https://evil.example")
    )
    connected, _ = await socket.connect()
    check(not connected, "ws/widget/ accepted a page from an origin the inbox does not allow")
    # a visitor of inbox B, authenticated on B, asks for A's conversation
    socket = WebsocketCommunicator(application, f"/ws/widget/?inbox={b.inbox.public_id}", headers=_ws_headers())
    await socket.connect()
    await socket.send_json_to({"type": "auth", "token": b.visitor_token})
    ok = await socket.receive_json_from(timeout=3)
    check(ok.get("type") == "auth.ok", f"ws/widget/ visitor of B not authenticated on B: {ok}")
    for frame in (
        {"type": "resume", "conversation_id": conversation_id, "after_seq": 0},
        {"type": "typing", "conversation_id": conversation_id, "on": True},
        {"type": "read", "conversation_id": conversation_id, "seq": 1},
    ):
        await socket.send_json_to(frame)
        answer = await socket.receive_json_from(timeout=3)
        check(
            answer.get("type") == "error" and answer.get("code") == "not_found",
            f"ws/widget/ visitor of B, {frame['type']} on A's conversation: {answer}",
        )
    # notes of the visitor's own conversation never reach the widget
    own = await database_sync_to_async(
        lambda: Conversation.objects.filter(contact=b.extra["visitor_contact"]).exclude(status="resolved").first()
    )()
    await database_sync_to_async(services.message_send)(
        conversation=own, by=b.agent, body=f"Internal {b.marker}", is_note=True
    )
    await database_sync_to_async(services.message_receive)(
        inbox=a.inbox, contact=a.contact, channel="web", body=f"Other customer {a.marker}"
    )
    later = await _frames(socket)
    check(all("Internal" not in str(f) for f in later), "ws/widget/ received an internal note")
    check(all(a.marker not in str(f) for f in later), "ws/widget/ received another customer's frame")
    await socket.disconnect()

    messages_after = await database_sync_to_async(Message.objects.count)()
    check(
        messages_after == messages_before + 3, f"refused frames wrote messages ({messages_after - messages_before - 3})"
    )
    FIGURES["authz_ws_checks"] += checks
    FIGURES["authz_ws_leaks"] += len(leaks)
    assert not leaks, "\n".join(leaks)
