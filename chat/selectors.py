"""Reads, always scoped to what the asking user may see (one place for the rule)."""

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from cxhub.errors import NotFound

from . import search as search_index
from .models import (
    AgentProfile,
    CannedResponse,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    Inbox,
    InboxMembership,
    Message,
    Team,
)


def user_is_supervisor(user: AbstractBaseUser) -> bool:
    """Supervisors (and admins, who are staff) see every inbox and the metrics."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    profile = getattr(user, "agent", None)
    return bool(profile and profile.is_supervisor)


# The attribute a credential sets on the user it authenticates when it may reach only some inboxes
# (accounts' API tokens limited to inboxes): every scoped read below narrows to them.
CREDENTIAL_INBOXES = "credential_inbox_ids"


def credential_inbox_ids(user: AbstractBaseUser) -> frozenset[int] | None:
    """The inboxes this request's credential is limited to, or None (no limit beyond the user's)."""
    ids = getattr(user, CREDENTIAL_INBOXES, None)
    return None if ids is None else frozenset(ids)


def may_manage_workspace(user: AbstractBaseUser) -> bool:
    """Whether the user may change what every inbox shares (labels, attribute definitions, shared
    views and macros): a supervisor, unless this request's credential is limited to some inboxes."""
    return user_is_supervisor(user) and credential_inbox_ids(user) is None


def inboxes_visible_to(user: AbstractBaseUser) -> QuerySet[Inbox]:
    if not user or not user.is_authenticated or not user.is_active:
        return Inbox.objects.none()
    inboxes = Inbox.objects.all() if user_is_supervisor(user) else Inbox.objects.filter(memberships__user=user)
    limited_to = credential_inbox_ids(user)
    return inboxes if limited_to is None else inboxes.filter(pk__in=limited_to)


def inbox_ids_visible_to(user: AbstractBaseUser) -> list[int] | None:
    """The inbox ids a user may see, or None for "all of them" (supervisors, unless their credential is limited)."""
    if user_is_supervisor(user) and credential_inbox_ids(user) is None:
        return None
    return list(inboxes_visible_to(user).values_list("id", flat=True))


def conversations_visible_to(user: AbstractBaseUser) -> QuerySet[Conversation]:
    qs = Conversation.objects.all()
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(inbox_id__in=ids)
    return qs


def conversation_list(user: AbstractBaseUser) -> QuerySet[Conversation]:
    """The conversation list: every related row a page shows, in a fixed number of queries."""
    return conversations_visible_to(user).select_related("contact", "inbox", "assignee", "assignee__agent", "team")


MAX_ID = 2**63 - 1  # the largest primary key a database column holds


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also says yes to "³" or "٣", which int() may refuse."""
    return text.isascii() and text.isdigit()


def parse_id(value) -> int | None:
    """A client-given id as a primary key, or None when it cannot be one (too big, not a number)."""
    text = str(value).strip()
    if not is_number(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def conversation_get(user: AbstractBaseUser, conversation_id) -> Conversation:
    try:
        return conversation_list(user).get(pk=parse_id(conversation_id))
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise NotFound("Conversation not found.") from None


def messages_of(conversation: Conversation, *, after_seq: int = 0, include_notes: bool = True) -> QuerySet[Message]:
    qs = conversation.messages.filter(seq__gt=after_seq).select_related("sender_user", "sender_user__agent")
    if not include_notes:
        qs = qs.filter(is_note=False)
    return qs.order_by("seq")


TIMELINE_EVENTS_MAX = 500


def timeline_events_of(conversation: Conversation) -> list[ConversationEvent]:
    """The conversation's events the console shows among its messages (ConversationEvent.TIMELINE_KINDS),
    oldest first, the latest TIMELINE_EVENTS_MAX; each with `after_seq`, the seq of the last message
    written before it. The caller has checked the conversation is visible (conversation_get)."""
    last_message_before = (
        Message.objects.filter(conversation_id=OuterRef("conversation_id"), created_at__lte=OuterRef("created_at"))
        .order_by("-seq")
        .values("seq")[:1]
    )
    events = (
        conversation.events.filter(kind__in=ConversationEvent.TIMELINE_KINDS)
        .annotate(after_seq=Coalesce(Subquery(last_message_before, output_field=IntegerField()), Value(0)))
        .order_by("-id")[:TIMELINE_EVENTS_MAX]
    )
    return list(reversed(events))


def contacts_visible_to(user: AbstractBaseUser) -> QuerySet[Contact]:
    """Contacts with at least one conversation in an inbox the user may see."""
    qs = Contact.objects.all()
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(Exists(Conversation.objects.filter(contact=OuterRef("pk"), inbox_id__in=ids)))
    return qs


def contact_list(user: AbstractBaseUser) -> QuerySet[Contact]:
    return contacts_visible_to(user).prefetch_related(
        Prefetch("identities", queryset=ContactIdentity.objects.order_by("kind", "value"))
    )


def contact_get(user: AbstractBaseUser, contact_id) -> Contact:
    try:
        return contact_list(user).get(pk=parse_id(contact_id))
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise NotFound("Contact not found.") from None


def contact_history(user: AbstractBaseUser, contact: Contact) -> QuerySet[Conversation]:
    """Every conversation of the person the user may see, newest first (the timeline's spine)."""
    return (
        conversation_list(user)
        .filter(Q(contact=contact) | Q(contact__merged_into=contact))
        .annotate(message_count=Count("messages"))
        .order_by("-opened_at", "-id")
    )


def inbox_get(user: AbstractBaseUser, inbox_id) -> Inbox:
    qs = inboxes_visible_to(user)
    value = str(inbox_id)
    lookup = Q(public_id=value)
    if parse_id(value):
        lookup |= Q(pk=parse_id(value))
    inbox = qs.filter(lookup).first()
    if inbox is None:
        raise NotFound("Inbox not found.")
    return inbox


def teams_visible_to(user: AbstractBaseUser) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.select_related("lead")


def agents_visible_to(user: AbstractBaseUser, *, candidates_for: Inbox | None = None) -> QuerySet[AgentProfile]:
    """Agents who share an inbox with the user (supervisors: all), with their open load
    (`open_conversations`, counted in the same query).

    `candidates_for`: only the active agents a conversation of that inbox can be given to (its
    members, and supervisors, as `services.conversation_assign` allows)."""
    qs = AgentProfile.objects.select_related("user").prefetch_related("teams")
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(user__inbox_memberships__inbox_id__in=ids).distinct()
    if candidates_for is not None:
        members = Exists(InboxMembership.objects.filter(user_id=OuterRef("user_id"), inbox_id=candidates_for.pk))
        supervisors = Q(is_supervisor=True) | Q(user__is_staff=True) | Q(user__is_superuser=True)
        qs = qs.filter(members | supervisors, user__is_active=True)
    return qs.annotate(
        open_conversations=Count(
            "user__assigned_conversations",
            filter=~Q(user__assigned_conversations__status=Conversation.Status.RESOLVED),
            distinct=True,
        )
    ).order_by("display_name", "id")


# Sections other apps add to a contact's detail (registered in their AppConfig.ready; chat never
# imports them): name → reader(user, contact), scoped by the reader like every selector.
_contact_sections: dict = {}


def register_contact_section(name: str, reader) -> None:
    _contact_sections[name] = reader


def contact_sections(user: AbstractBaseUser, contact: Contact) -> dict:
    return {name: reader(user, contact) for name, reader in _contact_sections.items()}


def root_contact(contact: Contact) -> Contact:
    """Follow merges to the contact that now stands for the person."""
    seen = set()
    while contact.merged_into_id and contact.pk not in seen:
        seen.add(contact.pk)
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def active_conversation_of(contact: Contact) -> Conversation | None:
    return contact.conversations.active().first()


def canned_responses_visible_to(user: AbstractBaseUser, *, prefix: str = "") -> QuerySet[CannedResponse]:
    """The workspace's canned responses (any active agent may use them), by shortcut prefix."""
    if not user or not user.is_authenticated or not user.is_active:
        return CannedResponse.objects.none()
    qs = CannedResponse.objects.all()
    prefix = prefix.replace("\x00", "").strip().lstrip("/")  # PostgreSQL refuses NUL in text
    if prefix:
        qs = qs.filter(shortcut__istartswith=prefix)
    return qs.order_by("shortcut")


REPLY_ADDRESS_FIELDS = {Channel.EMAIL: "email_address", Channel.SMS: "phone_number"}


def reply_inbox_for(conversation: Conversation, channel: str) -> Inbox | None:
    """The inbox replies on `channel` leave from: the one the customer last wrote to on that
    channel, else the conversation's own inbox when it is of that channel, else the first one."""
    address_field = REPLY_ADDRESS_FIELDS[channel]
    last = (
        conversation.messages.filter(channel=channel, inbox__channel=channel)
        .select_related("inbox")
        .order_by("-seq")
        .first()
    )
    if last is not None:
        return last.inbox
    if conversation.inbox.channel == channel and getattr(conversation.inbox, address_field):
        return conversation.inbox
    return Inbox.objects.filter(channel=channel).exclude(**{address_field: None}).order_by("id").first()


def snoozed_due_ids(*, limit: int = 500) -> list[int]:
    """Snoozed conversations whose time has come, earliest first (a partial index serves it)."""
    return list(
        Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=timezone.now())
        .order_by("snoozed_until", "id")
        .values_list("pk", flat=True)[:limit]
    )


NO_DUE_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def sorted_by_due(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The list's "due soonest": by the soonest SLA due time, conversations without one last."""
    due = Coalesce("sla_due_at", Value(NO_DUE_TIME), output_field=DateTimeField())
    return conversations.annotate(sla_due_sort=due).order_by("sla_due_sort", "id")


def pending_due_ids(*, limit: int = 500) -> list[int]:
    """Pending conversations whose auto-resolve time has come, earliest first (a partial index serves it)."""
    return list(
        Conversation.objects.filter(status=Conversation.Status.PENDING, pending_resolve_at__lte=timezone.now())
        .order_by("pending_resolve_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


# --- the sockets' reads (chat/consumers) ----------------------------------------------------


def messages_after(conversation_id: int, *, after_seq: int, include_notes: bool) -> tuple[int, QuerySet[Message]]:
    """A conversation's last seq, and its messages after `after_seq` (committed ones), in order,
    with what their payload names; (after_seq, none) for a conversation that does not exist."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return after_seq, Message.objects.none()
    messages = messages_of(conversation, after_seq=after_seq, include_notes=include_notes)
    return conversation.last_seq, messages.select_related("conversation__contact")


def message_with_sender(message_id: int) -> Message:
    """One message with what its console payload names (sender, contact)."""
    return Message.objects.select_related("conversation__contact", "sender_user__agent").get(pk=message_id)


def active_conversation_of_contact(contact_id: int) -> Conversation | None:
    return Conversation.objects.filter(contact_id=contact_id).active().first()


def contact_conversation_inbox(contact_id: int, conversation_id: int) -> int | None:
    """The inbox of a conversation when it is this contact's (a widget's own), else None."""
    return (
        Conversation.objects.filter(pk=conversation_id, contact_id=contact_id)
        .values_list("inbox_id", flat=True)
        .first()
    )


def agent_profile_of(user: AbstractBaseUser) -> AgentProfile | None:
    return AgentProfile.objects.filter(user=user).first()


def agents_of_inboxes(inbox_ids: list[int]) -> list[tuple[AgentProfile, list[int]]]:
    """The active agents of these inboxes, each with the ones of them they belong to (two queries)."""
    agents = (
        AgentProfile.objects.filter(user__inbox_memberships__inbox_id__in=inbox_ids, user__is_active=True)
        .distinct()
        .order_by("display_name", "id")
        .prefetch_related(
            Prefetch(
                "user__inbox_memberships",
                queryset=InboxMembership.objects.filter(inbox_id__in=inbox_ids).order_by("inbox_id"),
                to_attr="visible_memberships",
            )
        )
    )
    return [(agent, sorted({m.inbox_id for m in agent.user.visible_memberships})) for agent in agents]


def sequence_problems(limit: int = 20) -> list[dict]:
    """Conversations whose messages are not numbered 1..N with N = `last_seq` (docs/adr/0001): empty
    when the invariant holds (a restored backup is checked with it)."""
    broken = (
        Conversation.objects.annotate(
            messages_count=Count("messages"), low=Min("messages__seq"), high=Max("messages__seq")
        )
        .exclude(messages_count=0, last_seq=0)
        .exclude(Q(messages_count=F("last_seq")) & Q(high=F("last_seq")) & Q(low=1))
        .values("pk", "last_seq", "messages_count", "low", "high")
        .order_by("pk")[:limit]
    )
    return list(broken)


def message_attachment(message_id: int, index: int, *, user: AbstractBaseUser | None = None) -> dict:
    """One stored attachment of a message: for `user`, only in a conversation they may see; without
    one (the customer's signed link), never of a note. A foreign or missing one is NotFound."""
    messages = Message.objects.all()
    if user is not None:
        messages = messages.filter(conversation__in=conversations_visible_to(user))
    else:
        messages = messages.filter(is_note=False)
    message = messages.filter(pk=message_id).only("attachments").first()
    entries = message.attachments if message else []
    entry = entries[index] if 0 <= index < len(entries) and isinstance(entries[index], dict) else {}
    if not entry.get("path"):
        raise NotFound("Attachment not found.")
    return entry


SEARCH_LIMIT_MAX = 50


def search(user: AbstractBaseUser, query, *, inbox: Inbox | None = None, limit: int = 20) -> dict:
    """Messages (the full-text index), contacts (name, email, phone, attributes) and conversation
    subjects matching a parsed query (chat/search.py), in the inboxes the user sees (or one of
    them), newest first, each kind at most `limit`."""
    # the scope, read once (`inbox` is one the user sees: selectors.inbox_get); every part keeps to it
    inbox_ids = [inbox.pk] if inbox is not None else inbox_ids_visible_to(user)
    message_ids = search_index.matching_message_ids(query, inbox_ids=inbox_ids, limit=limit)
    found = Message.objects.select_related("conversation__contact", "sender_user__agent").in_bulk(message_ids)
    messages = [found[pk] for pk in message_ids if pk in found]
    conversations = Conversation.objects.exclude(subject="")
    latest = Conversation.objects.filter(contact=OuterRef("pk"))
    contacts = Contact.objects.all()
    if inbox_ids is not None:
        conversations = conversations.filter(inbox_id__in=inbox_ids)
        latest = latest.filter(inbox_id__in=inbox_ids)
        contacts = contacts.filter(Exists(Conversation.objects.filter(contact=OuterRef("pk"), inbox_id__in=inbox_ids)))
    contacts = contacts.filter(merged_into__isnull=True).annotate(
        attributes_text=Cast("attributes", TextField()),
        latest_conversation_id=Subquery(latest.order_by("-last_activity_at", "-id").values("id")[:1]),
    )
    # Contacts sort by `id + 0`, which no index serves, so they are read through their trigram
    # indexes and then sorted: walking the primary key instead (the planner's choice when it
    # overestimates a LIKE's matches) read every contact for a rare fragment such as an address.
    # Subjects keep walking the activity index: it stops at once for a common word, and the
    # conversations are far fewer than the messages.
    return {
        "messages": messages,
        "contacts": list(
            contacts.filter(search_index.q_for(query, ["name", "email", "phone", "attributes_text"])).order_by(
                (F("id") + 0).desc()
            )[:limit]
        ),
        "conversations": list(
            conversations.filter(search_index.q_for(query, ["subject"]))
            .select_related("contact")
            .order_by("-last_activity_at", "-id")[:limit]
        ),
    }
