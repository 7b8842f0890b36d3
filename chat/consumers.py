"""Websocket consumers of DESIGN.md §4: the customer's widget and the agent's console.

Thin edges: they parse and check frames, authorise through selectors, call one service
(in a worker thread) and serialise. docs/websocket-protocol.md is the exact protocol.
"""

import asyncio
import functools
import json
import logging
import threading
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import close_old_connections
from django.utils import translation
from django.utils.translation import gettext as _

from cxhub.errors import DomainError, NotFound

from . import events, languages, selectors, services, widget
from .errors import FrameErrorCode
from .models import AgentProfile, Contact, Conversation, Message
from .selectors import is_number

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHORISED = 4401
CLOSE_TOO_BIG = 1009
GROUP_REFRESH_SECONDS = 3600
WIDGET_MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "seq",
    "sender",
    "channel",
    "body",
    "is_note",
    "created_at",
    "client_msg_id",
)


class FrameError(Exception):
    """A client frame that cannot be served; becomes an error frame, the socket stays open."""

    def __init__(self, code: str, detail: str, fields: dict | None = None):
        super().__init__(detail)
        self.code, self.detail, self.fields = code, detail, fields or {}


class TokenBucket:
    """`rate` frames a second on average, bursts of up to `burst`."""

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
        now = time.monotonic()
        if now - getattr(_thread_state, "checked_at", -CONNECTION_CHECK_SECONDS) >= CONNECTION_CHECK_SECONDS:
            close_old_connections()
            _thread_state.checked_at = now
        try:
            return func(*args, **kwargs)
        except BaseException:
            close_old_connections()  # a broken connection is found before its next use
            _thread_state.checked_at = time.monotonic()
            raise

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
        raise FrameError(
            FrameErrorCode.INVALID,
            _("client_msg_id is required (1 to 64 characters)."),
            {"client_msg_id": [_("Required.")]},
        )
    return value


def _body(content: dict) -> str:
    value = content.get("body")
    if not isinstance(value, str) or not value.strip():
        raise FrameError(
            FrameErrorCode.INVALID, _("A message needs a body."), {"body": [_("This field may not be blank.")]}
        )
    return value


def _widget_safe(message: dict) -> dict:
    return {key: message[key] for key in WIDGET_MESSAGE_FIELDS if key in message}


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


def _message_payloads(messages) -> list[dict]:
    return [events.message_payload(m) for m in messages.select_related("conversation__contact")]


@in_worker_thread
def _messages_after(conversation_id: int, after_seq: int, include_notes: bool) -> tuple[int, list[dict]]:
    """The conversation's last seq, then every message after `after_seq` (committed ones only)."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return after_seq, []
    last_seq = conversation.last_seq
    messages = selectors.messages_of(conversation, after_seq=after_seq, include_notes=include_notes)
    return last_seq, _message_payloads(messages)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """What both sockets share: frame limits, rate limit, error frames, ordered exactly-once delivery."""

    include_notes = False
    # The language of this socket's error texts (the customer's, the agent's); None: the default.
    language: str | None = None
    rate = 10.0
    burst = 20

    async def connect(self):
        self.bucket = TokenBucket(self.rate, self.burst)
        self.groups_joined: list[str] = []
        # Per conversation, this socket has sent every message with floor < seq <= cursor
        # (for a widget: every one that is not a note).
        self.cursors: dict[int, int] = {}
        self.floors: dict[int, int] = {}
        await self.open()

    async def open(self):
        await self.accept()

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)
        if getattr(self, "refresher", None) is None and not getattr(self.channel_layer, "renews_memberships", False):
            self.refresher = asyncio.ensure_future(self._refresh_groups())

    async def _refresh_groups(self) -> None:
        """RedisChannelLayer forgets a membership after `group_expiry` (a day): renew ours hourly."""
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        refresher = getattr(self, "refresher", None)
        if refresher is not None:
            refresher.cancel()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message):
        """Channels' dispatch, minus its `aclose_old_connections()` hop on every event.

        That hop runs on the one shared database thread, so every frame of every socket
        queued behind every other socket's queries (docs/benchmarks.md). Our ORM calls go
        through `in_worker_thread`, which closes stale connections in its own thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            # Other parts of cxhub may add group events; an unknown one must not kill the socket.
            if message.get("type", "").startswith("chat."):
                logger.debug("ignoring group event %s", message["type"])
                return
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- incoming frames

    async def receive(self, text_data=None, bytes_data=None):
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
        except FrameError as error:
            await self.send_error(error.code, error.detail, error.fields, **extra)
        except DomainError as error:
            await self.send_error(error.code, error.detail, error.fields, **extra)
        except Exception:
            logger.exception("%s frame failed", frame_type)
            await self.send_error(FrameErrorCode.SERVER_ERROR, _("Something went wrong; try again."), **extra)

    async def send_json(self, content, close=False):
        try:
            await super().send_json(content, close=close)
        except OSError:  # the client went away meanwhile (uvicorn's ClientDisconnected)
            logger.debug("dropped a frame for a disconnected client")

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


# --- the customer's widget ---------------------------------------------------------------


class WidgetConsumer(ChatConsumer):
    """/ws/widget/?inbox=<public_id>: one visitor, authenticated by their token in the first frame."""

    auth_timeout_seconds = 10.0

    async def open(self):
        self.contact_id: int | None = None
        self.current_conversation_id: int | None = None
        self.conversation_inboxes: dict[int, int] = {}
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        public_id = (query.get("inbox") or [""])[0]
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        self.inbox = await self._allowed_inbox(public_id, origin)
        if self.inbox is None:
            await self.close()  # before accept: the handshake is refused
            return
        await self.accept()
        self.auth_timer = asyncio.get_running_loop().call_later(
            self.auth_timeout_seconds, lambda: asyncio.ensure_future(self._auth_timed_out())
        )

    async def _allowed_inbox(self, public_id: str, origin: str):
        inbox = widget.cached_web_inbox(public_id) or await self._web_inbox(public_id)
        return inbox if inbox is not None and widget.origin_allowed(inbox, origin) else None

    @in_worker_thread
    def _web_inbox(self, public_id: str):
        try:
            inbox = widget.web_inbox_by_public_id(public_id)
        except NotFound:
            return None
        widget.remember_web_inbox(inbox)
        return inbox

    async def _auth_timed_out(self):
        if self.contact_id is None:
            await self.close(code=CLOSE_UNAUTHORISED)

    async def disconnect(self, code):
        timer = getattr(self, "auth_timer", None)
        if timer:
            timer.cancel()
        await super().disconnect(code)

    def frame_handlers(self) -> dict:
        return {
            "auth": self.on_auth,
            "message.send": self.on_message_send,
            "resume": self.on_resume,
            "typing": self.on_typing,
            "read": self.on_read,
            **dict.fromkeys(_widget_frames, self.on_extension_frame),
        }

    async def bad_frame(self, detail: str) -> None:
        if self.contact_id is None:  # the first frame must be a good auth
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        await super().bad_frame(detail)

    async def receive_json(self, content, **kwargs):
        if self.contact_id is None:
            if content.get("type") != "auth":
                await self.close(code=CLOSE_UNAUTHORISED)
                return
            await self.on_auth(content)
            return
        if content.get("type") == "auth":
            await self.send_error(FrameErrorCode.INVALID, _("Already authenticated."), frame_type="auth")
            return
        await super().receive_json(content, **kwargs)

    # --- frames

    async def on_auth(self, content):
        token = content.get("token")
        resume = None
        if "conversation_id" in content or "after_seq" in content:
            try:
                resume = (_int(content, "conversation_id", minimum=1, required=False), _int(content, "after_seq"))
            except FrameError:
                await self.close(code=CLOSE_UNAUTHORISED)
                return
        contact_id = await self._authenticate(token if isinstance(token, str) else "")
        if contact_id is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.auth_timer.cancel()
        self.contact_id = contact_id
        # Join first, then read: a message committed (or an agent gone online) in between is
        # either in what we read or comes live.
        await asyncio.gather(
            self.join(events.contact_group(contact_id)), self.join(events.visitors_group(self.inbox.pk))
        )
        conversation, agents_online = await self._session_state()
        if conversation is not None:
            self.current_conversation_id = conversation.pk
            self.conversation_inboxes[conversation.pk] = conversation.inbox_id
            self.set_cursor(conversation.pk, conversation.last_seq)
        await self.send_json(
            {
                "type": "auth.ok",
                "contact_id": contact_id,
                "conversation_id": conversation.pk if conversation else None,
                "status": conversation.status if conversation else None,
                "last_seq": conversation.last_seq if conversation else 0,
                "agents_online": agents_online,
            }
        )
        if resume is not None:
            # In the same step as auth: no live frame can come between auth.ok and the replay.
            # Without a conversation_id, after_seq is a position in the open conversation.
            conversation_id, after_seq = resume
            if conversation_id is None:
                if conversation is None:
                    return
                conversation_id = conversation.pk
            try:
                await self._own_conversation(conversation_id)
            except NotFound:
                await self.send_error(FrameErrorCode.NOT_FOUND, _("Conversation not found."), frame_type="auth")
                return
            await self.replay(conversation_id, after_seq)

    @in_worker_thread
    def _authenticate(self, token: str) -> int | None:
        visitor_token = widget.live_visitor_token(self.inbox, token)
        if visitor_token is None:
            return None
        self.token = token
        self.token_id, self.token_hash = visitor_token.pk, visitor_token.token_hash
        contact = selectors.root_contact(visitor_token.contact)
        self.contact_name = contact.name
        self.language = languages.contact_language(contact, self.inbox)
        return contact.pk

    @in_worker_thread
    def _session_state(self) -> tuple[Conversation | None, bool]:
        return self._active_conversation_now(), widget.inbox_agents_online(self.inbox.pk)

    def _active_conversation_now(self) -> Conversation | None:
        return Conversation.objects.filter(contact_id=self.contact_id).active().first()

    _active_conversation = in_worker_thread(_active_conversation_now)

    async def on_message_send(self, content):
        client_msg_id, body = _client_msg_id(content), _body(content)
        received = await self._receive(client_msg_id, body)
        if received is None:  # the token was revoked meanwhile
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        contact_id, payload = received
        if contact_id != self.contact_id:  # merged meanwhile: follow the person
            await self.join(events.contact_group(contact_id))
            self.contact_id = contact_id
        self.current_conversation_id = payload["conversation_id"]
        await self.send_json({"type": "ack", "client_msg_id": client_msg_id, "message": _widget_safe(payload)})

    @in_worker_thread
    def _receive(self, client_msg_id: str, body: str) -> tuple[int, dict] | None:
        # A revoked token's sockets close at once (chat.token_revoked); a frame that raced the
        # revocation is refused here: one primary-key read (not inside the message's
        # transaction: that would cost a savepoint's two round trips for no stronger order).
        if not widget.visitor_token_live(self.token_id):
            return None
        try:
            received = services.message_receive(
                inbox=self.inbox,
                contact=Contact(pk=self.contact_id),
                channel="web",
                body=body,
                client_msg_id=client_msg_id,
            )
        except Contact.DoesNotExist:  # erased meanwhile
            return None
        message = received.message
        self.conversation_inboxes[message.conversation_id] = message.conversation.inbox_id
        return message.conversation.contact_id, events.message_payload(message)

    async def on_resume(self, content):
        conversation_id = _int(content, "conversation_id", minimum=1)
        after_seq = _int(content, "after_seq")
        await self._own_conversation(conversation_id)
        await self.replay(conversation_id, after_seq)

    async def _own_conversation(self, conversation_id: int) -> int:
        """The conversation's inbox id, when it is this contact's; else not_found."""
        if conversation_id not in self.conversation_inboxes:
            inbox_id = await self._own_conversation_inbox(conversation_id)
            if inbox_id is None:
                raise NotFound(_("Conversation not found."))
            self.conversation_inboxes[conversation_id] = inbox_id
        return self.conversation_inboxes[conversation_id]

    @in_worker_thread
    def _own_conversation_inbox(self, conversation_id: int) -> int | None:
        return (
            Conversation.objects.filter(pk=conversation_id, contact_id=self.contact_id)
            .values_list("inbox_id", flat=True)
            .first()
        )

    async def _relay_target(self, content) -> int | None:
        conversation_id = _int(content, "conversation_id", minimum=1, required=False)
        if conversation_id is None:
            conversation_id = self.current_conversation_id
        if conversation_id is None:
            return None
        await self._own_conversation(conversation_id)
        return conversation_id

    async def on_typing(self, content):
        on = _bool(content, "on")
        conversation_id = await self._relay_target(content)
        if conversation_id is not None:
            await self.channel_layer.group_send(
                events.inbox_group(self.conversation_inboxes[conversation_id]),
                {
                    "type": "chat.typing",
                    "conversation_id": conversation_id,
                    "on": on,
                    "is_note": False,
                    "sender": {"kind": "contact", "id": self.contact_id, "name": self.contact_name},
                    "origin": self.channel_name,
                },
            )

    async def on_read(self, content):
        seq = _int(content, "seq")
        conversation_id = await self._relay_target(content)
        if conversation_id is not None:
            await self.channel_layer.group_send(
                events.inbox_group(self.conversation_inboxes[conversation_id]),
                {
                    "type": "chat.read",
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "reader": {"kind": "contact", "id": self.contact_id, "name": self.contact_name},
                    "origin": self.channel_name,
                },
            )

    async def on_extension_frame(self, content):
        """A frame another app added to the widget socket (`register_widget_frame`)."""
        handler = _widget_frames[content["type"]]
        await in_worker_thread(handler)(content, contact_id=self.contact_id, inbox_id=self.inbox.pk)

    # --- group events

    def outgoing(self, message: dict) -> dict:
        return _widget_safe(message)

    def unknown_cursor(self, conversation_id: int, seq: int) -> int:
        # Conversations not open at auth time are new ones: everything in them is news.
        return 0

    async def chat_message(self, event):
        message = event["message"]
        if event.get("updated") or message.get("is_note"):
            return
        self.current_conversation_id = message["conversation_id"]
        await self.deliver(message)
        if event.get("status"):
            await self.chat_conversation_status(event["status"])

    async def chat_token_revoked(self, event):
        """This contact's token was revoked (or all of them erased): sockets signed in with it close."""
        token_hash = event.get("token_hash")
        if token_hash is None or token_hash == getattr(self, "token_hash", None):
            await self.close(code=CLOSE_UNAUTHORISED)

    async def chat_conversation_status(self, event):
        conversation = event["conversation"]
        if conversation.get("status") == "resolved" and conversation.get("id") == self.current_conversation_id:
            self.current_conversation_id = None
        await self.send_json(
            {
                "type": "conversation.updated",
                "conversation": {"id": conversation["id"], "status": conversation["status"]},
            }
        )

    async def chat_visitors_presence(self, event):
        await self.send_json({"type": "presence", "agents_online": bool(event.get("agents_online"))})

    async def chat_survey_request(self, event):
        # The wording (title, question texts, scale labels) is the server's (feedback/questions.py):
        # the widget shows what it gets. `url` is the survey page, answerable after the widget closes.
        frame = {
            "type": "survey.request",
            "invitation": event.get("invitation"),
            "questions": event.get("questions", []),
        }
        for key in ("title", "url", "conversation_id"):
            if event.get(key) is not None:
                frame[key] = event[key]
        await self.send_json(frame)

    async def chat_resync(self, event):
        # A conversation opened while broadcasts were lost is the contact's open one now.
        conversation = await self._active_conversation()
        if conversation is not None:
            self.current_conversation_id = conversation.pk
            self.conversation_inboxes[conversation.pk] = conversation.inbox_id
        await super().chat_resync(event)

    def relayed(self, event: dict, frame_type: str) -> dict:
        frame = super().relayed(event, frame_type)
        frame.pop("is_note", None)
        for key in ("sender", "reader"):
            if key in frame:
                frame[key] = {"kind": frame[key].get("kind"), "name": frame[key].get("name", "")}
        return frame


# --- the agent's console ---------------------------------------------------------------


class ConsoleConsumer(ChatConsumer):
    """/ws/console/: a logged-in agent; every inbox they may see."""

    include_notes = True

    async def open(self):
        self.user = self.scope.get("user")
        self.conversations: dict[int, tuple[int, int]] = {}  # id → (inbox_id, contact_id), visible ones
        # ?watch=metrics: a dashboard; it hears `metrics.updated` for its inboxes, no conversation frames.
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.watch_metrics = "metrics" in query.get("watch", [])
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        ready = await self._ready()
        self.inbox_ids = ready["inbox_ids"]
        group = events.metrics_group if self.watch_metrics else events.inbox_group
        for inbox_id in ready["inbox_ids"]:
            await self.join(group(inbox_id))
        await self.send_json(ready)
        # ?resume=<conversation>:<seq>,… resumes at once, before any live frame (reconnects).
        resume = [] if self.watch_metrics else _resume_query(self.scope.get("query_string", b""))
        for conversation_id, after_seq in resume:
            try:
                await self._visible(conversation_id)
            except NotFound:
                await self.send_error(FrameErrorCode.NOT_FOUND, _("Conversation not found."), frame_type="resume")
                continue
            await self.replay(conversation_id, after_seq)

    @in_worker_thread
    def _ready(self) -> dict:
        inbox_ids = list(selectors.inboxes_visible_to(self.user).values_list("id", flat=True))
        profile = AgentProfile.objects.filter(user=self.user).first()
        headers = dict(self.scope.get("headers") or [])
        self.language = languages.agent_language(profile) or languages.from_header(
            headers.get(b"accept-language", b"").decode("latin-1"), source="console socket"
        )
        agents = []
        for agent in (
            AgentProfile.objects.filter(user__inbox_memberships__inbox_id__in=inbox_ids, user__is_active=True)
            .distinct()
            .order_by("display_name", "id")
        ):
            agent_inboxes = sorted(
                set(agent.user.inbox_memberships.filter(inbox_id__in=inbox_ids).values_list("inbox_id", flat=True))
            )
            agents.append({**events.agent_payload(agent), "inbox_ids": agent_inboxes})
        return {
            "type": "ready",
            "user": {
                "id": self.user.pk,
                "name": profile.display_name if profile else self.user.get_username(),
                "availability": profile.availability if profile else AgentProfile.Availability.OFFLINE,
            },
            "inbox_ids": inbox_ids,
            "agents": agents,
        }

    async def chat_survey_answered(self, event):
        # The inbox group's event carries the invitation id, the conversation and the scores
        # (never a token: consoles cannot answer for a customer).
        frame = {"type": "survey.answered", "invitation": event.get("invitation")}
        for key in ("conversation_id", "response"):
            if key in event:
                frame[key] = event[key]
        await self.send_json(frame)

    def frame_handlers(self) -> dict:
        return {
            "message.send": self.on_message_send,
            "resume": self.on_resume,
            "typing": self.on_typing,
            "read": self.on_read,
            "presence": self.on_presence,
        }

    async def _visible(self, conversation_id: int) -> tuple[int, int]:
        if conversation_id not in self.conversations:
            self.conversations[conversation_id] = await self._visible_conversation(conversation_id)
        return self.conversations[conversation_id]

    @in_worker_thread
    def _visible_conversation(self, conversation_id: int) -> tuple[int, int]:
        conversation = selectors.conversation_get(self.user, conversation_id)  # NotFound when foreign
        return conversation.inbox_id, conversation.contact_id

    # --- frames

    async def on_message_send(self, content):
        conversation_id = _int(content, "conversation_id", minimum=1)
        client_msg_id, body = _client_msg_id(content), _body(content)
        is_note = _bool(content, "is_note", default=False)
        payload = await self._send(conversation_id, client_msg_id, body, is_note)
        await self.send_json({"type": "ack", "client_msg_id": client_msg_id, "message": payload})

    @in_worker_thread
    def _send(self, conversation_id: int, client_msg_id: str, body: str, is_note: bool) -> dict:
        conversation = selectors.conversation_get(self.user, conversation_id)
        received = services.message_send(
            conversation=conversation, by=self.user, body=body, is_note=is_note, client_msg_id=client_msg_id
        )
        message = Message.objects.select_related("conversation__contact", "sender_user__agent").get(
            pk=received.message.pk
        )
        return events.message_payload(message)

    async def on_resume(self, content):
        conversation_id = _int(content, "conversation_id", minimum=1)
        after_seq = _int(content, "after_seq")
        await self._visible(conversation_id)
        await self.replay(conversation_id, after_seq)

    async def on_typing(self, content):
        conversation_id = _int(content, "conversation_id", minimum=1)
        on, is_note = _bool(content, "on"), _bool(content, "is_note", default=False)
        await self._relay(conversation_id, {"type": "chat.typing", "on": on, "is_note": is_note}, "sender", is_note)

    async def on_read(self, content):
        conversation_id = _int(content, "conversation_id", minimum=1)
        seq = _int(content, "seq")
        await self._relay(conversation_id, {"type": "chat.read", "seq": seq}, "reader", False)

    async def _relay(self, conversation_id: int, event: dict, who: str, agents_only: bool) -> None:
        inbox_id, contact_id = await self._visible(conversation_id)
        name = await self._display_name()
        event = {
            **event,
            "conversation_id": conversation_id,
            who: {"kind": "agent", "id": self.user.pk, "name": name},
            "origin": self.channel_name,
        }
        await self.channel_layer.group_send(events.inbox_group(inbox_id), event)
        if not agents_only:
            await self.channel_layer.group_send(events.contact_group(contact_id), event)

    @in_worker_thread
    def _display_name(self) -> str:
        profile = AgentProfile.objects.filter(user=self.user).first()
        return profile.display_name if profile else self.user.get_username()

    async def on_presence(self, content):
        availability = content.get("availability")
        if availability not in AgentProfile.Availability.values:
            raise FrameError(
                "invalid",
                "availability is online, busy or offline.",
                {"availability": [f"Not one of {', '.join(AgentProfile.Availability.values)}."]},
            )
        await in_worker_thread(services.agent_set_availability)(user=self.user, availability=availability)

    # --- group events

    async def message_updated(self, message: dict) -> None:
        await self.send_json({"type": "message.updated", "message": message})

    async def chat_conversation(self, event):
        await self.send_json({"type": "conversation.updated", "conversation": event["conversation"]})

    async def chat_presence(self, event):
        await self.send_json({"type": "presence", "inbox_id": event.get("inbox_id"), "agent": event.get("agent")})

    async def chat_metrics_updated(self, event):
        await self.send_json({"type": "metrics.updated", "inbox_ids": event.get("inbox_ids", [])})

    async def chat_resync(self, event):
        if self.watch_metrics:
            # Broadcasts were lost (Redis restarted): the dashboard reads its figures again.
            await self.send_json({"type": "metrics.updated", "inbox_ids": list(self.inbox_ids)})
            return
        await super().chat_resync(event)

    async def chat_timeline_event(self, event):
        """An assignment, transfer, snooze, wake-up, resolution, reopening or priority change."""
        await self.send_json({"type": "conversation.event", "event": event["event"]})
