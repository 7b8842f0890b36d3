"""uvicorn's websockets-sansio protocol with a bounded send buffer: a client that reads nothing is noticed.

uvicorn holds a websocket send (`await self.writable.wait()`) while the connection's asyncio
transport is paused, that is while more than its high-water mark (64 KB) waits to be written.
The transport only fills once the kernel's send buffer is full, and Linux grows that buffer by
itself up to `net.ipv4.tcp_wmem`'s maximum (4 MB): at 50 chat messages a second a console that
reads nothing took more than a minute of frames before any send waited, so SOCKET_SEND_TIMEOUT
never fired and each such socket held megabytes (issue #19, item 3).

This protocol fixes the kernel's send buffer of each websocket at SOCKET_SEND_BUFFER bytes (Linux
doubles the figure for its bookkeeping; a fixed size also turns off the autotuning), so a socket
that stops reading fills its buffers within seconds and its next send waits: after
SOCKET_SEND_TIMEOUT s the consumer sheds it (chat.consumers.base.shed_slow_consumer: it leaves its
groups and closes with 4008, reason `resume`). Per socket the server then holds at most the
kernel's buffer, as much again in the transport (its high-water mark is set to the same figure)
and the close frame.

The close frame of a shed socket does not wait for the buffer to drain (uvicorn's would wait as
long as the client reads nothing): it is written behind the frames already buffered, so a client
that reads again within SLOW_CLOSE_GRACE_SECONDS gets them, then 4008 and resumes. After that the
connection is cut (a reset: the client sees 1006 and resumes all the same), instead of uvicorn's
graceful close, which would keep the buffer for as long as the client stays silent.

Run it with `uvicorn … --ws cxhub.websocket_protocol:BoundedSendProtocol` (make serve does).
"""

import contextlib
import socket

from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SLOW_CLOSE_GRACE_SECONDS = 60.0
UVICORN_WS = "cxhub.websocket_protocol:BoundedSendProtocol"  # for `--ws` (the tests' servers use it too)


class BoundedSendProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        raw = transport.get_extra_info("socket")
        if raw is not None and raw.family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            with contextlib.suppress(OSError):  # a socket that refuses the option keeps the kernel's default
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.SOCKET_SEND_BUFFER)
        # and the transport's own buffer pauses sends at the same size (asyncio's default: 64 KB)
        transport.set_write_buffer_limits(high=settings.SOCKET_SEND_BUFFER)

    async def send(self, message) -> None:
        if message["type"] == "websocket.close" and self.stalled():
            # The client takes nothing: write the close behind its buffered frames, now.
            self.writable.set()
            await super().send(message)
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = self.loop.call_later(SLOW_CLOSE_GRACE_SECONDS, self.cut)
            return
        if message["type"] == "websocket.send" and self.close_sent and self.initial_response is None:
            # uvicorn closed it meanwhile (its keepalive ping went unanswered): a gone client, not a
            # server error (uvicorn raises RuntimeError; consumers treat OSError as a gone client)
            raise ClientDisconnected()
        await super().send(message)

    def stalled(self) -> bool:
        return (
            not self.writable.is_set()
            and self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and not self.disconnected
        )

    def cut(self) -> None:
        """The grace is over: a client that still took nothing loses the connection (no FIN wait)."""
        self.close_timer = None
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()
