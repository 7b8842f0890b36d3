"""Websocket routes (DESIGN.md §4; frames in docs/websocket-protocol.md)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/widget/", consumers.WidgetConsumer.as_asgi()),
    path("ws/console/", consumers.ConsoleConsumer.as_asgi()),
]
