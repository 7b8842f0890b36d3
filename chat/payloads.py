"""The named shapes of messages and conversations: one builder per audience, used by every path
that sends that audience one (sockets and broadcasts, webhooks, a person's export).

- console: agents' sockets and broadcasts (agent-only fields included);
- customer: the widget (`message_for_customer` keeps the customer-safe fields; never notes);
- webhook: outbound webhooks' `data` (integrations/webhooks.py);
- export: a person's data export (chat/privacy.py).
The REST API's serializers (chat/api/serializers.py) document their own shapes in the schema.
"""

from . import attachments, sla
from .models import Conversation, Message

# What a customer's widget may see of a message (the console shape minus agent-only fields).
WIDGET_MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "seq",
    "sender",
    "channel",
    "body",
    "is_note",
    "created_at",
    "client_msg_id",
)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def sender_name(message: Message) -> str:
    if message.sender_kind == Message.SenderKind.AGENT and message.sender_user_id:
        profile = getattr(message.sender_user, "agent", None)
        return profile.display_name if profile else message.sender_user.get_username()
    if message.sender_kind == Message.SenderKind.CONTACT:
        return message.conversation.contact.name or "Customer"
    if message.sender_kind == Message.SenderKind.BOT:
        return "Bot"
    return "System"


def email_subject(message: Message) -> str:
    """The subject line an inbound email came with ("" for other messages)."""
    return str(((message.metadata or {}).get("email") or {}).get("subject") or "")


def shortened(message: Message) -> dict | None:
    """How much of an over-long inbound email or SMS was cut to fit one message, or None."""
    cut = (message.metadata or {}).get("shortened")
    if not isinstance(cut, dict) or not isinstance(cut.get("original_chars"), int):
        return None
    limit = int(cut.get("limit") or 0)
    return {
        "original_chars": cut["original_chars"],
        "limit": limit,
        "over_by": cut["original_chars"] - limit,
        "attachment": str(cut.get("attachment") or ""),
    }


def message_for_console(message: Message) -> dict:
    """The websocket shape of a message (DESIGN.md §4). Consoles get all of it; widgets only
    the customer-safe fields (`message_for_customer`), and never notes."""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": {"kind": message.sender_kind, "name": sender_name(message)},
        "channel": message.channel,
        "body": message.body,
        "is_note": message.is_note,
        "created_at": message.created_at.isoformat(),
        "client_msg_id": message.client_msg_id,
        "delivery_status": message.delivery_status,
        "delivery_error": message.delivery_error,
        "subject": email_subject(message),
        "shortened": shortened(message),
        "attachments": attachments.listing(message.pk, message.attachments, audience=attachments.Audience.AGENT),
    }


def sla_clocks(conversation: Conversation) -> list[dict]:
    """A conversation's running SLA clocks, soonest due first (chat/sla.py)."""
    return sla.summary(conversation.sla or {}) if conversation.status != Conversation.Status.RESOLVED else []


def conversation_for_console(conversation: Conversation) -> dict:
    """The console's shape of a conversation's state (agent-only fields included)."""
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "last_seq": conversation.last_seq,
        "last_customer_channel": conversation.last_customer_channel,
        "last_activity_at": conversation.last_activity_at.isoformat(),
        "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        "pending_resolve_at": _iso(conversation.pending_resolve_at),
        "sla_due_at": _iso(conversation.sla_due_at),
        "sla": sla_clocks(conversation),
    }


def message_for_customer(message: dict) -> dict:
    """The customer-safe fields of a console-shaped message, its files linked for the customer."""
    shown = {key: message[key] for key in WIDGET_MESSAGE_FIELDS if key in message}
    if "attachments" in message and "id" in message:
        shown["attachments"] = attachments.relisted(
            message["id"], message["attachments"], audience=attachments.Audience.CUSTOMER
        )
    return shown


def conversation_for_webhook(conversation: Conversation) -> dict:
    """A conversation in an outbound webhook's `data` (datetimes as JSON makes them)."""
    return {
        "id": conversation.pk,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "opened_at": conversation.opened_at,
        "resolved_at": conversation.resolved_at,
        "last_seq": conversation.last_seq,
        "last_customer_channel": conversation.last_customer_channel,
    }


def message_for_webhook(message: Message) -> dict:
    """A message in a `message.created` webhook (notes included: webhooks are the company's)."""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_kind": message.sender_kind,
        "sender_user_id": message.sender_user_id,
        "channel": message.channel,
        "direction": message.direction,
        "body": message.body,
        "is_note": message.is_note,
        "created_at": message.created_at,
    }


def message_for_export(message: Message) -> dict:
    """A message in a person's data export (chat/privacy.py): everything stored about it."""
    return {
        "id": message.pk,
        "seq": message.seq,
        "sender_kind": message.sender_kind,
        "channel": message.channel,
        "direction": message.direction,
        "body": message.body,
        "html": message.html,
        "attachments": message.attachments,
        "is_note": message.is_note,
        "delivery_status": message.delivery_status,
        "metadata": message.metadata,
        "created_at": _iso(message.created_at),
    }
