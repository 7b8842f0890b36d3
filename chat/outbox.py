"""The event outbox: what happened to a conversation, recorded in the transaction of the change.

`record(...)` writes one `ConversationEvent` (append-only) in the caller's transaction; after
commit the drains registered by the apps process it (metrics, surveys, webhooks: the wake-up
is `chat.wakeup`, docs/adr/0003-metrics-pipeline.md), and the console hears the kinds it shows
in a conversation's timeline. Every app that records an event goes through here.
"""

from django.db import transaction

from . import events, wakeup
from .models import Conversation, ConversationEvent


def record(conversation: Conversation, kind: str, *, actor=None, **data) -> ConversationEvent:
    """Record `kind` on `conversation` now, in the caller's transaction."""
    event = ConversationEvent.objects.create(conversation=conversation, kind=kind, actor=actor, data=data)
    transaction.on_commit(lambda: wakeup.events_committed(event.pk))
    if kind in ConversationEvent.TIMELINE_KINDS:
        # Its place in the timeline: after the conversation's last message so far.
        events.broadcast_timeline_event(event, inbox_id=conversation.inbox_id, after_seq=conversation.last_seq)
    return event
