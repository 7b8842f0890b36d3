"""Websocket routes (DESIGN.md §4; frames in docs/websocket-protocol.md).

The two sockets check where they are opened from differently:
- the widget runs on the company's own website, another origin than cxhub's: its inbox's
  `allowed_origins` decide, in `WidgetConsumer.open` (a refused origin gets a 403 handshake);
  it needs no cookie, session or user (the visitor token in its first frame is its identity);
- the console is a page of cxhub itself: its origin must be one of ALLOWED_HOSTS, and the
  agent is the session's user.
"""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/widget/", consumers.WidgetConsumer.as_asgi()),
    path("ws/console/", AllowedHostsOriginValidator(AuthMiddlewareStack(consumers.ConsoleConsumer.as_asgi()))),
]
