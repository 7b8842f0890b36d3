"""Retention: the content of conversations resolved long ago is deleted; the rows the metrics count stay.

As erasure does (chat/privacy.py), a purge keeps the conversation, its messages (seq, times, sender,
channel, direction), events and everything derived for the metrics, and empties what people wrote:
message bodies, HTML, attachments (the stored files and their previews too, after commit), metadata,
delivery errors, the words in the search index, and the conversation's subject. Every count on the
dashboard is the same before and after, and `recompute_metrics --check` still agrees.

Who decides how long is not chat's business: accounts keeps the workspace's retention period and
runs `purge` from its timer. Other apps register what they keep of a conversation's content
(`register_purger`: feedback forgets the sentiment derived from the words; the attachments store
deletes its files), run inside the purge's transaction.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from . import search
from .models import Conversation, Message
from .privacy import _delete_files, _stored_files

logger = logging.getLogger(__name__)

BATCH = 200  # conversations per purge transaction


@dataclass(frozen=True)
class Purger:
    """Another app's part of a conversation's content: `purge(conversation_ids)` empties it inside
    the purge's transaction and returns counts; `count(conversation_ids)` says what it would empty."""

    name: str
    purge: Callable[[list[int]], dict]
    count: Callable[[list[int]], dict] | None = None


_purgers: dict[str, Purger] = {}


def register_purger(name: str, *, purge: Callable[[list[int]], dict], count: Callable[[list[int]], dict] | None = None):
    _purgers[name] = Purger(name, purge, count)


def _with_content() -> Q:
    return Q(body__gt="") | Q(html__gt="") | ~Q(attachments=[]) | ~Q(metadata={})


def conversations_due(cutoff: datetime) -> QuerySet[Conversation]:
    """Resolved before `cutoff`, with a subject or a message of before `cutoff` that still has content."""
    old_content = Message.objects.filter(conversation=OuterRef("pk"), created_at__lt=cutoff).filter(_with_content())
    return Conversation.objects.filter(status=Conversation.Status.RESOLVED, resolved_at__lt=cutoff).filter(
        Q(subject__gt="") | Exists(old_content)
    )


def count_due(cutoff: datetime) -> dict:
    """What a purge at `cutoff` would empty (a dry run: nothing is changed)."""
    ids = list(conversations_due(cutoff).values_list("pk", flat=True))
    messages = Message.objects.filter(conversation_id__in=ids, created_at__lt=cutoff).filter(_with_content())
    counts = {
        "conversations": len(ids),
        "messages": messages.count(),
        "attachment_files": sum(len(_stored_files(a)) for a in messages.values_list("attachments", flat=True)),
    }
    for purger in _purgers.values():
        if purger.count is not None:
            counts.update(purger.count(ids))
    return counts


@transaction.atomic
def purge(*, cutoff: datetime, limit: int = BATCH) -> dict:
    """Empty the content of up to `limit` conversations due at `cutoff`, oldest first; returns counts.

    The conversations are locked (after their contacts in the usual order nobody here takes a
    contact lock, so no deadlock) and checked again: one reopened meanwhile is left alone."""
    ids = list(conversations_due(cutoff).order_by("resolved_at", "pk").values_list("pk", flat=True)[:limit])
    ids = list(
        Conversation.objects.select_for_update()
        .filter(pk__in=ids, status=Conversation.Status.RESOLVED, resolved_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return {"conversations": 0, "messages": 0, "attachment_files": 0}
    messages = Message.objects.filter(conversation_id__in=ids, created_at__lt=cutoff).filter(_with_content())
    files = [
        path for attachments in messages.values_list("attachments", flat=True) for path in _stored_files(attachments)
    ]
    search.unindex_messages(list(messages.values_list("id", flat=True)))  # their words are found no more
    counts = {
        "conversations": len(ids),
        "messages": messages.update(body="", html="", attachments=[], metadata={}, delivery_error=""),
        "attachment_files": len(files),
    }
    Conversation.objects.filter(pk__in=ids).update(subject="")
    for purger in _purgers.values():
        counts.update(purger.purge(ids))
    transaction.on_commit(lambda: _delete_files(files))
    logger.info("retention purged %s", counts)
    return counts
