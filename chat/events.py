"""Broadcasts to websockets, scheduled by services with transaction.on_commit.

Groups:
- `contact.<id>`: the widget sockets of one contact (never notes, never agent-only fields)
- `inbox.<id>`: the console sockets of agents who see that inbox
- `visitors.<inbox id>`: the widget sockets of one inbox (presence only)
- `metrics.<inbox id>`: the dashboards (console sockets with ?watch=metrics) of agents who see that inbox
"""

import asyncio
import hashlib
import logging
import threading
from collections.abc import Iterable
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import payloads
from .models import Conversation, ConversationEvent, Message

logger = logging.getLogger(__name__)


def contact_group(contact_id: int) -> str:
    return f"contact.{contact_id}"


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def metrics_group(inbox_id: int) -> str:
    return f"metrics.{inbox_id}"


def session_group(session_key: str) -> str:
    """The console sockets opened with one login session (a digest: the key never leaves the store)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def broadcast_session_ended(session_key: str) -> None:
    """After commit: the console sockets of that login session close (4401), e.g. it was revoked."""
    transaction.on_commit(lambda: send(session_group(session_key), {"type": "chat.session_ended"}))


_deferred = threading.local()


@contextmanager
def deferred_broadcasts():
    """Collect this thread's broadcasts instead of sending them; an async caller sends them.

    A consumer's database work runs in a worker thread: sending from there would hold the
    thread while it waits for the event loop (the chat benchmark's main cost). The consumer
    runs the service inside this block and awaits `send_collected` once the thread is free.
    """
    pending: list[tuple[str, dict]] = []
    outer = getattr(_deferred, "pending", None)
    _deferred.pending = pending
    try:
        yield pending
    finally:
        _deferred.pending = outer


async def send_collected(pending: list[tuple[str, dict]]) -> None:
    """Send collected events: each group's in the order collected, in one group send, the groups
    side by side (a group commit's batch reaches many customers' groups: their round trips to
    Redis overlap)."""
    layer = get_channel_layer()
    by_group: dict[str, list[dict]] = {}
    for group, event in pending:
        by_group.setdefault(group, []).append(event)

    async def send_in_order(group: str, group_events: list[dict]) -> None:
        # A group's events of one commit go in one group send (a group commit's batch of one inbox:
        # one push per socket, not one per message); its sockets handle them in order (`chat.batch`).
        event = group_events[0] if len(group_events) == 1 else {"type": "chat.batch", "events": group_events}
        try:
            await layer.group_send(group, event)
        except Exception:  # a broadcast must never undo a committed write
            logger.exception("broadcast to %s failed", group)

    if len(by_group) == 1:
        await send_in_order(*next(iter(by_group.items())))
        return
    await asyncio.gather(*(send_in_order(group, group_events) for group, group_events in by_group.items()))


def send(group: str, event: dict) -> None:
    """Send one event to a channel-layer group now (called after commit); inside a socket's worker
    thread it is collected and sent from the event loop instead (`deferred_broadcasts`)."""
    pending = getattr(_deferred, "pending", None)
    if pending is not None:
        pending.append((group, event))
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # a broadcast must never undo a committed write
        logger.exception("broadcast to %s failed", group)


def _send_all(pending_events: list[tuple[str, dict]]) -> None:
    """Several group sends in one hop to the event loop (each `async_to_sync` costs about a millisecond)."""
    pending = getattr(_deferred, "pending", None)
    if pending is not None:
        pending.extend(pending_events)
        return
    if get_channel_layer() is None:
        return
    try:
        async_to_sync(send_collected)(pending_events)
    except Exception:  # a broadcast must never undo a committed write
        logger.exception("broadcast of %d events failed", len(pending_events))


def broadcast_message(
    message: Message, *, updated: bool = False, with_conversation: bool = False, status_changed: bool = False
) -> None:
    """After commit: the customer's widgets (not notes) and the inbox's consoles.

    `updated` marks a message that was broadcast before and changed since (its delivery
    status): consoles show the change, widgets ignore it. `with_conversation` carries the
    conversation's new state in the same event (one group send per group, not two): consoles
    get it after the message; widgets get its status when `status_changed`.
    """
    payload = payloads.message_for_console(message)
    conversation = message.conversation
    state = payloads.conversation_for_console(conversation) if with_conversation else None

    def send_after_commit() -> None:
        if updated:
            event = {"type": "chat.message", "message": payload, "updated": True}
            send(inbox_group(conversation.inbox_id), event)
            return
        status = _status_event(state) if state and status_changed else None
        if not message.is_note:
            send(contact_group(conversation.contact_id), {"type": "chat.message", "message": payload, "status": status})
        elif status:
            send(contact_group(conversation.contact_id), status)
        send(inbox_group(conversation.inbox_id), {"type": "chat.message", "message": payload, "conversation": state})

    transaction.on_commit(send_after_commit)


def _status_event(state: dict) -> dict:
    """What a widget learns of a conversation's change: its id and status."""
    return {"type": "chat.conversation_status", "conversation": {"id": state["id"], "status": state["status"]}}


def broadcast_conversation(conversation: Conversation) -> None:
    """After commit: the consoles see a conversation's new state; the widget its status."""
    payload = payloads.conversation_for_console(conversation)

    def send_after_commit() -> None:
        send(inbox_group(conversation.inbox_id), {"type": "chat.conversation", "conversation": payload})
        send(contact_group(conversation.contact_id), _status_event(payload))

    transaction.on_commit(send_after_commit)


def _agent_names(user_ids: set[int]) -> dict[int, str]:
    from django.contrib.auth import get_user_model

    names = {}
    for user in get_user_model().objects.filter(pk__in=user_ids).select_related("agent"):
        profile = getattr(user, "agent", None)
        names[user.pk] = profile.display_name if profile else user.get_username()
    return names


def timeline_event_payloads(events: list[ConversationEvent]) -> list[dict]:
    """The console's shape of conversation events (ConversationEvent.TIMELINE_KINDS): who did what,
    with names, and `after_seq`, the seq of the last message before it (its place in the timeline).

    Only whitelisted fields of each kind's data go out. Two queries at most, whatever the number
    of events (agent and team names). Each event needs `after_seq` set (the selector annotates it).
    """
    from .models import Team

    user_ids, team_ids = set(), set()
    for event in events:
        data = event.data or {}
        user_ids.update(v for k in ("assignee_id", "from_agent_id", "to_agent_id") if (v := data.get(k)))
        team_ids.update(v for k in ("from_team_id", "to_team_id") if (v := data.get(k)))
        if event.actor_id:
            user_ids.add(event.actor_id)
    names = _agent_names(user_ids) if user_ids else {}
    teams = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "name")) if team_ids else {}

    def agent(user_id):
        return {"id": user_id, "name": names.get(user_id, "")} if user_id else None

    def team(team_id):
        return {"id": team_id, "name": teams.get(team_id, "")} if team_id else None

    payloads = []
    for event in events:
        data, kind = event.data or {}, event.kind
        if kind == ConversationEvent.Kind.ASSIGNED:
            shown = {"assignee": agent(data.get("assignee_id")), "reason": data.get("reason") or ""}
        elif kind == ConversationEvent.Kind.TRANSFERRED:
            shown = {
                "from_agent": agent(data.get("from_agent_id")),
                "from_team": team(data.get("from_team_id")),
                "to_agent": agent(data.get("to_agent_id")),
                "to_team": team(data.get("to_team_id")),
            }
        elif kind == ConversationEvent.Kind.SNOOZED:
            shown = {"until": data.get("until")}
        elif kind == ConversationEvent.Kind.WOKE:
            shown = {"reason": data.get("reason") or ""}
            if data.get("was"):  # "pending": a wait on the customer ended (else a snooze)
                shown["was"] = data["was"]
        elif kind == ConversationEvent.Kind.RESOLVED:
            shown = {"by_bot": bool(data.get("by_bot"))}
            if data.get("reason"):  # "pending_expired": the system resolved a pending conversation
                shown["reason"] = data["reason"]
        elif kind == ConversationEvent.Kind.PENDING:
            shown = {"resolve_at": data.get("resolve_at")}
        elif kind in (ConversationEvent.Kind.SLA_WARNING, ConversationEvent.Kind.SLA_BREACHED):
            shown = {
                "target": data.get("target"),
                "due_at": data.get("due_at"),
                "assignee": agent(data.get("assignee_id")),
            }
        elif kind == ConversationEvent.Kind.REOPENED:
            shown = {"reopen_count": data.get("reopen_count")}
        elif kind == ConversationEvent.Kind.PRIORITY_CHANGED:
            shown = {"from": data.get("from"), "to": data.get("to")}
        else:
            shown = {}
        payloads.append(
            {
                "id": event.pk,
                "conversation_id": event.conversation_id,
                "kind": kind,
                "actor": agent(event.actor_id),
                "data": shown,
                "after_seq": getattr(event, "after_seq", 0) or 0,
                "created_at": event.created_at.isoformat(),
            }
        )
    return payloads


def broadcast_timeline_event(event: ConversationEvent, *, inbox_id: int, after_seq: int) -> None:
    """After commit: the inbox's consoles show the event as a line of the timeline. Never sent to
    `contact.<id>`: customers do not see who assigned, transferred or snoozed their conversation."""
    event.after_seq = after_seq
    payload = timeline_event_payloads([event])[0]
    transaction.on_commit(lambda: send(inbox_group(inbox_id), {"type": "chat.timeline_event", "event": payload}))


def broadcast_tokens_revoked(
    contact_id: int, *, token_id: int | None = None, token_contact_id: int | None = None
) -> None:
    """After commit: the widget sockets in the contact's group close when signed in with that token,
    or with a token of `token_contact_id` (a contact unmerged from this one), or any when neither."""
    event = {"type": "chat.token_revoked", "token_id": token_id, "token_contact_id": token_contact_id}
    transaction.on_commit(lambda: send(contact_group(contact_id), event))


def visitors_group(inbox_id: int) -> str:
    """The widget sockets of one inbox: they only learn whether an agent is online."""
    return f"visitors.{inbox_id}"


def agent_payload(profile) -> dict:
    return {"id": profile.user_id, "name": profile.display_name, "availability": profile.availability}


def broadcast_presence(user_id: int) -> None:
    """An agent's availability changed: the consoles of their inboxes and those inboxes' widgets hear it.

    Called outside any transaction (the availability task), so it sends at once.
    """
    from .models import AgentProfile, Inbox
    from .widget import inbox_agents_online

    profile = AgentProfile.objects.filter(user_id=user_id).first()
    if profile is None:
        return
    agent = agent_payload(profile)
    for inbox_id in Inbox.objects.filter(memberships__user_id=user_id).values_list("id", flat=True):
        send(inbox_group(inbox_id), {"type": "chat.presence", "inbox_id": inbox_id, "agent": agent})
        send(
            visitors_group(inbox_id),
            {"type": "chat.visitors_presence", "agents_online": inbox_agents_online(inbox_id)},
        )


def broadcast_metrics_updated(inbox_ids: Iterable[int]) -> None:
    """After commit: the dashboards watching these inboxes' figures read them again.

    For other apps (the metrics pipeline commits a batch): one event per inbox group, naming
    only that inbox, so a socket learns nothing about inboxes it does not see. The dashboards
    debounce (docs/websocket-protocol.md, `metrics.updated`).
    """
    ids = sorted({int(pk) for pk in inbox_ids if pk})
    if not ids:
        return

    def send_after_commit() -> None:
        _send_all([(metrics_group(pk), {"type": "chat.metrics_updated", "inbox_ids": [pk]}) for pk in ids])

    transaction.on_commit(send_after_commit)
