"""The event outbox: what happened to a conversation, recorded in the transaction of the change.

`record(...)` writes one `ConversationEvent` (append-only) in the caller's transaction
(`record_many` several in one INSERT: the group commit of chat messages). After
commit the wake-up (`chat.wakeup` → `chat.tasks.events_drain`) runs every drain the apps
registered in their `AppConfig.ready` (`register_drain`): feedback's metrics pipeline and
surveys, integrations' webhooks. Each drain keeps its own markers and commits in its own
transactions, so one that fails (a webhook receiver down, a bug) holds up no other, and the
beat's minute sweep runs them all again from the start. chat knows none of them.

The console hears, after commit, the kinds it shows in a conversation's timeline.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from . import events, wakeup
from .models import Conversation, ConversationEvent, DrainMark

logger = logging.getLogger(__name__)

Drain = Callable[[int], int]
_drains: dict[str, Drain] = {}


def record(conversation: Conversation, kind: str, *, actor=None, **data) -> ConversationEvent:
    """Record `kind` on `conversation` now, in the caller's transaction."""
    return record_many([event(conversation, kind, actor=actor, **data)])[0]


Pending = tuple[ConversationEvent, int]


def event(conversation: Conversation, kind: str, *, actor=None, **data) -> Pending:
    """An event to record with `record_many`, and its place in the timeline: after the
    conversation's last message so far (now, not when it is written)."""
    return ConversationEvent(conversation=conversation, kind=kind, actor=actor, data=data), conversation.last_seq


def record_many(pending: list[Pending]) -> list[ConversationEvent]:
    """Record several events in one INSERT, in the caller's transaction (group commit,
    chat/group_commit.py), in the order given; one wake-up after commit for all of them."""
    if not pending:
        return []
    recorded = ConversationEvent.objects.bulk_create([item for item, _after_seq in pending])
    first = min(item.pk for item in recorded)
    transaction.on_commit(lambda: wakeup.events_committed(first))
    for item, after_seq in pending:
        if item.kind in ConversationEvent.TIMELINE_KINDS:
            events.broadcast_timeline_event(item, inbox_id=item.conversation.inbox_id, after_seq=after_seq)
    return recorded


def register_drain(name: str, drain: Drain) -> None:
    """`drain(since)` processes every event from id `since` on that it has not processed yet,
    marks what it did in the same transaction, is safe twice and side by side, and returns how
    many events it processed."""
    _drains[name] = drain


def registered_drains() -> list[str]:
    return list(_drains)


def run_drains(since: int = 0) -> dict[str, int]:
    """Every registered drain from `since` on; one that fails is logged and the others still run."""
    done: dict[str, int] = {}
    for name, drain in list(_drains.items()):
        try:
            done[name] = drain(since)
        except Exception:
            logger.exception("outbox drain %s failed (the minute sweep runs it again)", name)
            done[name] = -1
    return done


def drain_marked(
    name: str,
    *,
    since: int,
    handle: Callable[[list[ConversationEvent]], None],
    kinds: Iterable[str] | None = None,
    where: Q | None = None,
    batch_size: int = 200,
) -> int:
    """A drain whose markers are `DrainMark` rows of its `name`: batches of the events (of `kinds`,
    matching `where`) from `since` on that it has not marked, each batch handled and marked in one
    transaction, in event id order.

    Two runs of one drain take turns (a transaction-scoped advisory lock on PostgreSQL; SQLite
    serialises writers anyway); the event rows are not locked, so other drains never wait on,
    nor skip, the events this one is handling. Finding nothing pending costs one read and no
    write transaction.
    """
    unmarked = ConversationEvent.objects.filter(pk__gte=since).filter(
        ~Exists(DrainMark.objects.filter(drain=name, event_id=OuterRef("pk")))
    )
    if kinds is not None:
        unmarked = unmarked.filter(kind__in=list(kinds))
    if where is not None:
        unmarked = unmarked.filter(where)
    processed = 0
    while unmarked.exists():
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(name)])
            batch = list(unmarked.select_related("conversation").order_by("id")[:batch_size])
            handle(batch)
            DrainMark.objects.bulk_create([DrainMark(drain=name, event_id=event.pk) for event in batch])
        processed += len(batch)
        if len(batch) < batch_size:
            break
    return processed


def _lock_key(name: str) -> int:
    """A stable advisory-lock key per drain (signed 64-bit, as PostgreSQL takes it)."""
    return int.from_bytes(hashlib.blake2b(f"cxhub.outbox.{name}".encode(), digest_size=8).digest(), "big", signed=True)
