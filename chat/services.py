"""Writes. Every change to a conversation goes through here, in one transaction, with its event.

Callers (views, consumers, connectors, tasks) parse and authorise; these functions change
state, append the ConversationEvent, and schedule broadcasts and tasks with on_commit.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.errors import ErrorCode
from cxhub.bulk import update_rows
from cxhub.errors import Conflict, InvalidInput, NotFound, not_one_of

from . import events, languages, mentions, outbox, search, selectors, sla_services
from .models import (
    AgentProfile,
    AuditLog,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    Inbox,
    Message,
    Priority,
    Team,
)
from .selectors import root_contact, user_is_supervisor

logger = logging.getLogger(__name__)

Kind = ContactIdentity.Kind
EventKind = ConversationEvent.Kind


# --- identities -------------------------------------------------------------------------


def normalise_phone(value: str, *, region: str | None = None) -> str:
    """E.164, or InvalidInput."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(_("Not a phone number."), fields={"phone": [_("Not a phone number.")]}) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(_("Not a phone number."), fields={"phone": [_("Not a possible phone number.")]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_identity(kind: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(_("An identity needs a value."), fields={kind: [_("This field may not be blank.")]})
    if kind == Kind.EMAIL:
        return value.lower()
    if kind == Kind.PHONE:
        return normalise_phone(value)
    return value


@dataclass(frozen=True)
class Claim:
    """What a channel says about who wrote: an identity, and whether the channel vouches for it."""

    kind: str
    value: str
    verified: bool


def contact_identify(*, claims: list[Claim], name: str = "", attributes: dict | None = None) -> Contact:
    """The contact these claims stand for, created when new.

    Verified claims find and link contacts (and merge two contacts that both hold one of
    them). An unverified claim never attaches to an existing contact: it only names a new one.
    """
    claims = [Claim(c.kind, normalise_identity(c.kind, c.value), c.verified) for c in claims]
    if not claims:
        raise InvalidInput(_("Nothing identifies this contact."))
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _contact_identify(claims, name=name, attributes=attributes or {})
        except IntegrityError:
            # Another writer created the same identity meanwhile: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _contact_identify(claims: list[Claim], *, name: str, attributes: dict) -> Contact:
    existing = {
        (i.kind, i.value): i for i in ContactIdentity.objects.select_related("contact").filter(_identity_lookup(claims))
    }
    # Contacts that a verified claim proves: held by a verified identity of theirs.
    proven: list[Contact] = []
    for claim in claims:
        identity = existing.get((claim.kind, claim.value))
        if claim.verified and identity and identity.verified:
            contact = root_contact(identity.contact)
            if contact not in proven:
                proven.append(contact)
    if proven:
        contact = proven[0]
        for other in proven[1:]:
            try:
                _merge(source=other, target=contact, by=None, reason="verified_identity")
            except Conflict:
                logger.info("not merging contacts %s and %s: both have open conversations", other.pk, contact.pk)
    else:
        # A single unverified claim that already exists points at its holder (a returning
        # visitor, an unverified email thread); anything verified starts a fresh contact.
        contact = None
        for claim in claims:
            identity = existing.get((claim.kind, claim.value))
            if identity and not claim.verified and claim.kind == Kind.VISITOR:
                contact = root_contact(identity.contact)
                break
        if contact is None:
            contact = Contact.objects.create(name=name[:200], attributes=attributes)

    updates: dict = {}
    for claim in claims:
        identity = existing.get((claim.kind, claim.value))
        if identity is None:
            ContactIdentity.objects.create(contact=contact, kind=claim.kind, value=claim.value, verified=claim.verified)
        elif claim.verified and not identity.verified:
            # Someone merely typed this identity; its proven owner takes it over.
            identity.contact, identity.verified = contact, True
            identity.save(update_fields=["contact", "verified"])
        field = CLAIM_FIELDS.get(claim.kind)
        if field and not getattr(contact, field) and field not in updates:
            updates[field] = claim.value
    if name and not contact.name:
        updates["name"] = name[:200]
    if attributes:
        updates["attributes"] = {**contact.attributes, **attributes}
    if updates:
        for key, value in updates.items():
            setattr(contact, key, value)
        contact.save(update_fields=[*updates, "updated_at"])
    return contact


CLAIM_FIELDS = {Kind.EMAIL: "email", Kind.PHONE: "phone", Kind.EXTERNAL: "external_id"}


def _identity_lookup(claims: list[Claim]) -> Q:
    query = Q(pk__in=[])
    for claim in claims:
        query |= Q(kind=claim.kind, value=claim.value)
    return query


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool


def checked_body(body: str) -> str:
    """A message body within the limit (else 400 body_too_long)."""
    return _check_body(body)


def _check_body(body: str) -> str:
    body = body if isinstance(body, str) else ""
    if len(body) > settings.MESSAGE_BODY_MAX_CHARS:
        limit = settings.MESSAGE_BODY_MAX_CHARS
        raise InvalidInput(
            _("A message is at most %(limit)s characters.") % {"limit": limit},
            fields={"body": [_("Ensure this field has no more than %(limit)s characters.") % {"limit": limit}]},
            code=ErrorCode.BODY_TOO_LONG,
        )
    return body


# What a new message changes on its conversation (the rest is saved by whoever changes it).
MESSAGE_FIELDS = [
    "last_seq",
    "last_activity_at",
    "last_customer_channel",
    "first_customer_message_at",
    "first_reply_at",
    "assignee",
    "status",
    "snoozed_until",
    "pending_resolve_at",
    "waiting_since",
    *sla_services.SLA_FIELDS,
]


def _locked_person(contact: Contact) -> Contact:
    """Lock the contact row that stands for this person now (following merges, ADR 0001)."""
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    while locked.merged_into_id:  # merged meanwhile: the person is its target
        locked = Contact.objects.select_for_update().get(pk=root_contact(locked).pk)
    return locked


def _next_seq(conversation: Conversation) -> int:
    conversation.last_seq += 1
    return conversation.last_seq


def _open_conversation(*, contact: Contact, inbox: Inbox, subject: str, at: datetime) -> Conversation:
    previous = contact.conversations.order_by("-opened_at", "-id").first()
    at_risk = contact.is_at_risk
    team = inbox.default_team
    if at_risk:
        team = Team.objects.filter(is_retention=True).order_by("id").first() or team
    conversation = Conversation.objects.create(
        contact=contact,
        inbox=inbox,
        team=team,
        priority=Priority.HIGH if at_risk else Priority.NORMAL,
        subject=subject[:300],
        opened_at=at,
        last_activity_at=at,
        previous=previous,
    )
    recontact = bool(previous and previous.resolved_at and (at - previous.resolved_at).total_seconds() <= 7 * 86400)
    outbox.record(
        conversation,
        EventKind.OPENED,
        inbox_id=inbox.pk,
        previous_id=previous.pk if previous else None,
        recontact=recontact,
        at_risk=at_risk,
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.conversation_route.delay(conversation.pk))
    return conversation


@transaction.atomic
def message_receive(
    *,
    inbox: Inbox,
    contact: Contact,
    channel: str,
    body: str,
    html: str = "",
    attachments: list | None = None,
    client_msg_id: str | None = None,
    provider: str | None = None,
    external_id: str | None = None,
    subject: str = "",
    metadata: dict | None = None,
    created_at: datetime | None = None,
) -> Received:
    """A customer's message from any channel: joins their active conversation or opens one."""
    body = _check_body(body)
    if channel not in Channel.values:
        raise InvalidInput(_("Unknown channel."), fields={"channel": [not_one_of(Channel.values)]})
    # One writer per person at a time: the lock orders concurrent arrivals (seq, one conversation).
    contact = _locked_person(contact)
    if provider and external_id:
        duplicate = Message.objects.filter(provider=provider, external_id=external_id).first()
        if duplicate:
            return Received(duplicate, False)
    if client_msg_id:
        duplicate = Message.objects.filter(conversation__contact=contact, client_msg_id=client_msg_id).first()
        if duplicate:
            return Received(duplicate, False)
    now = created_at or timezone.now()
    conversation = Conversation.objects.select_for_update().filter(contact=contact).active().first()
    status_before = conversation.status if conversation else None
    if conversation is None:
        conversation = _open_conversation(contact=contact, inbox=inbox, subject=subject, at=now)
    conversation.contact = contact  # the payloads name the sender
    message = Message.objects.create(
        conversation=conversation,
        inbox=inbox,
        seq=_next_seq(conversation),
        sender_kind=Message.SenderKind.CONTACT,
        channel=channel,
        direction=Message.Direction.INBOUND,
        body=body,
        html=html,
        attachments=attachments or [],
        client_msg_id=client_msg_id or None,
        provider=provider or None,
        external_id=external_id or None,
        metadata=metadata or {},
        created_at=now,
    )
    search.index_message(message)
    previous_channel = conversation.last_customer_channel
    if previous_channel and previous_channel != channel:
        outbox.record(conversation, EventKind.CHANNEL_SWITCHED, **{"from": previous_channel, "to": channel})
    was = conversation.status
    _customer_wrote(conversation, channel, now)
    resumed = conversation.status != was
    conversation.save(update_fields=MESSAGE_FIELDS)  # once: a second UPDATE of the row would lock the contact
    if resumed:  # a snooze or a wait on the customer ends
        outbox.record(conversation, EventKind.WOKE, reason="message", was=status_before)
    outbox.record(
        conversation,
        EventKind.MESSAGE_CREATED,
        message_id=message.pk,
        seq=message.seq,
        sender="contact",
        channel=channel,
    )
    events.broadcast_message(message, with_conversation=True, status_changed=conversation.status != status_before)
    automatic = ((metadata or {}).get("email") or {}).get("auto_submitted")  # RFC 3834: never answer a robot
    if channel in (Channel.EMAIL, Channel.SMS) and not automatic:
        _auto_reply_out_of_hours(conversation, at=now)
    return Received(message, True)


@dataclass(frozen=True)
class Inbound:
    """A customer's web chat message in a group commit (`message_receive_many`)."""

    inbox: Inbox
    contact_id: int
    body: str
    client_msg_id: str


@transaction.atomic(savepoint=False)  # inside a group commit's transaction: its failure fails the batch
def message_receive_many(items: list[Inbound]) -> list[Received | None]:
    """Web chat messages of several customers in one transaction (group commit, ADR 0015).

    What `message_receive` does for each, in set-based statements: the persons locked in id
    order (ADR 0001: contact, then conversation), duplicates (client_msg_id, also within the
    batch) found in one read, the active conversations locked in one read (missing ones opened),
    seq allocated per conversation in the order given, the messages, their index entries, their
    events and the conversations' new state written once each. None for an item whose contact
    is gone (erased meanwhile). The caller validated the bodies (`checked_body`); any error
    fails the whole batch, and the caller stores each message alone instead.
    """
    now = timezone.now()
    contacts = {
        contact.pk: contact
        for contact in Contact.objects.select_for_update().filter(pk__in={i.contact_id for i in items}).order_by("pk")
    }
    persons = {pk: _locked_person(contact) if contact.merged_into_id else contact for pk, contact in contacts.items()}
    person_ids = {person.pk for person in persons.values()}
    known = {
        (message.conversation.contact_id, message.client_msg_id): message
        for message in Message.objects.select_related("conversation", "conversation__contact").filter(
            conversation__contact_id__in=person_ids, client_msg_id__in={i.client_msg_id for i in items}
        )
    }
    active = {
        conversation.contact_id: conversation
        for conversation in Conversation.objects.select_for_update(of=("self",))
        .select_related("inbox")
        .filter(contact_id__in=person_ids)
        .active()
        .order_by("pk")
    }
    results: list[Received | None] = []
    created: list[tuple[Message, bool]] = []  # each new message, and whether its conversation's status changed
    pending_events: list[outbox.Pending] = []
    announcements: list[tuple[ConversationEvent, Message]] = []  # each message_created event, its message
    changed: dict[int, Conversation] = {}
    status_before: dict[int, str | None] = {}
    for item in items:
        person = persons.get(item.contact_id)
        if person is None:
            results.append(None)
            continue
        duplicate = known.get((person.pk, item.client_msg_id))
        if duplicate is not None:
            results.append(Received(duplicate, False))  # stored before, or earlier in this batch
            continue
        conversation = active.get(person.pk)
        if conversation is None:
            status_before[person.pk] = None
            conversation = active[person.pk] = _open_conversation(contact=person, inbox=item.inbox, subject="", at=now)
        status_before.setdefault(person.pk, conversation.status)
        was = conversation.status
        conversation.contact = person  # the payloads name the sender
        message = Message(
            conversation=conversation,
            inbox=item.inbox,
            seq=_next_seq(conversation),
            sender_kind=Message.SenderKind.CONTACT,
            channel=Channel.WEB,
            direction=Message.Direction.INBOUND,
            body=item.body,
            client_msg_id=item.client_msg_id,
            created_at=now,
        )
        known[(person.pk, item.client_msg_id)] = message
        previous_channel = conversation.last_customer_channel
        if previous_channel and previous_channel != Channel.WEB:
            pending_events.append(
                outbox.event(conversation, EventKind.CHANNEL_SWITCHED, **{"from": previous_channel, "to": Channel.WEB})
            )
        _customer_wrote(conversation, Channel.WEB, now)
        if conversation.status != was:  # a snooze or a wait on the customer ends
            pending_events.append(outbox.event(conversation, EventKind.WOKE, reason="message", was=was))
        data = {"message_id": None, "seq": message.seq, "sender": "contact", "channel": Channel.WEB}
        pending_events.append(outbox.event(conversation, EventKind.MESSAGE_CREATED, **data))
        announcements.append((pending_events[-1][0], message))
        changed[conversation.pk] = conversation
        created.append((message, conversation.status != status_before[person.pk]))
        results.append(Received(message, True))
    Message.objects.bulk_create([message for message, _status_changed in created])
    for event, message in announcements:
        event.data["message_id"] = message.pk
    search.index_messages([message for message, _status_changed in created])
    update_rows(Conversation, list(changed.values()), MESSAGE_FIELDS)
    outbox.record_many(pending_events)
    for message, status_changed in created:
        events.broadcast_message(message, with_conversation=True, status_changed=status_changed)
    return results


def _customer_wrote(conversation: Conversation, channel: str, now: datetime) -> None:
    """What a customer's message changes on their (locked) conversation, in memory: the caller saves it."""
    conversation.last_customer_channel = channel
    conversation.last_activity_at = now
    if conversation.first_customer_message_at is None:
        conversation.first_customer_message_at = now
    if conversation.waiting_since is None:  # the list's waiting time: since the first unanswered message
        conversation.waiting_since = now
    resumed = conversation.status in (Conversation.Status.SNOOZED, Conversation.Status.PENDING)
    if resumed:
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        conversation.pending_resolve_at = None
        sla_services.track(conversation, sla_services.RESUMED, at=now)
    sla_services.track(conversation, sla_services.CUSTOMER_WROTE, at=now)


def _auto_reply_out_of_hours(conversation: Conversation, *, at: datetime) -> None:
    """Outside the inbox's hours an email or SMS customer hears, once per conversation, when the
    team is back: a system message in the timeline (never a first response)."""
    back = sla_services.back_at(conversation.inbox, at)
    if back is None or conversation.messages.filter(metadata__auto_reply="out_of_hours").exists():
        return
    with languages.speaking_to(root_contact(conversation.contact), conversation.inbox):
        body = sla_services.out_of_hours_text(conversation.inbox, back, conversation.contact)
    reply = message_send(conversation=conversation, by=None, body=body, sender_kind=Message.SenderKind.SYSTEM)
    metadata = {**reply.message.metadata, "auto_reply": "out_of_hours"}
    Message.objects.filter(pk=reply.message.pk).update(metadata=metadata)


@transaction.atomic
def message_send(
    *,
    conversation: Conversation,
    by: AbstractBaseUser | None,
    body: str,
    is_note: bool = False,
    client_msg_id: str | None = None,
    channel: str | None = None,
    sender_kind: str = Message.SenderKind.AGENT,
    attachments: list | None = None,
) -> Received:
    """An agent's reply (or internal note); replies leave on the customer's last channel by default.

    `attachments` are entries of files already checked and stored (chat/attachments.py
    `with_files`); a message with files may have an empty body.

    A channel the caller names is checked first: a reply by email or SMS to someone who has no
    address there (or opted out), or by web chat to someone who never used it, is refused with
    `channel_unavailable` (connectors.outbound.reply_channels, what the console offers). Without
    a channel the reply goes where the customer last wrote, and a delivery failure is recorded
    on the message.
    """
    body = _check_body(body)
    if not body.strip() and not attachments:
        raise InvalidInput(_("A message needs a body."), fields={"body": [_("This field may not be blank.")]})
    conversation = _locked(conversation)
    if client_msg_id:
        duplicate = conversation.messages.filter(client_msg_id=client_msg_id).first()
        if duplicate:
            return Received(duplicate, False)
    if conversation.status == Conversation.Status.RESOLVED and not is_note:
        raise Conflict(_("This conversation is resolved; reopen it to reply."), code=ErrorCode.CONVERSATION_RESOLVED)
    chosen = channel
    channel = channel or conversation.last_customer_channel or conversation.inbox.channel
    if channel not in Channel.values:
        raise InvalidInput(_("Unknown channel."), fields={"channel": [not_one_of(Channel.values)]})
    if chosen and not is_note and sender_kind == Message.SenderKind.AGENT:
        from .connectors import outbound

        outbound.check_reply_channel(conversation, channel)
    now = timezone.now()
    outbound = not is_note and channel in (Channel.EMAIL, Channel.SMS)
    message = Message.objects.create(
        conversation=conversation,
        inbox=conversation.inbox,
        seq=_next_seq(conversation),
        sender_kind=sender_kind,
        sender_user=by,
        channel=channel,
        direction=Message.Direction.OUTBOUND,
        body=body,
        attachments=attachments or [],
        is_note=is_note,
        client_msg_id=client_msg_id or None,
        delivery_status=Message.Delivery.PENDING if outbound else Message.Delivery.SENT,
        created_at=now,
    )
    search.index_message(message)
    conversation.last_activity_at = now
    human_reply = not is_note and sender_kind == Message.SenderKind.AGENT
    if human_reply:
        sla_services.track(conversation, sla_services.AGENT_REPLIED, at=now)
    if human_reply and conversation.first_reply_at is None:
        conversation.first_reply_at = now
    if not is_note:  # answered (by an agent or the bot): nobody waits
        conversation.waiting_since = None
    if human_reply and conversation.assignee_id is None and by is not None:
        conversation.assignee = by
        outbox.record(conversation, EventKind.ASSIGNED, actor=by, assignee_id=by.pk, reason="first_reply")
    conversation.save(update_fields=MESSAGE_FIELDS)
    outbox.record(
        conversation,
        EventKind.MESSAGE_CREATED,
        actor=by,
        message_id=message.pk,
        seq=message.seq,
        sender=sender_kind,
        channel=channel,
        is_note=is_note,
    )
    events.broadcast_message(message, with_conversation=True)
    mentions.record(message, by=by)
    if outbound:
        from . import tasks

        transaction.on_commit(lambda: tasks.message_deliver.delay(message.pk))
    return Received(message, True)


@transaction.atomic
def message_settle_attachments(*, message_id: int, settled: dict[int, dict]) -> tuple[Message | None, list[dict]]:
    """Put fetched (or refused) files in place of the pending entries at the given indexes (SMS
    media, chat/attachments.py); consoles see the change. Entries no longer pending are left as
    they are: the second of two runs changes nothing and gets back the entries it did not place."""
    message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        return None, list(settled.values())
    entries, unused = list(message.attachments or []), []
    for index, entry in settled.items():
        if 0 <= index < len(entries) and isinstance(entries[index], dict) and entries[index].get("pending"):
            entries[index] = entry
        else:
            unused.append(entry)
    if entries != message.attachments:
        message.attachments = entries
        message.save(update_fields=["attachments"])
        message = selectors.message_with_sender(message_id)
        events.broadcast_message(message, updated=True)
    return message, unused


@transaction.atomic
def message_set_delivery(
    *, message_id: int, status: str, error: str = "", external_id: str | None = None, provider: str | None = None
) -> Message:
    """A provider's word on an outbound message (sent, delivered, failed)."""
    message = Message.objects.select_for_update().get(pk=message_id)
    message.delivery_status = status
    message.delivery_error = error[:2000]
    fields = ["delivery_status", "delivery_error"]
    if external_id and not message.external_id:
        message.external_id = external_id
        fields.append("external_id")
        if provider and not message.provider:
            message.provider = provider
            fields.append("provider")
    message.save(update_fields=fields)
    events.broadcast_message(message, updated=True)
    return message


DELIVERY_CLAIM_SECONDS = 600


@transaction.atomic
def message_delivery_claim(*, message_id: int) -> Message | None:
    """Take an outbound message for sending, once: None when it is not pending or another
    worker claimed it less than DELIVERY_CLAIM_SECONDS ago (a crashed sender's claim expires)."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("conversation", "conversation__inbox", "conversation__contact")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.delivery_status != Message.Delivery.PENDING or message.is_note:
        return None
    now = timezone.now()
    claimed_at = (message.metadata or {}).get("delivery_claimed_at")
    if claimed_at and (now - datetime.fromisoformat(claimed_at)).total_seconds() < DELIVERY_CLAIM_SECONDS:
        return None
    message.metadata = {**(message.metadata or {}), "delivery_claimed_at": now.isoformat()}
    message.save(update_fields=["metadata"])
    return message


# --- conversation actions ---------------------------------------------------------------


def _locked(conversation: Conversation) -> Conversation:
    """The conversation row, locked (not its contact: locks go contact first, then conversation)."""
    return (
        Conversation.objects.select_for_update(of=("self",)).select_related("inbox", "contact").get(pk=conversation.pk)
    )


def _check_agent_for_inbox(user: AbstractBaseUser, inbox: Inbox) -> None:
    if not user.is_active:
        raise InvalidInput(_("That agent is deactivated."), fields={"assignee": [_("Inactive user.")]})
    if user_is_supervisor(user):
        return
    if not inbox.memberships.filter(user=user).exists():
        raise InvalidInput(
            _("That agent is not a member of this inbox."), fields={"assignee": [_("Not a member of this inbox.")]}
        )


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee: AbstractBaseUser | None, by=None) -> Conversation:
    conversation = _locked(conversation)
    if assignee is not None:
        _check_agent_for_inbox(assignee, conversation.inbox)
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return conversation
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    if assignee is not None:
        AgentProfile.objects.filter(user=assignee).update(last_assigned_at=timezone.now())
        outbox.record(conversation, EventKind.ASSIGNED, actor=by, assignee_id=assignee.pk)
    else:
        outbox.record(conversation, EventKind.UNASSIGNED, actor=by)
    events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def conversation_transfer(
    *,
    conversation: Conversation,
    by,
    to_agent: AbstractBaseUser | None = None,
    to_team: Team | None = None,
    note: str = "",
) -> Conversation:
    """Hand a case to another agent and/or team, with an optional internal note for them."""
    if to_agent is None and to_team is None:
        raise InvalidInput(
            _("Transfer to an agent or a team."), fields={"non_field_errors": [_("Give agent or team.")]}
        )
    conversation = _locked(conversation)
    if to_agent is not None:
        _check_agent_for_inbox(to_agent, conversation.inbox)
    data = {"from_agent_id": conversation.assignee_id, "from_team_id": conversation.team_id}
    if to_team is not None:
        conversation.team = to_team
    conversation.assignee = to_agent if to_agent is not None else None
    conversation.save(update_fields=["team", "assignee"])
    outbox.record(
        conversation,
        EventKind.TRANSFERRED,
        actor=by,
        to_agent_id=to_agent.pk if to_agent else None,
        to_team_id=to_team.pk if to_team else None,
        **data,
    )
    if note.strip():
        message_send(conversation=conversation, by=by, body=note, is_note=True)
    elif to_agent is None:
        from . import tasks

        transaction.on_commit(lambda: tasks.conversation_route.delay(conversation.pk))
    events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def conversation_resolve(
    *, conversation: Conversation, by=None, by_bot: bool = False, reason: str = ""
) -> Conversation:
    """Resolve; `by_bot` for a resolution no person made (a bot, the pending timer: `reason`)."""
    conversation = _locked(conversation)
    if conversation.status == Conversation.Status.RESOLVED:
        return conversation
    now = timezone.now()
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = now
    conversation.snoozed_until = None
    conversation.pending_resolve_at = None
    conversation.waiting_since = None
    if conversation.first_resolved_at is None:
        conversation.first_resolved_at = now
    sla_services.track(conversation, sla_services.RESOLVED, at=now)
    conversation.save()
    resolution_number = conversation.reopen_count + 1
    outbox.record(
        conversation,
        EventKind.RESOLVED,
        actor=by,
        resolution_number=resolution_number,
        agent_id=conversation.assignee_id,
        team_id=conversation.team_id,
        by_bot=by_bot,
        **({"reason": reason} if reason else {}),
    )
    events.broadcast_conversation(conversation)
    from . import tasks

    transaction.on_commit(lambda: tasks.conversation_resolved.delay(conversation.pk, resolution_number))
    return conversation


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, by=None) -> Conversation:
    # The contact first: a message arriving meanwhile must not open a second active conversation.
    Contact.objects.select_for_update().filter(pk=conversation.contact_id).first()
    conversation = _locked(conversation)
    if conversation.status != Conversation.Status.RESOLVED:
        return conversation
    if conversation.contact.conversations.active().exists():
        raise Conflict(
            _("This contact already has an open conversation; continue there."),
            code=ErrorCode.CONTACT_HAS_OPEN_CONVERSATION,
        )
    conversation.status = Conversation.Status.OPEN
    conversation.reopen_count += 1
    conversation.last_activity_at = timezone.now()
    sla_services.track(conversation, sla_services.REOPENED)
    conversation.save()
    outbox.record(conversation, EventKind.REOPENED, actor=by, reopen_count=conversation.reopen_count)
    events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def conversation_snooze(*, conversation: Conversation, by=None, until: datetime) -> Conversation:
    if until <= timezone.now():
        raise InvalidInput(_("Snooze until a time in the future."), fields={"until": [_("Must be in the future.")]})
    conversation = _locked(conversation)
    if conversation.status == Conversation.Status.RESOLVED:
        raise Conflict(_("A resolved conversation cannot be snoozed."), code=ErrorCode.CONVERSATION_RESOLVED)
    conversation.status = Conversation.Status.SNOOZED
    conversation.snoozed_until = until
    conversation.pending_resolve_at = None
    sla_services.track(conversation, sla_services.PAUSED)
    conversation.save(update_fields=["status", "snoozed_until", "pending_resolve_at", *sla_services.SLA_FIELDS])
    outbox.record(conversation, EventKind.SNOOZED, actor=by, until=until.isoformat())
    events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def conversation_unsnooze(*, conversation: Conversation, by) -> Conversation:
    """An agent opens a snoozed conversation before its time (`woke`, reason "agent")."""
    conversation = _locked(conversation)
    if conversation.status != Conversation.Status.SNOOZED:
        raise Conflict(_("This conversation is not snoozed."), code=ErrorCode.NOT_SNOOZED)
    _wake(conversation, by=by, reason="agent")
    return conversation


@transaction.atomic
def conversation_wake(*, conversation_id: int) -> None:
    """A snoozed conversation whose time has come opens again (`woke`, reason "timer"; idempotent)."""
    conversation = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation_id, status=Conversation.Status.SNOOZED, snoozed_until__lte=timezone.now())
        .first()
    )
    if conversation is None:
        return
    _wake(conversation, by=None, reason="timer")


def _wake(conversation: Conversation, *, by, reason: str) -> None:
    """Snoozed → open, with its event. (A customer's message wakes it in message_receive, reason "message".)"""
    conversation.status = Conversation.Status.OPEN
    conversation.snoozed_until = None
    sla_services.track(conversation, sla_services.RESUMED)
    conversation.save(update_fields=["status", "snoozed_until", *sla_services.SLA_FIELDS])
    outbox.record(conversation, EventKind.WOKE, actor=by, reason=reason)
    events.broadcast_conversation(conversation)


@transaction.atomic
def conversation_set_priority(*, conversation: Conversation, by=None, priority: str) -> Conversation:
    if priority not in Priority.values:
        raise InvalidInput(_("Unknown priority."), fields={"priority": [not_one_of(Priority.values)]})
    conversation = _locked(conversation)
    if conversation.priority != priority:
        old = conversation.priority
        conversation.priority = priority
        sla_services.track(conversation, sla_services.RECOMPUTE)
        conversation.save(update_fields=["priority", "priority_rank", *sla_services.SLA_FIELDS])
        outbox.record(conversation, EventKind.PRIORITY_CHANGED, actor=by, **{"from": old, "to": priority})
        events.broadcast_conversation(conversation)
    return conversation


@transaction.atomic
def conversation_set_pending(*, conversation: Conversation, by=None) -> Conversation:
    """Waiting on the customer: their next message opens it again; after the inbox's
    `pending_auto_resolve_days` without one the system resolves it (`conversations_resolve_pending_due`)."""
    conversation = _locked(conversation)
    if conversation.status == Conversation.Status.RESOLVED:
        raise Conflict(_("A resolved conversation cannot wait on the customer."), code=ErrorCode.CONVERSATION_RESOLVED)
    if conversation.status == Conversation.Status.PENDING:
        return conversation
    now = timezone.now()
    was_snoozed = conversation.status == Conversation.Status.SNOOZED
    conversation.status = Conversation.Status.PENDING
    conversation.snoozed_until = None
    conversation.pending_resolve_at = now + timedelta(days=conversation.inbox.pending_auto_resolve_days)
    if not was_snoozed:
        sla_services.track(conversation, sla_services.PAUSED, at=now)
    conversation.save(update_fields=["status", "snoozed_until", "pending_resolve_at", *sla_services.SLA_FIELDS])
    outbox.record(conversation, EventKind.PENDING, actor=by, resolve_at=conversation.pending_resolve_at.isoformat())
    events.broadcast_conversation(conversation)
    return conversation


def conversations_resolve_pending_due(*, limit: int = 500) -> int:
    """Timer (chat/timers.py): a pending conversation without a customer message for the inbox's
    days is resolved by the system (`resolved` with reason "pending_expired"; surveyed as a bot
    resolution is, by the survey policy)."""
    due = selectors.pending_due_ids(limit=limit)
    for conversation_id in due:
        conversation_resolve_pending(conversation_id=conversation_id)
    return len(due)


@transaction.atomic
def conversation_resolve_pending(*, conversation_id: int) -> None:
    conversation = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation_id, status=Conversation.Status.PENDING, pending_resolve_at__lte=timezone.now())
        .first()
    )
    if conversation is not None:
        conversation_resolve(conversation=conversation, by=None, by_bot=True, reason="pending_expired")


# --- contacts ---------------------------------------------------------------------------


def _merge(*, source: Contact, target: Contact, by, reason: str) -> AuditLog:
    if source.pk == target.pk:
        raise InvalidInput(_("A contact cannot be merged into itself."), fields={"target": [_("Same contact.")]})
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id:
        raise Conflict(_("That contact is already merged."), code=ErrorCode.ALREADY_MERGED)
    both_active = Conversation.objects.filter(contact__in=[source, target]).active().count()
    if both_active > 1:
        raise Conflict(
            _("Both contacts have an open conversation; resolve one first."),
            code=ErrorCode.BOTH_HAVE_OPEN_CONVERSATIONS,
        )
    identity_ids = list(source.identities.values_list("pk", flat=True))
    conversation_ids = list(source.conversations.values_list("pk", flat=True))
    source.identities.update(contact=target)
    source.conversations.update(contact=target)
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    for field in ("name", "email", "phone", "external_id"):
        if not getattr(target, field) and getattr(source, field):
            setattr(target, field, getattr(source, field))
    target.attributes = {**source.attributes, **target.attributes}
    if source.at_risk_until and (not target.at_risk_until or source.at_risk_until > target.at_risk_until):
        target.at_risk_until = source.at_risk_until
    target.save()
    for conversation in Conversation.objects.filter(pk__in=conversation_ids):
        outbox.record(conversation, EventKind.CONTACT_MERGED, actor=by, source_id=source.pk, target_id=target.pk)
    return AuditLog.objects.create(
        actor=by,
        action="contact_merge",
        target_type="contact",
        target_id=str(target.pk),
        data={
            "source_id": source.pk,
            "target_id": target.pk,
            "identity_ids": identity_ids,
            "conversation_ids": conversation_ids,
            "reason": reason,
        },
    )


@transaction.atomic
def contact_merge(*, source: Contact, target: Contact, by) -> Contact:
    """Merge `source` into `target` (by an agent): identities and conversations move; audited."""
    _merge(source=source, target=target, by=by, reason="agent")
    return Contact.objects.get(pk=target.pk)


@transaction.atomic
def contact_unmerge(*, contact: Contact, by) -> Contact:
    """Undo the merge of `contact` (the merged source): what moved moves back; audited."""
    source = Contact.objects.select_for_update().get(pk=contact.pk)
    if not source.merged_into_id:
        raise Conflict(_("That contact is not merged."), code=ErrorCode.NOT_MERGED)
    record = (
        AuditLog.objects.filter(action="contact_merge", target_type="contact", data__source_id=source.pk)
        .order_by("-id")
        .first()
    )
    if record is None:
        raise NotFound(_("No merge record for that contact."))
    target_id = record.data["target_id"]
    ContactIdentity.objects.filter(pk__in=record.data["identity_ids"], contact_id=target_id).update(contact=source)
    Conversation.objects.filter(pk__in=record.data["conversation_ids"], contact_id=target_id).update(contact=source)
    source.merged_into = None
    source.save(update_fields=["merged_into", "updated_at"])
    # Widget sockets signed in as the source followed the person into the target's group: they
    # close and reconnect as the source again (chat.consumers.widget).
    events.broadcast_tokens_revoked(target_id, token_contact_id=source.pk)
    AuditLog.objects.create(
        actor=by,
        action="contact_unmerge",
        target_type="contact",
        target_id=str(source.pk),
        data={"source_id": source.pk, "target_id": target_id, "merge_record_id": record.pk},
    )
    return source


@transaction.atomic
def contact_identity_confirm(*, contact: Contact, claim: Claim, name: str = "") -> Contact:
    """A channel proved that `contact` holds this identity (they answered mail we sent them there):
    it is attached to them, verified. A verified holder elsewhere keeps it and is returned instead."""
    value = normalise_identity(claim.kind, claim.value)
    contact = Contact.objects.select_for_update().get(pk=root_contact(contact).pk)
    identity = ContactIdentity.objects.select_for_update().filter(kind=claim.kind, value=value).first()
    if identity is None:
        ContactIdentity.objects.create(contact=contact, kind=claim.kind, value=value, verified=True)
    elif root_contact(identity.contact).pk != contact.pk:
        if identity.verified:
            return root_contact(identity.contact)
        identity.contact, identity.verified = contact, True
        identity.save(update_fields=["contact", "verified"])
    elif not identity.verified:
        identity.verified = True
        identity.save(update_fields=["verified"])
    field = CLAIM_FIELDS.get(claim.kind)
    updates = []
    if field and not getattr(contact, field):
        setattr(contact, field, value)
        updates.append(field)
    if name and not contact.name:
        contact.name = name[:200]
        updates.append("name")
    if updates:
        contact.save(update_fields=[*updates, "updated_at"])
    return contact


@transaction.atomic
def contact_set_sms_opt_out(*, contact: Contact, opted_out: bool) -> Contact:
    """STOP (True) or START (False) from the contact's phone: after STOP no SMS goes to them."""
    contact = Contact.objects.select_for_update().get(pk=root_contact(contact).pk)
    if contact.sms_opted_out != opted_out:
        contact.sms_opted_out = opted_out
        contact.save(update_fields=["sms_opted_out", "updated_at"])
    return contact


@transaction.atomic
def contact_set_locale(*, contact: Contact, locale: str = "", source: str, time_zone: str = "") -> Contact:
    """The language (and time zone) a contact's own client or website tells: stored when it is one
    cxhub speaks. A detected one (browser, email headers) never replaces one the website or an agent
    set; a malformed or unknown one is logged and changes nothing (their inbox's default applies)."""
    code = languages.normalise(locale, source=source)
    zone = languages.valid_time_zone(time_zone)
    if not code and not zone:
        return contact
    if (
        contact.merged_into_id is None
        and (not code or contact.locale == code)
        and (not zone or contact.time_zone == zone)
    ):
        return contact  # nothing new (a returning visitor's every session): no lock, no write
    contact = Contact.objects.select_for_update().get(pk=root_contact(contact).pk)
    updates = []
    detected = source in Contact.DETECTED_LOCALE_SOURCES
    keeps_own = detected and contact.locale_source not in ("", *Contact.DETECTED_LOCALE_SOURCES)
    if code and not keeps_own and (contact.locale, contact.locale_source) != (code, source):
        contact.locale, contact.locale_source = code, source
        updates += ["locale", "locale_source"]
    if zone and contact.time_zone != zone:
        contact.time_zone = zone
        updates.append("time_zone")
    if updates:
        contact.save(update_fields=[*updates, "updated_at"])
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, by=None, **fields) -> Contact:
    """What a person may change by hand (the API's PATCH, the admin): name, attributes, survey
    opt-out, language and time zone."""
    allowed = {"name", "attributes", "survey_opted_out", "locale", "time_zone"}
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(_("These fields cannot be changed."), fields={f: [_("Read-only.")] for f in unknown})
    if "attributes" in fields and not isinstance(fields["attributes"], dict):
        raise InvalidInput(
            _("Attributes are an object of names to values."),
            fields={"attributes": [_('An object, e.g. {"plan": "Gold"}.')]},
        )
    if fields.get("locale"):
        # An agent's or the API's explicit choice: refused when cxhub does not speak it.
        code = languages.normalise(fields["locale"], source="agent")
        if not code:
            raise InvalidInput(
                _("cxhub does not speak this language."),
                fields={"locale": [_("One of %(languages)s.") % {"languages": ", ".join(languages.shipped())}]},
            )
        fields["locale"] = code
        fields["locale_source"] = Contact.LocaleSource.AGENT
    elif "locale" in fields:
        fields["locale"], fields["locale_source"] = "", ""
    if fields.get("time_zone"):
        if not languages.valid_time_zone(fields["time_zone"]):
            raise InvalidInput(
                _("Unknown time zone."), fields={"time_zone": [_('A time zone name, e.g. "Europe/Madrid".')]}
            )
        fields["time_zone"] = fields["time_zone"].strip()
    for key, value in fields.items():
        setattr(contact, key, value)
    contact.save(update_fields=[*fields, "updated_at"])
    return contact


@transaction.atomic
def agent_set_language(*, user: AbstractBaseUser, language: str) -> AgentProfile:
    """The console's language of this agent ("" : their browser's); one cxhub does not ship is refused."""
    code = languages.normalise(language, source="agent profile") if language else ""
    if language and not code:
        raise InvalidInput(
            _("cxhub does not speak this language."), fields={"language": [not_one_of(languages.shipped())]}
        )
    profile, _created = AgentProfile.objects.select_for_update().get_or_create(
        user=user, defaults={"display_name": user.get_username()}
    )
    if profile.language != code:
        profile.language = code
        profile.save(update_fields=["language"])
    return profile


@transaction.atomic
def agent_set_availability(*, user: AbstractBaseUser, availability: str) -> AgentProfile:
    if availability not in AgentProfile.Availability.values:
        raise InvalidInput(
            _("Unknown availability."),
            fields={"availability": [not_one_of(AgentProfile.Availability.values)]},
        )
    profile, _created = AgentProfile.objects.select_for_update().get_or_create(
        user=user, defaults={"display_name": user.get_username()}
    )
    was = profile.availability
    profile.availability = availability
    profile.save(update_fields=["availability"])
    if was != availability:
        from . import tasks

        transaction.on_commit(lambda: tasks.agent_availability_changed.delay(user.pk))
    return profile


def conversations_wake_due() -> int:
    """Timer (chat/timers.py): every snoozed conversation whose time has come opens again."""
    due = selectors.snoozed_due_ids()
    for conversation_id in due:
        conversation_wake(conversation_id=conversation_id)
    return len(due)
