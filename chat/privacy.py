"""Privacy: export everything about a contact, and erase their personal data; both audited.

Erasure keeps the rows that the metrics count (contact, conversations, messages, events,
survey invitations and scores, facts, rollups) and empties what identifies or describes the
person: names and addresses, identities, visitor tokens, message bodies, HTML, attachments
(the stored files too), message metadata, conversation subjects, survey comments and
follow-up notes. Every count on the dashboard is the same before and after.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from . import attachments, events, payloads, search
from .models import AuditLog, Contact, ContactIdentity, Conversation, ConversationEvent, Message, VisitorToken

logger = logging.getLogger(__name__)

EXPORT_FORMAT_VERSION = 1


def _people(contact: Contact) -> list[Contact]:
    """The contact and every contact merged into it (at any depth): one person."""
    people = [contact]
    seen = {contact.pk}
    frontier = [contact.pk]
    while frontier:
        merged = list(Contact.objects.filter(merged_into_id__in=frontier).exclude(pk__in=seen).order_by("pk"))
        people += merged
        seen.update(c.pk for c in merged)
        frontier = [c.pk for c in merged]
    return people


def iso(value) -> str | None:
    """A datetime as the export writes it (None stays None)."""
    return value.isoformat() if value else None


def _contact_data(contact: Contact) -> dict:
    return {
        "id": contact.pk,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "external_id": contact.external_id,
        "attributes": contact.attributes,
        "at_risk_until": iso(contact.at_risk_until),
        "sms_opted_out": contact.sms_opted_out,
        "survey_opted_out": contact.survey_opted_out,
        "merged_into": contact.merged_into_id,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


# --- what other apps keep about a person ------------------------------------------------


@dataclass(frozen=True)
class PersonalData:
    """Another app's part of a person's data (registered in its `AppConfig.ready`; chat never
    imports it): `export(contact_ids)` gives sections of the export document, `erase(contact_ids)`
    empties what identifies or describes them, inside the erasure's transaction, and returns
    counts of what it emptied."""

    export: Callable[[list[int]], dict]
    erase: Callable[[list[int]], dict]


_personal_data: list[PersonalData] = []


def register_personal_data(*, export: Callable[[list[int]], dict], erase: Callable[[list[int]], dict]) -> None:
    _personal_data.append(PersonalData(export=export, erase=erase))


def _export_document(contact: Contact) -> dict:
    contact = Contact.objects.get(pk=contact.pk)  # as stored now, not as the caller last saw it
    people = _people(contact)
    ids = [person.pk for person in people]
    conversations = []
    for conversation in Conversation.objects.filter(contact_id__in=ids).select_related("inbox").order_by("pk"):
        conversations.append(
            {
                "id": conversation.pk,
                "inbox": {"id": conversation.inbox_id, "name": conversation.inbox.name},
                "status": conversation.status,
                "subject": conversation.subject,
                "priority": conversation.priority,
                "opened_at": iso(conversation.opened_at),
                "resolved_at": iso(conversation.resolved_at),
                "messages": [payloads.message_for_export(m) for m in conversation.messages.order_by("seq")],
                "events": [
                    {"kind": e.kind, "data": e.data, "created_at": iso(e.created_at)}
                    for e in ConversationEvent.objects.filter(conversation=conversation).order_by("pk")
                ],
            }
        )
    document = {
        "format": "cxhub.contact_export",
        "version": EXPORT_FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "contact": _contact_data(contact),
        "merged_contacts": [_contact_data(person) for person in people[1:]],
        "identities": [
            {"kind": i.kind, "value": i.value, "verified": i.verified, "created_at": iso(i.created_at)}
            for i in ContactIdentity.objects.filter(contact_id__in=ids).order_by("pk")
        ],
        "visitor_tokens": [
            {
                "inbox_id": t.inbox_id,
                "verified": t.verified,
                "created_at": iso(t.created_at),
                "revoked_at": iso(t.revoked_at),
            }
            for t in VisitorToken.objects.filter(contact_id__in=ids).order_by("pk")
        ],
        "conversations": conversations,
    }
    for part in _personal_data:
        document.update(part.export(ids))
    return document


@transaction.atomic
def contact_export(*, contact: Contact, by=None) -> dict:
    """Everything stored about the person (JSON-ready), recorded in the audit log."""
    document = _export_document(contact)
    AuditLog.objects.create(
        actor=by,
        action="contact_export",
        target_type="contact",
        target_id=str(contact.pk),
        data={
            "conversations": len(document["conversations"]),
            "messages": sum(len(c["messages"]) for c in document["conversations"]),
            "merged_contacts": [c["id"] for c in document["merged_contacts"]],
        },
    )
    return document


def _stored_files(entries: list) -> list[str]:
    """Originals and image previews (chat/attachments.py)."""
    return attachments.stored_paths(entries)


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except Exception:  # a missing file is already erased; never undo the committed erasure
            logger.warning("could not delete attachment file %s", path)


@transaction.atomic
def contact_erase(*, contact: Contact, by=None) -> dict:
    """Remove the person's personal data, keeping the anonymous rows the metrics count.

    Idempotent: erasing twice changes nothing the second time (and is audited again).
    Returns what was erased (counts only).
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    people = _people(contact)
    ids = [person.pk for person in people]
    conversations = Conversation.objects.filter(contact_id__in=ids)
    messages = Message.objects.filter(conversation__in=conversations)

    files = [path for entries in messages.values_list("attachments", flat=True) for path in _stored_files(entries)]
    search.unindex_messages(list(messages.values_list("id", flat=True)))  # their words are found no more
    counts = {
        "contacts": len(ids),
        "identities": ContactIdentity.objects.filter(contact_id__in=ids).delete()[0],
        "visitor_tokens": VisitorToken.objects.filter(contact_id__in=ids).delete()[0],
        "messages": messages.update(body="", html="", attachments=[], metadata={}, delivery_error=""),
        "attachment_files": len(files),
        "conversations": conversations.update(subject=""),
    }
    for part in _personal_data:
        counts.update(part.erase(ids))
    Contact.objects.filter(pk__in=ids).update(
        name="", email="", phone="", external_id="", attributes={}, updated_at=timezone.now()
    )
    AuditLog.objects.create(
        actor=by,
        action="contact_erase",
        target_type="contact",
        target_id=str(contact.pk),
        data={**counts, "contact_ids": ids},
    )
    transaction.on_commit(lambda: _delete_files(files))
    for person_id in ids:  # their open widget sockets close: the tokens are gone
        events.broadcast_tokens_revoked(person_id)
    logger.info("erased contact %s (%s)", contact.pk, counts)
    return counts
