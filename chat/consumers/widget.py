"""/ws/widget/: the customer's socket on the company's website, one visitor per socket.

The Origin must be one of the inbox's allowed origins; the first frame is `auth` with the
visitor token (chat/widget.py). Customers never receive notes, other customers' frames or
agent-only fields (`payloads.message_for_customer`).
"""

import asyncio
import logging
from urllib.parse import parse_qs

from django.utils.translation import gettext as _

from cxhub.errors import NotFound, Unavailable

from .. import events, languages, payloads, selectors, services, widget
from ..errors import FrameErrorCode
from ..models import Contact, Conversation
from . import group_commit
from .base import (
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORISED,
    ChatConsumer,
    FrameError,
    _body,
    _bool,
    _client_msg_id,
    _int,
    _widget_frames,
    in_worker_thread,
)

logger = logging.getLogger(__name__)


class WidgetConsumer(ChatConsumer):
    """/ws/widget/?inbox=<public_id>: one visitor, authenticated by their token in the first frame."""

    auth_timeout_seconds = 10.0
    # Set by a good `auth` (class defaults until then: nothing per socket before it).
    contact_id: int | None = None
    token_id: int | None = None
    token_contact_id: int | None = None
    current_conversation_id: int | None = None

    async def open(self):
        self.conversation_inboxes: dict[int, int] = {}
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        public_id = (query.get("inbox") or [""])[0]
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        try:
            self.inbox = await self._allowed_inbox(public_id, origin)
        except Unavailable:
            self.inbox = None  # the database does not answer: refused now, the widget tries again
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
            try:
                await self.on_auth(content)
            except Unavailable as error:
                # The database does not answer: say so, then close; the widget reconnects with
                # backoff and resumes inside its next auth.
                await self.send_error(
                    error.code, error.detail, frame_type="auth", retryable=True, retry_after=error.retry_after
                )
                await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        if content.get("type") == "auth":
            await self.send_error(FrameErrorCode.INVALID, _("Already authenticated."), frame_type="auth")
            return
        await super().receive_json(content, **kwargs)

    # --- frames

    async def on_auth(self, content):
        token = content.get("token")
        token = token if isinstance(token, str) else ""
        resume = None
        if "conversation_id" in content or "after_seq" in content:
            try:
                resume = (_int(content, "conversation_id", minimum=1, required=False), _int(content, "after_seq"))
            except FrameError:
                await self.close(code=CLOSE_UNAUTHORISED)
                return
        self.auth_timer.cancel()  # an auth came in time: from here it is answered or refused
        # A signed token says whose it is without a database read; an opaque (older) one is read
        # by its hash. Whether it is still live is read with the session state below.
        signed = widget.signed_visitor_token(token)
        if signed is None or signed.inbox_id != self.inbox.pk:
            signed = await self._legacy_token(token)
        if signed is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        contact_id = signed.contact_id
        # Join first, then read: a message committed (or an agent gone online) in between is
        # either in what we read or comes live (group events wait until this frame is done).
        await self.join(events.contact_group(contact_id), events.visitors_group(self.inbox.pk))
        state = await self._connect_state(contact_id, signed)
        if state is not None and state.token_live and state.merged_into_id:
            contact_id = await self._root_contact_id(contact_id)  # merged: follow the person
            await self.join(events.contact_group(contact_id))
            state = await self._connect_state(contact_id, signed)
        if state is None or not state.token_live:  # revoked, erased, or not this inbox's
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        del self.auth_timer  # its handle goes with it
        self.contact_id, self.token_id, self.token_contact_id = contact_id, signed.token_id, signed.contact_id
        self.contact_name = state.name
        self.language = languages.contact_language(Contact(locale=state.locale), self.inbox)
        conversation_id = state.conversation_id
        if conversation_id is not None:
            self.current_conversation_id = conversation_id
            self.conversation_inboxes[conversation_id] = state.conversation_inbox_id
            self.set_cursor(conversation_id, state.last_seq)
        await self.send_json(
            {
                "type": "auth.ok",
                "contact_id": contact_id,
                "conversation_id": conversation_id,
                "status": state.status,
                "last_seq": state.last_seq,
                "agents_online": state.agents_online,
            }
        )
        if resume is not None:
            # In the same step as auth: no live frame can come between auth.ok and the replay.
            # Without a conversation_id, after_seq is a position in the open conversation.
            resume_id, after_seq = resume
            if resume_id is None:
                if conversation_id is None:
                    return
                resume_id = conversation_id
            try:
                await self._own_conversation(resume_id)
            except NotFound:
                await self.send_error(FrameErrorCode.NOT_FOUND, _("Conversation not found."), frame_type="auth")
                return
            await self.replay(resume_id, after_seq)

    @in_worker_thread
    def _legacy_token(self, token: str) -> widget.SignedToken | None:
        return widget.legacy_visitor_token(self.inbox, token)

    @in_worker_thread
    def _connect_state(self, contact_id: int, signed: widget.SignedToken) -> widget.ConnectState | None:
        return widget.widget_connect_state(
            contact_id=contact_id, inbox_id=self.inbox.pk, token_id=signed.token_id, token_contact_id=signed.contact_id
        )

    @in_worker_thread
    def _root_contact_id(self, contact_id: int) -> int:
        return selectors.root_contact(Contact.objects.get(pk=contact_id)).pk

    async def _dispatch(self, message):
        if self.contact_id is None and message["type"].startswith("chat."):
            return  # not signed in (a refused auth left its groups on close): nothing is for it
        await super()._dispatch(message)

    def _active_conversation_now(self) -> Conversation | None:
        return selectors.active_conversation_of_contact(self.contact_id)

    _active_conversation = in_worker_thread(_active_conversation_now)

    async def on_message_send(self, content):
        client_msg_id, body = _client_msg_id(content), services.checked_body(_body(content))
        item = group_commit.Incoming(self.inbox, self.contact_id, self.token_id, body, client_msg_id, self.language)
        try:
            stored = await group_commit.store(item)
        except Unavailable as error:  # the whole batch: nothing was stored (in this socket's language)
            raise group_commit.unavailable(error) from error
        if stored is None:  # the token was revoked meanwhile, or the contact erased
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.conversation_inboxes[stored.conversation_id] = stored.inbox_id
        if stored.contact_id != self.contact_id:  # merged meanwhile: follow the person
            await self.join(events.contact_group(stored.contact_id))
            self.contact_id = stored.contact_id
        self.current_conversation_id = stored.conversation_id
        await self.send_json(
            {"type": "ack", "client_msg_id": client_msg_id, "message": payloads.message_for_customer(stored.payload)}
        )

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
        return selectors.contact_conversation_inbox(self.contact_id, conversation_id)

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
        return payloads.message_for_customer(message)

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
        """A token was revoked (or all of the contact's erased, or a contact unmerged from this one):
        the sockets it concerns close; they reconnect and sign in again, or are refused."""
        token_id, token_contact_id = event.get("token_id"), event.get("token_contact_id")
        everyone = token_id is None and token_contact_id is None
        if everyone or token_id == self.token_id or token_contact_id == self.token_contact_id:
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
