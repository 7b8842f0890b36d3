"""Websocket consumers of the protocol in docs/websocket-protocol.md: the customer's widget and the
agent's console. Thin edges: they parse and check frames, authorise through selectors, call one
service (in a worker thread) and serialise.

- base.py: framing, limits, worker threads, ordered exactly-once delivery (both sockets);
- widget.py: /ws/widget/ (a visitor, by token) and the frames other apps add to it;
- console.py: /ws/console/ (an agent, by session), and dashboards with ?watch=metrics.
"""

from .base import register_widget_frame
from .console import ConsoleConsumer, register_session_check
from .widget import WidgetConsumer

__all__ = ["ConsoleConsumer", "WidgetConsumer", "register_session_check", "register_widget_frame"]
