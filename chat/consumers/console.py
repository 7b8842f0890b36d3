"""/ws/console/: an agent's socket (the session user), every inbox they may see.

`?resume=id:seq,…` replays what a reconnecting console missed before any live frame;
`?watch=metrics` makes it a dashboard's socket (only `metrics.updated`).
"""

import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from django.utils.translation import gettext as _

from cxhub.errors import NotFound, Unavailable

from .. import events, languages, mentions, selectors, services, workspace
from ..errors import FrameErrorCode
from ..models import AgentProfile
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
    _resume_query,
    in_worker_thread,
)

logger = logging.getLogger(__name__)

# What other apps require of a console socket's login session (accounts: a second factor when one is
# needed, a session not revoked): `check(user, session)` is true when the socket may open.
_session_checks: list[Callable] = []


def register_session_check(check: Callable) -> None:
    _session_checks.append(check)


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
        try:
            await self._start()
        except Unavailable:
            await self.close(code=CLOSE_TRY_AGAIN_LATER)  # the database does not answer: reconnect later

    async def _start(self):
        if self.user is None or not self.user.is_authenticated or not await self._session_allowed():
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:  # the login session ends (logout elsewhere, revoked): this socket closes
            await self.join(events.session_group(session_key))
        ready = await self._ready()
        self.inbox_ids = ready["inbox_ids"]
        group = events.metrics_group if self.watch_metrics else events.inbox_group
        for inbox_id in ready["inbox_ids"]:
            await self.join(group(inbox_id))
        if not self.watch_metrics:
            await self.join(mentions.agent_group(self.user.pk))  # mentions reach the agent wherever they are
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
    def _session_allowed(self) -> bool:
        return all(check(self.user, self.scope.get("session")) for check in _session_checks)

    async def chat_session_ended(self, event):
        await self.close(code=CLOSE_UNAUTHORISED)

    @in_worker_thread
    def _ready(self) -> dict:
        inbox_ids = list(selectors.inboxes_visible_to(self.user).values_list("id", flat=True))
        profile = selectors.agent_profile_of(self.user)
        headers = dict(self.scope.get("headers") or [])
        self.language = languages.agent_language(profile) or languages.from_header(
            headers.get(b"accept-language", b"").decode("latin-1"), source="console socket"
        )
        return {
            "type": "ready",
            "user": {
                "id": self.user.pk,
                "name": profile.display_name if profile else self.user.get_username(),
                "availability": profile.availability if profile else AgentProfile.Availability.OFFLINE,
            },
            "inbox_ids": inbox_ids,
            "agents": [
                {**events.agent_payload(agent), "inbox_ids": agent_inboxes}
                for agent, agent_inboxes in selectors.agents_of_inboxes(inbox_ids)
            ],
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
        item = group_commit.AgentMessage(
            self.user, conversation_id, services.checked_body(body), client_msg_id, is_note, self.language
        )
        try:
            payload = await group_commit.store(item)
        except Unavailable as error:  # the whole batch: nothing was stored (in this socket's language)
            raise group_commit.unavailable(error) from error
        await self.send_json({"type": "ack", "client_msg_id": client_msg_id, "message": payload})

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
        await self._mark_read(conversation_id, seq)
        await self._relay(conversation_id, {"type": "chat.read", "seq": seq}, "reader", False)

    @in_worker_thread
    def _mark_read(self, conversation_id: int, seq: int) -> None:
        """The agent's read marker (the list's unread counts); the relay tells their other consoles."""
        conversation = selectors.conversation_get(self.user, conversation_id)
        workspace.conversation_mark_read(conversation=conversation, user=self.user, seq=seq)

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
        profile = selectors.agent_profile_of(self.user)
        return profile.display_name if profile else self.user.get_username()

    async def on_presence(self, content):
        availability = content.get("availability")
        if availability not in AgentProfile.Availability.values:
            raise FrameError(
                FrameErrorCode.INVALID,
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

    async def chat_mention(self, event):
        """A colleague's note named this agent (`@username`)."""
        await self.send_json({"type": "mention", "mention": event["mention"]})

    async def chat_timeline_event(self, event):
        """An assignment, transfer, snooze, wake-up, resolution, reopening or priority change."""
        await self.send_json({"type": "conversation.event", "event": event["event"]})
