"""Websocket routes (DESIGN.md §4); the consumers arrive with the live-chat issue."""

websocket_urlpatterns: list = []
