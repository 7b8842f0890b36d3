"""Graceful shutdown of the sockets, for rolling deploys (docs/operations.md, "Rolling deploy").

On SIGTERM (or SIGINT) uvicorn would stop listening and send close 1012 (service restart) to
every socket at once, even in the middle of a frame: a message being stored would be stored but
never acknowledged. Here the first socket a server process opens puts a handler in front of
uvicorn's: it stops every socket from taking new frames, lets the frame each one is handling
finish (stored and acknowledged: `ChatConsumer.dispatch` holds `frame_lock` around every handler),
closes it with 1012, and only then hands the signal to uvicorn, which stops listening and exits
(`--timeout-graceful-shutdown`, `make serve`'s SHUTDOWN_TIMEOUT, bounds the rest). Clients
reconnect, through the proxy, to another process and resume from their last seq; a frame sent
after the drain began is not answered, so it stays unacknowledged and the client sends it again.
Nothing changes where no uvicorn handler is installed (tests' in-process sockets).
"""

import asyncio
import logging
import signal
import threading
import weakref

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012
SIGNALS = (signal.SIGTERM, signal.SIGINT)

_sockets: "weakref.WeakSet" = weakref.WeakSet()
_state = {"installed_loop": None, "draining": False}


def draining() -> bool:
    return _state["draining"]


def watch(consumer) -> None:
    """A socket opened: it is drained on shutdown (the first one installs the signal handler)."""
    _sockets.add(consumer)
    loop = asyncio.get_running_loop()
    if _state["installed_loop"] is loop or threading.current_thread() is not threading.main_thread():
        return
    _state["installed_loop"] = loop
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        if not _is_server_handler(previous):
            continue
        loop.add_signal_handler(sig, lambda sig=sig, previous=previous: asyncio.ensure_future(_drain(sig, previous)))


def _is_server_handler(handler) -> bool:
    owner = getattr(handler, "__self__", None)
    return owner is not None and type(owner).__module__.startswith("uvicorn")


async def _drain(sig, previous) -> None:
    if _state["draining"]:
        previous(sig, None)  # a second signal: hand over at once
        return
    _state["draining"] = True
    sockets = list(_sockets)
    logger.warning("shutting down: closing %d sockets with 1012 after their frame in flight", len(sockets))
    closing = [asyncio.ensure_future(consumer.close_for_restart()) for consumer in sockets]
    if closing:
        done, pending = await asyncio.wait(closing, timeout=settings.SHUTDOWN_TIMEOUT)
        if pending:
            logger.warning("%d sockets were still busy after %s s", len(pending), settings.SHUTDOWN_TIMEOUT)
    previous(sig, None)  # uvicorn's own: stop listening, finish requests, exit
