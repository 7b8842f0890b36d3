"""The SMS channel (Twilio): signed inbound webhooks, status callbacks, replies out, STOP/START/HELP.

In: `sms_receive(inbox=..., params=...)` takes the form fields of Twilio's inbound webhook (the
view has checked X-Twilio-Signature first): opt-out keywords set Contact.sms_opted_out, a survey
answer goes to feedback, anything else is a message (provider "twilio", MessageSid as its id,
so Twilio's retries store one message).

Out: `send_sms(inbox=..., to=..., body=...)` is the one way an SMS leaves (agent replies and
surveys): it returns the provider's sid, or None when the number opted out. An agent's reply
with files goes as an MMS: Twilio gets `MediaUrl`s, signed expiring links it fetches them from. It uses the twilio
REST client with the inbox's credentials (`settings.TWILIO_API_BASE` overrides Twilio's URL);
with `settings.SMS_OUTBOX` (the embedded default) SMS go to the in-process `OUTBOX` instead.
"""

import base64
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from chat import attachments, languages, safe_http, selectors, services, tasks
from chat.errors import ErrorCode
from chat.models import Channel, Contact, ContactIdentity, Conversation, Inbox, Message
from chat.selectors import root_contact
from chat.services import Claim, Received
from chat.sms_segments import sms_length
from cxhub.errors import DomainError, InvalidInput

logger = logging.getLogger(__name__)

PROVIDER = "twilio"
# The keywords Twilio (and US carriers) treat as opt-out, opt-in and help.
STOP_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_KEYWORDS = {"START", "YES", "UNSTOP"}
HELP_KEYWORDS = {"HELP", "INFO"}
MEDIA_MAX = 10
TWILIO_TIMEOUT_SECONDS = 15
# Twilio's error for "the recipient replied STOP": the number is opted out on their side.
TWILIO_UNSUBSCRIBED_ERROR = 21610


class SmsSendError(DomainError):
    """An SMS could not be sent (provider refused, unreachable or not configured)."""

    code = "sms_send_failed"
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The SMS could not be sent."


# --- the in-process outbox (embedded default) -------------------------------------------


@dataclass(frozen=True)
class OutboxSms:
    sid: str
    from_number: str
    to: str
    body: str
    inbox_id: int
    sent_at: datetime = field(default_factory=timezone.now)
    media_urls: tuple[str, ...] = ()


OUTBOX: list[OutboxSms] = []
_outbox_lock = threading.Lock()


def outbox_clear() -> None:
    with _outbox_lock:
        OUTBOX.clear()


def outbox_messages(to: str | None = None) -> list[OutboxSms]:
    with _outbox_lock:
        return [sms for sms in OUTBOX if to is None or sms.to == to]


# --- numbers and contacts ---------------------------------------------------------------


def phone_or_none(value: str) -> str | None:
    try:
        return services.normalise_phone(value or "")
    except InvalidInput:
        return None


def contact_for_number(number: str) -> Contact | None:
    """The person who holds this phone number, if we know them."""
    identity = (
        ContactIdentity.objects.select_related("contact").filter(kind=ContactIdentity.Kind.PHONE, value=number).first()
    )
    if identity is not None:
        return root_contact(identity.contact)
    contact = Contact.objects.filter(phone=number, merged_into=None).order_by("id").first()
    return contact


def is_opted_out(number: str) -> bool:
    contact = contact_for_number(number)
    return bool(contact and contact.sms_opted_out)


def sms_inbox_for(conversation: Conversation) -> Inbox | None:
    """The SMS number a conversation's texts go out from: where the customer last texted, else its own."""
    return selectors.reply_inbox_for(conversation, Channel.SMS)


def phone_for(conversation: Conversation) -> str:
    contact = root_contact(conversation.contact)
    last_in = (
        conversation.messages.filter(channel=Channel.SMS, direction=Message.Direction.INBOUND).order_by("-seq").first()
    )
    candidates = []
    if last_in is not None:
        candidates.append((last_in.metadata or {}).get("sms", {}).get("from", ""))
    identities = contact.identities.filter(kind=ContactIdentity.Kind.PHONE).order_by("-verified", "-id")
    candidates += [i.value for i in identities] + [contact.phone]
    for candidate in candidates:
        number = phone_or_none(candidate or "")
        if number:
            return number
    raise SmsSendError("The customer has no phone number.", code=ErrorCode.NO_PHONE_NUMBER)


# --- out --------------------------------------------------------------------------------


def twilio_client(inbox: Inbox) -> Client:
    config = inbox.provider_config or {}
    account_sid, auth_token = config.get("account_sid"), config.get("auth_token")
    if not account_sid or not auth_token:
        raise SmsSendError("This SMS inbox has no Twilio credentials.", code=ErrorCode.SMS_NOT_CONFIGURED)
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS))
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE
    return client


def status_callback_url(inbox: Inbox) -> str:
    return f"{settings.PUBLIC_URL}/hooks/twilio/{inbox.public_id}/status"


def send_sms(*, inbox: Inbox, to: str, body: str, media_urls: list[str] | None = None) -> str | None:
    """Send one SMS from `inbox` to `to`; the provider's sid, or None when the number opted out (STOP).
    With `media_urls` (public links Twilio fetches the files from) it goes as an MMS.

    Raises SmsSendError when it cannot be sent (bad number, no credentials, provider refused).
    """
    number = phone_or_none(to)
    if number is None:
        raise SmsSendError("Not a phone number.", code=ErrorCode.INVALID_PHONE_NUMBER)
    if not inbox.phone_number:
        raise SmsSendError("This inbox has no phone number to send from.", code=ErrorCode.SMS_NOT_CONFIGURED)
    if is_opted_out(number):
        logger.info("SMS to %s suppressed: the number replied STOP", number)
        return None
    if settings.SMS_OUTBOX:
        sms = OutboxSms(
            "SM" + uuid.uuid4().hex, inbox.phone_number, number, body, inbox.pk, media_urls=tuple(media_urls or ())
        )
        with _outbox_lock:
            OUTBOX.append(sms)
        length = sms_length(body)
        logger.info(
            "SMS outbox: %s -> %s (%s, %s × %s): %s",
            sms.from_number,
            sms.to,
            sms.sid,
            length.segments,
            length.encoding,
            body,
        )
        return sms.sid
    client = twilio_client(inbox)
    try:
        content = {"body": body} if body else {}  # an MMS may be only its files
        if media_urls:
            content["media_url"] = list(media_urls)
        sent = client.messages.create(
            to=number, from_=inbox.phone_number, status_callback=status_callback_url(inbox), **content
        )
    except TwilioRestException as exc:
        if exc.code == TWILIO_UNSUBSCRIBED_ERROR:
            contact = contact_for_number(number)
            if contact is not None:
                services.contact_set_sms_opt_out(contact=contact, opted_out=True)
            logger.info("Twilio says %s opted out; suppressed", number)
            return None
        raise SmsSendError(f"Twilio refused the SMS: {exc.msg} (error {exc.code})") from exc
    except (TwilioException, OSError, ValueError) as exc:
        raise SmsSendError(f"Twilio could not be reached: {exc}") from exc
    except Exception as exc:  # requests' own errors and anything else from the HTTP client
        raise SmsSendError(f"Twilio could not be reached: {exc}") from exc
    length = sms_length(body)
    logger.info(
        "SMS sent by Twilio: %s -> %s (%s, %s × %s)",
        inbox.phone_number,
        number,
        sent.sid,
        length.segments,
        length.encoding,
    )
    return sent.sid


def sms_deliver(*, message: Message) -> str | None:
    """Send an agent's reply by SMS; the sid, or None when suppressed by an opt-out."""
    inbox = sms_inbox_for(message.conversation)
    if inbox is None:
        raise SmsSendError("No SMS inbox is set up to send from.", code=ErrorCode.SMS_NOT_CONFIGURED)
    return send_sms(inbox=inbox, to=phone_for(message.conversation), body=message.body, media_urls=mms_links(message))


def mms_links(message: Message) -> list[str]:
    """Where Twilio fetches a reply's files from, to send them as an MMS: signed links that expire
    (ATTACHMENT_URL_MAX_AGE) under PUBLIC_URL, open without a login (docs/attachments.md)."""
    return [
        settings.PUBLIC_URL + attachments.file_url(message.pk, index, audience=attachments.Audience.PROVIDER)
        for index, entry in enumerate(message.attachments or [])
        if isinstance(entry, dict) and entry.get("path")
    ][:MEDIA_MAX]


# --- in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsOutcome:
    """What an inbound SMS became, and the TwiML reply text (empty for none)."""

    kind: str  # "message" | "duplicate" | "survey" | "stop" | "start" | "help"
    received: Received | None = None
    reply: str = ""


def keyword_of(body: str) -> str:
    words = (body or "").strip().upper().split()
    if len(words) != 1:
        return ""
    word = words[0].strip(".!")
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return ""


def _note(contact: Contact, text: str) -> None:
    """An internal note on the contact's active conversation, so the agent knows."""
    conversation = contact.conversations.active().first()
    if conversation is not None:
        services.message_send(
            conversation=conversation, by=None, body=text, is_note=True, sender_kind=Message.SenderKind.SYSTEM
        )


# What may answer an SMS before it becomes a message (another app's, registered in its
# AppConfig.ready: feedback's survey replies; chat never imports it).
_reply_handlers: list = []


def register_reply_handler(handler) -> None:
    """`handler(*, contact, inbox, body) -> bool`: True when the SMS was its answer (consumed)."""
    _reply_handlers.append(handler)


def sms_receive(*, inbox: Inbox, params) -> SmsOutcome:
    """One inbound SMS (Twilio's webhook fields, signature already checked)."""
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()[:64]
    if not sid:
        raise InvalidInput("MessageSid is missing.", fields={"MessageSid": ["This field is required."]})
    sender = phone_or_none(params.get("From", ""))
    if sender is None:
        raise InvalidInput("From is not a phone number.", fields={"From": ["Not a phone number."]})
    to = phone_or_none(params.get("To", ""))
    if to is None or to != inbox.phone_number:
        raise InvalidInput("This SMS was not sent to this inbox's number.", code=ErrorCode.UNKNOWN_NUMBER)
    body = (params.get("Body") or "").replace("\x00", "")

    duplicate = Message.objects.filter(provider=PROVIDER, external_id=sid).first()
    if duplicate is not None:
        return SmsOutcome("duplicate", Received(duplicate, False))

    contact = services.contact_identify(claims=[Claim(ContactIdentity.Kind.PHONE, sender, True)])
    keyword = keyword_of(body)
    if keyword == "stop":
        contact = services.contact_set_sms_opt_out(contact=contact, opted_out=True)
        _note(contact, f"The customer texted {body.strip()!r}: no more SMS go to {sender}.")
        logger.info("SMS opt-out: %s", sender)
        return SmsOutcome("stop")
    if keyword == "start":
        contact = services.contact_set_sms_opt_out(contact=contact, opted_out=False)
        _note(contact, f"The customer texted {body.strip()!r}: SMS to {sender} are allowed again.")
        logger.info("SMS opt-in: %s", sender)
        return SmsOutcome("start")
    if keyword == "help":
        with languages.speaking_to(contact, inbox):
            reply = _("%(inbox)s: reply to this number to reach our team. Reply STOP to opt out.") % {
                "inbox": inbox.name
            }
        return SmsOutcome("help", reply=reply)

    for answers in _reply_handlers:
        if answers(contact=contact, inbox=inbox, body=body):
            return SmsOutcome("survey")

    media = []
    try:
        count = min(int(params.get("NumMedia") or 0), MEDIA_MAX)
    except ValueError:
        count = 0
    for index in range(count):
        url = (params.get(f"MediaUrl{index}") or "")[:500]
        if url.startswith("https://") or url.startswith("http://"):
            # fetched by the worker through the SSRF guard (tasks.message_media_fetch)
            content_type = (params.get(f"MediaContentType{index}") or "")[:100]
            media.append({"source_url": url, "content_type": content_type, "pending": True})
    limit = settings.MESSAGE_BODY_MAX_CHARS
    metadata = {"sms": {"from": sender, "to": to, "segments": (params.get("NumSegments") or "")[:4]}}
    if len(body) > limit:
        # Twilio joins at most 1600 characters, so this is a provider gone odd; store what fits and say so.
        metadata["shortened"] = {"original_chars": len(body), "limit": limit}
    received = services.message_receive(
        inbox=inbox,
        contact=contact,
        channel=Channel.SMS,
        body=body[:limit],
        attachments=media,
        provider=PROVIDER,
        external_id=sid,
        metadata=metadata,
    )
    if received.created and media:
        message_id = received.message.pk
        transaction.on_commit(lambda: tasks.message_media_fetch.delay(message_id))
    logger.info("SMS from %s into conversation %s", sender, received.message.conversation_id)
    return SmsOutcome("message" if received.created else "duplicate", received)


# --- SMS media (fetched by the worker) --------------------------------------------------


def _media_fetch_one(inbox: Inbox, entry: dict, index: int) -> dict:
    """One pending media entry fetched, checked and stored; or listed as refused, with why."""
    url = entry.get("source_url") or ""
    config = inbox.provider_config or {}
    headers = {"User-Agent": "cxhub"}
    if config.get("account_sid") and config.get("auth_token"):
        # Twilio's media may require the account's credentials (sent to Twilio's host only).
        token = base64.b64encode(f"{config['account_sid']}:{config['auth_token']}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    declared = str(entry.get("content_type") or "")
    name = f"media-{index + 1}.{MEDIA_EXTENSIONS.get(declared, 'bin')}"
    try:
        answer = safe_http.get(
            url,
            headers=headers,
            max_bytes=attachments.max_bytes(inbox),
            timeout=settings.SMS_MEDIA_TIMEOUT_SECONDS,
            allow_private=settings.SMS_MEDIA_ALLOW_PRIVATE,
        )
    except safe_http.RefusedDestination as error:
        logger.warning("SMS media %s refused by the SSRF guard: %s", url, error)
        return {"name": name, "content_type": declared, "rejected": "refused_destination"}
    except safe_http.TooLarge:
        return {"name": name, "content_type": declared, "rejected": "too_large"}
    except OSError as error:
        raise ConnectionError(str(error)) from error  # the task retries with back-off
    if answer.status != 200:
        logger.warning("SMS media %s answered %s", url, answer.status)
        return {"name": name, "content_type": declared, "rejected": "not_fetched"}
    sniffed = attachments.ACCEPTED_TYPES.get(attachments.sniff(answer.body, name) or "")
    if sniffed and attachments.extension_of(name) not in sniffed[1]:
        name = f"media-{index + 1}.{sorted(sniffed[1])[0]}"  # the provider's type was wrong: trust the content
    checked = attachments.check_received(inbox, attachments.Upload(name=name, data=answer.body), declared=declared)
    stored, _paths = attachments.store_received(inbox, [checked])
    return stored[0]


MEDIA_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
}


def media_fetch(*, message_id: int) -> int:
    """Fetch every pending media entry of a message (outside any transaction: network), then put
    them in place in one (services.message_settle_attachments). Returns how many were settled."""
    message = Message.objects.select_related("inbox").filter(pk=message_id).first()
    if message is None:
        return 0
    pending = {
        index: entry
        for index, entry in enumerate(message.attachments or [])
        if isinstance(entry, dict) and entry.get("pending")
    }
    settled = {index: _media_fetch_one(message.inbox, entry, index) for index, entry in pending.items()}
    if not settled:
        return 0
    try:
        _message, unused = services.message_settle_attachments(message_id=message_id, settled=settled)
    except BaseException:
        attachments.delete(attachments.stored_paths(list(settled.values())))
        raise
    attachments.delete(attachments.stored_paths(unused))
    return len(settled) - len(unused)


# --- status callbacks -------------------------------------------------------------------

STATUS_MAP = {
    "sent": Message.Delivery.SENT,
    "delivered": Message.Delivery.DELIVERED,
    "read": Message.Delivery.READ,
    "failed": Message.Delivery.FAILED,
    "undelivered": Message.Delivery.FAILED,
}
STATUS_RANK = {
    Message.Delivery.PENDING: 0,
    Message.Delivery.SENT: 1,
    Message.Delivery.DELIVERED: 2,
    Message.Delivery.READ: 3,
    Message.Delivery.FAILED: 4,
}


def sms_status(*, params) -> Message | None:
    """A status callback: the outbound message's delivery status moves forward, never back."""
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()[:64]
    new = STATUS_MAP.get((params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower())
    if not sid or new is None:
        return None
    message = Message.objects.filter(provider=PROVIDER, external_id=sid, direction=Message.Direction.OUTBOUND).first()
    if message is None:
        return None  # a survey SMS, or not ours: nothing to update
    if STATUS_RANK.get(new, 0) <= STATUS_RANK.get(message.delivery_status, 0):
        return message
    error = ""
    if new == Message.Delivery.FAILED:
        code = (params.get("ErrorCode") or "").strip()[:10]
        error = f"Twilio reports the SMS {params.get('MessageStatus', 'failed')}" + (f" (error {code})" if code else "")
        logger.warning("SMS message %s %s", message.pk, error)
    return services.message_set_delivery(message_id=message.pk, status=new, error=error)
