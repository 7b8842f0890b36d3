"""The limit: raw ASGI websocket apps with no framework, no database and no channel layer.

`connections_app` accepts a socket and answers its first frame with `auth.ok`, as the widget
does, then idles. `broadcast_app` is the chat limit: every `message.send` frame is acked to
its sender and delivered, in-process, to every socket subscribed to the same room.

    uvicorn bench.peers.raw_ws:connections_app
    uvicorn bench.peers.raw_ws:broadcast_app
"""

import json


async def _http_ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def connections_app(scope, receive, send):
    if scope["type"] == "http":
        await _http_ok(scope, receive, send)
        return
    if scope["type"] != "websocket":
        return
    authenticated = False
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            if not authenticated:
                authenticated = True
                await send({"type": "websocket.send", "text": '{"type": "auth.ok"}'})
        elif event["type"] == "websocket.disconnect":
            return


ROOMS: dict[str, set] = {}
AGENTS_ROOM = "/ws/agents/"


async def broadcast_app(scope, receive, send):
    """`/ws/<room>/`: a `message.send` frame is acked, then sent to its room and to /ws/agents/."""
    if scope["type"] == "http":
        await _http_ok(scope, receive, send)
        return
    if scope["type"] != "websocket":
        return
    room = ROOMS.setdefault(scope["path"], set())
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            room.add(send)
        elif event["type"] == "websocket.receive":
            frame = json.loads(event.get("text") or "{}")
            if frame.get("type") == "auth":
                await send({"type": "websocket.send", "text": '{"type": "auth.ok"}'})
                continue
            message = {"client_msg_id": frame.get("client_msg_id"), "body": frame.get("body")}
            await send({"type": "websocket.send", "text": json.dumps({"type": "ack", "message": message})})
            text = json.dumps({"type": "message", "message": message})
            members = room | ROOMS.get(AGENTS_ROOM, set()) if scope["path"] != AGENTS_ROOM else room
            for member in list(members):
                try:
                    await member({"type": "websocket.send", "text": text})
                except Exception:  # a socket that went away meanwhile
                    room.discard(member)
        elif event["type"] == "websocket.disconnect":
            room.discard(send)
            return
