"""Peer of the chat benchmarks: the Channels tutorial's chat consumer, saving each message once.

The tutorial's `ChatConsumer` (AsyncWebsocketConsumer, RedisChannelLayer, `chat_<room>`
groups) with the one addition every real deployment makes: each message is saved to the
database (one INSERT) before it is broadcast. Customers connect to /ws/peer/chat/<room>/;
agents to /ws/peer/chat/agents/, which hears every room (a second group_send, as cxhub sends
to the contact's group and the inbox's group).

    uvicorn bench.peers.tutorial_chat:application   (DJANGO_SETTINGS_MODULE=bench.settings)
"""

import json
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from channels.db import database_sync_to_async  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.db import connection  # noqa: E402
from django.urls import path  # noqa: E402

TABLE = "bench_peer_chat_message"


def create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, room varchar(100) NOT NULL, "
            "client_msg_id varchar(64), body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        data = json.loads(text_data)
        if data.get("type") == "auth":
            await self.send(text_data=json.dumps({"type": "auth.ok"}))
            return
        message = {"client_msg_id": data.get("client_msg_id"), "body": data.get("body", "")}
        await self.save_message(message)
        await self.send(text_data=json.dumps({"type": "ack", "message": message}))
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})
        if self.room_name != "agents":
            await self.channel_layer.group_send("chat_agents", {"type": "chat.message", "message": message})

    @database_sync_to_async
    def save_message(self, message: dict) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (room, client_msg_id, body) VALUES (%s, %s, %s)",
                [self.room_name, message["client_msg_id"], message["body"]],
            )

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"type": "message", "message": event["message"]}))


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/peer/chat/<str:room_name>/", ChatConsumer.as_asgi())]),
    }
)
