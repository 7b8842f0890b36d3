"""The agent's workspace: read markers and the list's rows (unread counts, previews, sorts).

Writes here follow the services' rules (keyword-only, one transaction, broadcasts after commit);
reads follow the selectors' (built on `selectors.conversations_visible_to`, a foreign id is a 404).
"""

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, DateTimeField, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from cxhub.errors import InvalidInput, not_one_of

from .models import Conversation, Message, ReadMarker

# --- read markers --------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, user: AbstractBaseUser, seq: int) -> ReadMarker:
    """The agent has read `conversation` up to `seq` (never backwards, never past its last message)."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).first() or 0
    seq = max(0, min(int(seq), last_seq))
    marker, created = ReadMarker.objects.select_for_update().get_or_create(
        user=user, conversation=conversation, defaults={"last_read_seq": seq}
    )
    if not created and seq > marker.last_read_seq:
        marker.last_read_seq = seq
        marker.updated_at = timezone.now()
        marker.save(update_fields=["last_read_seq", "updated_at"])
    return marker


def unread_count(conversation: Conversation, *, after_seq: int) -> int:
    """The customer's messages in `conversation` after `after_seq` (what an agent has not read)."""
    return conversation.messages.filter(direction=Message.Direction.INBOUND, seq__gt=after_seq).count()


# --- the list's rows -------------------------------------------------------------------------

PREVIEW_CHARS = 160
# "Longest waiting" puts conversations nobody waits in after the others (no NULLs in a cursor).
NOBODY_WAITS = datetime(9999, 12, 31, tzinfo=UTC)

# ?sort= → the list's order (its first field is the cursor's position; the id breaks ties).
SORTS = {
    "newest": ("-last_activity_at", "-id"),
    "waiting": ("waiting_key", "id"),
    "priority": ("-priority_rank", "-last_activity_at", "-id"),
}
DEFAULT_SORT = "newest"


def list_sort(value: str | None) -> tuple[str, ...]:
    """The ordering of `?sort=`; an unknown sort is a 400."""
    value = (value or DEFAULT_SORT).strip()
    if value not in SORTS:
        raise InvalidInput(_("Unknown sort."), fields={"sort": [not_one_of(list(SORTS))]})
    return SORTS[value]


def conversation_rows(user: AbstractBaseUser, conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The list's conversations with what each row shows: the last message's preview, and how many
    customer messages this agent has not read (after their read marker), in the same query."""
    read_seq = ReadMarker.objects.filter(user_id=user.pk, conversation=OuterRef("pk")).values("last_read_seq")[:1]
    unread = (
        Message.objects.filter(
            conversation=OuterRef("pk"), direction=Message.Direction.INBOUND, seq__gt=OuterRef("read_seq")
        )
        .order_by()
        .values("conversation")
        .annotate(count=Count("*"))
        .values("count")
    )
    last = Message.objects.filter(conversation=OuterRef("pk"), is_note=False).order_by("-seq")
    return conversations.annotate(
        read_seq=Coalesce(Subquery(read_seq, output_field=IntegerField()), Value(0)),
        unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
        last_message_body=Substr(Subquery(last.values("body")[:1]), 1, PREVIEW_CHARS),
        last_message_sender=Subquery(last.values("sender_kind")[:1]),
        last_message_at=Subquery(last.values("created_at")[:1], output_field=DateTimeField()),
        waiting_key=Coalesce("waiting_since", Value(NOBODY_WAITS, output_field=DateTimeField())),
    )
