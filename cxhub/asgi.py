"""ASGI entry point: HTTP through Django, websockets through Channels (origin-checked)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxhub.settings")
# The server's threads share a pool of PostgreSQL connections (cxhub/settings.py, DB_POOL),
# unless DB_POOL says otherwise; the variable is not left for child processes to inherit.
_pool_default = "DB_POOL" not in os.environ
os.environ.setdefault("DB_POOL", "true")
django_asgi_app = get_asgi_application()
if _pool_default:
    del os.environ["DB_POOL"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from chat.routing import websocket_urlpatterns  # noqa: E402
from cxhub.scheduler import Lifespan  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Each route checks its origin its own way (chat/routing.py).
        "websocket": URLRouter(websocket_urlpatterns),
        # Startup and shutdown: the beat schedule in the server in the embedded default (cxhub/scheduler.py).
        "lifespan": Lifespan(),
    }
)
