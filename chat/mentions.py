"""Mentions: a note's `@username` tells that agent at once (their consoles' `mention` frame) and
makes them a participant, who follows the conversation from then on.

`services.message_send` records them in the note's transaction, whoever sends the note (the
console, the API, a macro); the reads and the read markers are in chat/workspace.py.
"""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet

from . import events
from .models import Conversation, Mention, Message, Participant
from .payloads import sender_name

MENTION = re.compile(r"(?<![\w@])@([\w.+-]*\w)")
EXCERPT_CHARS = 160


def agent_group(user_id: int) -> str:
    """One agent's consoles, wherever they are (mentions)."""
    return f"agent.{user_id}"


def who_may_see(conversation: Conversation) -> QuerySet:
    """The active users who may open this conversation: its inbox's members, supervisors, staff."""
    return (
        get_user_model()
        .objects.filter(
            Q(inbox_memberships__inbox_id=conversation.inbox_id)
            | Q(agent__is_supervisor=True)
            | Q(is_staff=True)
            | Q(is_superuser=True),
            is_active=True,
        )
        .distinct()
    )


def mentioned_users(conversation: Conversation, body: str, *, by: AbstractBaseUser | None) -> list:
    """The agents a note names as `@username` who may see the conversation (others stay plain text)."""
    names = {name.lower() for name in MENTION.findall(body or "")}
    if not names:
        return []
    wanted = Q()
    for name in names:
        wanted |= Q(username__iexact=name)
    users = who_may_see(conversation).filter(wanted).select_related("agent")
    return [user for user in users if not by or user.pk != by.pk]


def mention_payload(mention: Mention) -> dict:
    message = mention.message
    return {
        "id": mention.pk,
        "conversation_id": mention.conversation_id,
        "message_id": message.pk,
        "seq": message.seq,
        "by": sender_name(message),
        "contact": str(mention.conversation.contact),
        "excerpt": message.body[:EXCERPT_CHARS],
        "created_at": mention.created_at.isoformat(),
        "read_at": mention.read_at.isoformat() if mention.read_at else None,
    }


def record(message: Message, *, by: AbstractBaseUser | None) -> list[Mention]:
    """In the note's transaction: a mention and a participant for each agent it names, each told
    after the commit."""
    if not message.is_note or "@" not in (message.body or ""):
        return []
    conversation = Conversation.objects.select_related("contact").get(pk=message.conversation_id)
    recorded = []
    for user in mentioned_users(conversation, message.body, by=by):
        mention = Mention.objects.create(message=message, conversation=conversation, user=user, by=by)
        Participant.objects.get_or_create(
            conversation=conversation, user=user, defaults={"reason": Participant.Reason.MENTIONED}
        )
        payload = mention_payload(mention)
        transaction.on_commit(
            lambda user_id=user.pk, payload=payload: events.send(
                agent_group(user_id), {"type": "chat.mention", "mention": payload}
            )
        )
        recorded.append(mention)
    return recorded
