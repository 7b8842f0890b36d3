"""What both sockets share: framing, limits, worker threads, and ordered exactly-once delivery.

`ChatConsumer` parses frames (64 KB, JSON objects with a `type`), rate-limits them, turns
errors into error frames, runs ORM work in worker threads (`in_worker_thread`) and sends each
conversation's messages once, in seq order (`deliver`, `replay`, `chat_resync`). The widget's and
the console's own frames are in widget.py and console.py; docs/websocket-protocol.md is exact.
"""

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.utils import translation
from django.utils.translation import gettext as _

from cxhub import db
from cxhub.errors import DomainError, Unavailable

from .. import events, payloads, selectors
from ..errors import FrameErrorCode
from ..selectors import is_number
from . import draining

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHORISED = 4401
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013  # the database does not answer: reconnect (with backoff) and resume
CLOSE_SLOW_CONSUMER = 4008  # the client took no frame for SOCKET_SEND_TIMEOUT s, or fell too far behind: resume
GROUP_REFRESH_SECONDS = 3600


class FrameError(Exception):
    """A client frame that cannot be served; becomes an error frame, the socket stays open."""

    def __init__(self, code: str, detail: str, fields: dict | None = None):
        super().__init__(detail)
        self.code, self.detail, self.fields = code, detail, fields or {}


class TokenBucket:
    """`rate` frames a second on average, bursts of up to `burst`."""

    __slots__ = ("rate", "burst", "tokens", "updated")  # one per socket: no __dict__

    def __init__(self, rate: float = 10.0, burst: int = 20):
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


# Django's database_sync_to_async closes stale connections before and after every call, and
# with CONN_HEALTH_CHECKS each close marks the connection for a `SELECT 1` before its next
# query: one extra round trip per hop, several per chat message. Sockets check their
# thread's connections at most every few seconds instead, and at once after a failed call.
CONNECTION_CHECK_SECONDS = 5.0
_thread_state = threading.local()


def _with_checked_connections(func):
    def run(*args, **kwargs):
        # While the database is down, fail fast (one call a second probes it): cxhub/db.py.
        if not db.database_usable():
            raise Unavailable()
        now = time.monotonic()
        if now - getattr(_thread_state, "checked_at", -CONNECTION_CHECK_SECONDS) >= CONNECTION_CHECK_SECONDS:
            close_old_connections()
            _thread_state.checked_at = now
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            close_old_connections()  # a broken connection is found before its next use
            _thread_state.checked_at = time.monotonic()
            if db.is_outage(error):
                db.connection_failed(error)
                raise Unavailable() from error
            raise
        db.database_answered()
        return result

    return run


def in_worker_thread(func):
    """Run blocking ORM work in the thread pool, checking stale connections as above.

    Not Channels' default one shared thread (thread_sensitive): each call is its own
    transaction, so sockets need not queue behind one another. Broadcasts the work schedules
    are sent from the event loop once the thread is free (chat.events.deferred_broadcasts).
    """

    def collecting(*args, **kwargs):
        with events.deferred_broadcasts() as pending:
            return func(*args, **kwargs), pending

    run = sync_to_async(_with_checked_connections(collecting), thread_sensitive=False)

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        result, pending = await run(*args, **kwargs)
        await events.send_collected(pending)
        return result

    return wrapper


# --- frames other apps add to the widget socket --------------------------------------------

_widget_frames: dict = {}


def register_widget_frame(frame_type: str, handler) -> None:
    """Another app's frame on the widget socket (registered in its `AppConfig.ready`; chat never
    imports it): `handler(frame, *, contact_id, inbox_id)` runs in a worker thread after the
    socket's `auth`; a DomainError it raises becomes an error frame, the socket stays open."""
    _widget_frames[frame_type] = handler


# --- frame fields -------------------------------------------------------------------------


def _int(content: dict, name: str, *, minimum: int = 0, required: bool = True) -> int | None:
    value = content.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        detail = _("%(name)s must be a whole number ≥ %(minimum)s.") % {"name": name, "minimum": minimum}
        raise FrameError(FrameErrorCode.INVALID, detail, {name: [_("A whole number.")]})
    return value


def _bool(content: dict, name: str, *, default: bool | None = None) -> bool:
    value = content.get(name, default)
    if not isinstance(value, bool):
        detail = _("%(name)s must be true or false.") % {"name": name}
        raise FrameError(FrameErrorCode.INVALID, detail, {name: [_("true or false.")]})
    return value


def _client_msg_id(content: dict) -> str:
    value = content.get("client_msg_id")
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        detail = _("client_msg_id is required (1 to 64 characters).")
        raise FrameError(FrameErrorCode.INVALID, detail, {"client_msg_id": [_("Required.")]})
    return value


def _body(content: dict) -> str:
    value = content.get("body")
    if not isinstance(value, str) or not value.strip():
        detail = _("A message needs a body.")
        raise FrameError(FrameErrorCode.INVALID, detail, {"body": [_("This field may not be blank.")]})
    return value


def _resume_query(query_string: bytes, limit: int = 200) -> list[tuple[int, int]]:
    """`resume=12:40,13:0` → [(12, 40), (13, 0)]; malformed pairs are skipped."""
    values = parse_qs(query_string.decode("latin-1")).get("resume", [])
    pairs = []
    for item in ",".join(values).split(","):
        conversation, _colon, seq = item.partition(":")
        if is_number(conversation) and is_number(seq) and int(conversation) > 0:
            pairs.append((int(conversation), int(seq)))
    return pairs[:limit]


# --- reads and writes, in worker threads ------------------------------------------------


@in_worker_thread
def _messages_after(conversation_id: int, after_seq: int, include_notes: bool) -> tuple[int, list[dict]]:
    """The conversation's last seq, then every message after `after_seq` (committed ones only)."""
    last_seq, messages = selectors.messages_after(conversation_id, after_seq=after_seq, include_notes=include_notes)
    return last_seq, [payloads.message_for_console(message) for message in messages]


async def _await_many_dispatch(receivers, dispatch) -> None:
    """channels.utils.await_many_dispatch without `asyncio.wait`, which keeps two coroutine frames
    and a set per idle socket (~0.9 KB of the 30 KB budget, docs/benchmarks.md): one future, woken
    by whichever receive completes first; each result is dispatched in order, as there."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(receive()) for receive in receivers]
    try:
        while True:
            if not any(task.done() for task in tasks):
                woken = loop.create_future()

                def wake(_task, woken=woken):
                    if not woken.done():
                        woken.set_result(None)

                for task in tasks:
                    task.add_done_callback(wake)
                try:
                    await woken
                finally:
                    for task in tasks:
                        task.remove_done_callback(wake)
            for i, task in enumerate(tasks):
                if task.done():
                    result = task.result()
                    await dispatch(result)
                    tasks[i] = loop.create_task(receivers[i]())
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """What both sockets share: frame limits, rate limit, error frames, ordered exactly-once delivery."""

    include_notes = False
    # The language of this socket's error texts (the customer's, the agent's); None: the default.
    language: str | None = None
    rate = 10.0
    burst = 20

    async def __call__(self, scope, receive, send):
        """Channels' `AsyncConsumer.__call__` (an async consumer), with the leaner wait above."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        receivers = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            receivers.append(self.channel_receive)
        with contextlib.suppress(StopConsumer):
            await _await_many_dispatch(receivers, self.dispatch)

    async def connect(self):
        if draining.draining():
            await self.close()  # this process is shutting down: the client tries another
            return
        # Held around every handler, so a shutdown closes the socket between frames, never in one.
        self.frame_lock = asyncio.Lock()
        self.closing_for_restart = False
        draining.watch(self)
        self.bucket = TokenBucket(self.rate, self.burst)
        self.groups_joined: list[str] = []
        # Per conversation, this socket has sent every message with floor < seq <= cursor
        # (for a widget: every one that is not a note).
        self.cursors: dict[int, int] = {}
        self.floors: dict[int, int] = {}
        await self.open()

    async def open(self):
        await self.accept()

    async def join(self, *groups: str) -> None:
        """Join the groups: in one round trip where the layer can (chat.resilient_layer)."""
        add_many = getattr(self.channel_layer, "group_add_many", None)
        if add_many is not None:
            await add_many(groups, self.channel_name)
        else:
            await asyncio.gather(*(self.channel_layer.group_add(group, self.channel_name) for group in groups))
        self.groups_joined.extend(groups)
        if getattr(self, "refresher", None) is None and not getattr(self.channel_layer, "renews_memberships", False):
            self.refresher = asyncio.ensure_future(self._refresh_groups())

    async def _refresh_groups(self) -> None:
        """RedisChannelLayer forgets a membership after `group_expiry` (a day): renew ours hourly."""
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for task in (getattr(self, "refresher", None), getattr(self, "resync_pending", None)):
            if task is not None:
                task.cancel()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message):
        """Channels' dispatch, minus its `aclose_old_connections()` hop on every event.

        That hop runs on the one shared database thread, so every frame of every socket
        queued behind every other socket's queries (docs/benchmarks.md). Our ORM calls go
        through `in_worker_thread`, which closes stale connections in its own thread.
        """
        if getattr(self, "closing_for_restart", False):
            if message["type"] == "websocket.disconnect":
                await self._dispatch(message)  # leave the groups, stop the consumer
            return  # closed for a restart: frames after it are sent again to another process
        lock = getattr(self, "frame_lock", None)
        if lock is None:  # the handshake itself
            await self._dispatch(message)
            return
        async with lock:
            await self._dispatch(message)

    async def close_for_restart(self) -> None:
        """The frame in flight finishes (stored, acknowledged), then close 1012: reconnect and resume."""
        async with self.frame_lock:
            self.closing_for_restart = True
            with contextlib.suppress(OSError):  # the client had gone already
                await self.close(code=draining.CLOSE_SERVICE_RESTART)

    async def _dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            # Other parts of cxhub may add group events; an unknown one must not kill the socket.
            if message.get("type", "").startswith("chat."):
                logger.debug("ignoring group event %s", message["type"])
                return
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except Unavailable as error:
            if not message.get("type", "").startswith("chat."):
                raise  # a frame: receive_json answers it with a retryable error frame
            # A live event that needed the database (a gap to fill, a resync) while it was down:
            # resync from the database once it answers; the seq cursors keep it once and in order.
            self.resync_later(error.retry_after)

    def resync_later(self, delay: float) -> None:
        if getattr(self, "resync_pending", None) is None or self.resync_pending.done():
            self.resync_pending = asyncio.ensure_future(self._resync_after(delay))

    async def _resync_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.channel_layer.send(self.channel_name, {"type": "chat.resync"})

    # --- incoming frames

    async def receive(self, text_data=None, bytes_data=None):
        # Error texts in the socket's person's language (codes stay as they are).
        with translation.override(self.language):
            await self.receive_frame(text_data, bytes_data)

    async def receive_frame(self, text_data=None, bytes_data=None):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            detail = _("Frames are at most %(limit)s bytes.") % {"limit": MAX_FRAME_BYTES}
            await self.send_error(FrameErrorCode.FRAME_TOO_LARGE, detail)
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self.bucket.take():
            await self.send_error(FrameErrorCode.RATE_LIMITED, _("Too many frames; slow down."))
            return
        if text_data is None:
            await self.bad_frame(_("Frames are JSON text."))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.bad_frame(_("This frame is not JSON."))
            return
        if not isinstance(content, dict):
            await self.bad_frame(_("A frame is a JSON object."))
            return
        await self.receive_json(content)

    async def bad_frame(self, detail: str) -> None:
        await self.send_error(FrameErrorCode.INVALID_JSON, detail)

    def frame_handlers(self) -> dict:
        raise NotImplementedError

    async def receive_json(self, content, **kwargs):
        frame_type = content.get("type")
        handler = self.frame_handlers().get(frame_type) if isinstance(frame_type, str) else None
        if handler is None:
            detail = _("Unknown frame type %(type)s.") % {"type": repr(frame_type)}
            await self.send_error(FrameErrorCode.UNKNOWN_TYPE, detail, frame_type=frame_type)
            return
        extra = {"frame_type": frame_type}
        if isinstance(content.get("client_msg_id"), str):
            extra["client_msg_id"] = content["client_msg_id"][:64]
        try:
            await handler(content)
        except StopConsumer:
            raise
        except FrameError as error:
            await self.send_error(error.code, error.detail, error.fields, **extra)
        except Unavailable as error:
            # Nothing was stored: the client sends the same frame again (same client_msg_id).
            await self.send_error(error.code, error.detail, retryable=True, retry_after=error.retry_after, **extra)
        except DomainError as error:
            await self.send_error(error.code, error.detail, error.fields, **extra)
        except Exception:
            logger.exception("%s frame failed", frame_type)
            await self.send_error(FrameErrorCode.SERVER_ERROR, _("Something went wrong; try again."), **extra)

    async def send_json(self, content, close=False):
        if getattr(self, "shed", False):
            raise StopConsumer()
        try:
            # A client that reads nothing blocks the send (uvicorn waits for its buffer to drain):
            # after SOCKET_SEND_TIMEOUT s it is shed instead of holding this socket's events.
            async with asyncio.timeout(settings.SOCKET_SEND_TIMEOUT):
                await super().send_json(content, close=close)
        except TimeoutError:
            await self.shed_slow_consumer(f"its client took no frame for {settings.SOCKET_SEND_TIMEOUT} s")
        except OSError:  # the client went away meanwhile (uvicorn's ClientDisconnected)
            logger.debug("dropped a frame for a disconnected client")

    async def chat_overflow(self, event):
        """The channel layer dropped this socket's backlog (chat.resilient_layer.OverflowQueue)."""
        await self.shed_slow_consumer("it fell a whole channel capacity behind")

    async def shed_slow_consumer(self, why: str) -> None:
        """A slow consumer: it leaves its groups (nothing more is buffered for it), is closed with
        4008 and a resume hint when the close can still be written, and its consumer ends. The
        client reconnects and resumes from its last seq, from the database (docs/operations.md)."""
        self.shed = True
        logger.warning("closing a slow socket (%s): it reconnects and resumes", why)
        for task in (getattr(self, "refresher", None), getattr(self, "resync_pending", None)):
            if task is not None:
                task.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []
        try:
            async with asyncio.timeout(1):
                await self.base_send({"type": "websocket.close", "code": CLOSE_SLOW_CONSUMER, "reason": "resume"})
        except (TimeoutError, OSError):
            pass  # its buffer is still full: the connection ends without a close frame
        raise StopConsumer()

    async def send_error(self, code: str, detail: str, fields: dict | None = None, **extra) -> None:
        frame = {"type": "error", "code": code, "detail": detail}
        if fields:
            frame["fields"] = fields
        frame.update({k: v for k, v in extra.items() if v is not None})
        await self.send_json(frame)

    # --- ordered, exactly-once delivery of messages

    def outgoing(self, message: dict) -> dict:
        return message

    def unknown_cursor(self, conversation_id: int, seq: int) -> int:
        return seq - 1

    def set_cursor(self, conversation_id: int, seq: int) -> None:
        """This socket starts (or restarts) from `seq`: everything up to it is the client's business."""
        self.cursors[conversation_id] = seq
        self.floors[conversation_id] = seq

    async def deliver(self, message: dict) -> None:
        """A live message: sent once per socket, in seq order (gaps filled from the database)."""
        if message.get("is_note") and not self.include_notes:
            return
        conversation_id, seq = message["conversation_id"], message["seq"]
        if conversation_id not in self.cursors:
            self.set_cursor(conversation_id, self.unknown_cursor(conversation_id, seq))
        cursor = self.cursors[conversation_id]
        if seq <= cursor:
            return  # sent already (from the database, or a retried broadcast)
        if seq == cursor + 1:
            self.cursors[conversation_id] = seq
            await self.send_json({"type": "message", "message": self.outgoing(message)})
            return
        # A gap: an earlier message is committed but its event is late (or a note the widget skips).
        _last_seq, missing = await _messages_after(conversation_id, cursor, self.include_notes)
        if not any(m["seq"] == seq for m in missing):
            missing.append(message)
        for item in missing:
            await self.send_json({"type": "message", "message": self.outgoing(item)})
        self.cursors[conversation_id] = max(m["seq"] for m in missing)

    async def replay(self, conversation_id: int, after_seq: int) -> None:
        """The `resume` answer: every message after `after_seq` this socket has not sent, then resume.done."""
        last_seq, messages = await _messages_after(conversation_id, after_seq, self.include_notes)
        cursor, floor = self.cursors.get(conversation_id), self.floors.get(conversation_id)
        for item in messages:
            if cursor is not None and floor < item["seq"] <= cursor:
                continue  # this socket sent it live already
            await self.send_json({"type": "message", "message": self.outgoing(item)})
        highest = max([after_seq, last_seq, cursor or 0, *(m["seq"] for m in messages)])
        self.cursors[conversation_id] = highest
        self.floors[conversation_id] = min(after_seq, floor) if floor is not None else after_seq
        await self.send_json({"type": "resume.done", "conversation_id": conversation_id, "last_seq": highest})

    async def chat_resync(self, event):
        """The channel layer lost broadcasts (Redis restarted, chat.resilient_layer): send what was
        committed meanwhile, from the database, after each conversation's cursor, in order."""
        cursors = dict(self.cursors)
        current = getattr(self, "current_conversation_id", None)
        if current is not None:
            cursors.setdefault(current, 0)  # opened during the outage: its broadcasts never came
        for conversation_id, cursor in cursors.items():
            _last_seq, messages = await _messages_after(conversation_id, cursor, self.include_notes)
            for item in messages:
                if item["seq"] > self.cursors.get(conversation_id, 0):
                    self.cursors[conversation_id] = item["seq"]
                    await self.send_json({"type": "message", "message": self.outgoing(item)})

    # --- group events

    async def chat_batch(self, event):
        """Several events of one commit for a group of this socket, sent at once (events.send_collected):
        each handled in order, under the frame lock `dispatch` holds."""
        for inner in event["events"]:
            await self._dispatch(inner)

    async def chat_message(self, event):
        if event.get("updated"):
            await self.message_updated(event["message"])
            return
        await self.deliver(event["message"])
        if event.get("conversation"):
            await self.chat_conversation({"conversation": event["conversation"]})

    async def chat_conversation(self, event):
        """A conversation's new state: only consoles show it."""

    async def message_updated(self, message: dict) -> None:
        """A message broadcast before changed (delivery status); only consoles show it."""

    async def chat_survey_answered(self, event):
        await self.send_json({"type": "survey.answered", "invitation": event.get("invitation")})

    async def chat_typing(self, event):
        if event.get("origin") != self.channel_name:
            await self.send_json(self.relayed(event, "typing"))

    async def chat_read(self, event):
        if event.get("origin") != self.channel_name:
            await self.send_json(self.relayed(event, "read"))

    def relayed(self, event: dict, frame_type: str) -> dict:
        return {"type": frame_type, **{k: v for k, v in event.items() if k not in ("type", "origin")}}
