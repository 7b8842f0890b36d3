"""Delivery of agent replies on their channel (email, SMS); web replies need no delivery.

`deliver(message_id=...)` is what the `message_deliver` task runs. It claims the message first
(`chat.services.message_delivery_claim`), so a message already sent (or being sent) is not sent
again; the outcome is recorded with `message_set_delivery`, which broadcasts it to the console.
It never raises for a provider's failure: the failure is stored on the message and logged.
"""

import logging

from django.conf import settings
from django.db.models import Q

from chat import services
from chat.errors import ErrorCode
from chat.models import Channel, Conversation, Message, VisitorToken
from chat.selectors import root_contact
from cxhub.errors import InvalidInput

from . import email, sms

logger = logging.getLogger(__name__)


def deliver(*, message_id: int) -> None:
    """Send one outbound message once."""
    message = services.message_delivery_claim(message_id=message_id)
    if message is None:
        return
    try:
        if message.channel == Channel.EMAIL:
            external_id, provider = email.email_send(message=message), email.PROVIDER
        elif message.channel == Channel.SMS:
            external_id, provider = sms.sms_deliver(message=message), sms.PROVIDER
            if external_id is None:
                _failed(message, "The customer has opted out of SMS (they replied STOP); nothing was sent.")
                return
        else:
            services.message_set_delivery(message_id=message.pk, status=Message.Delivery.SENT)
            return
    except (email.EmailDeliveryError, sms.SmsSendError) as exc:
        _failed(message, str(getattr(exc, "detail", exc)))
        return
    except Exception as exc:  # a bug must not leave the message "pending" forever without a word
        logger.exception("delivering message %s failed", message.pk)
        _failed(message, f"Delivery failed: {exc.__class__.__name__}")
        return
    services.message_set_delivery(
        message_id=message.pk, status=Message.Delivery.SENT, external_id=external_id, provider=provider
    )
    logger.info("message %s sent by %s (%s)", message.pk, message.channel, external_id)


def _failed(message: Message, error: str) -> None:
    logger.warning("message %s (%s) not delivered: %s", message.pk, message.channel, error)
    services.message_set_delivery(message_id=message.pk, status=Message.Delivery.FAILED, error=error)


# --- which channels a reply can go out on -------------------------------------------------

# Why a channel cannot carry a reply: a stable code and the words the console shows.
UNREACHABLE = {
    "no_web_session": "has not used the web chat",
    "no_email_inbox": "no email inbox to send from",
    "no_email_address": "no email address",
    "no_sms_inbox": "no SMS number to send from",
    "sms_not_configured": "SMS is not set up",
    "no_phone_number": "no phone number",
    "opted_out": "opted out (replied STOP)",
}
REPLY_CHANNELS = (Channel.WEB, Channel.EMAIL, Channel.SMS)


def _web_unreachable(conversation: Conversation) -> str | None:
    person = root_contact(conversation.contact)
    tokens = VisitorToken.objects.filter(Q(contact=person) | Q(contact__merged_into=person), revoked_at=None)
    wrote_on_web = conversation.messages.filter(channel=Channel.WEB, direction=Message.Direction.INBOUND)
    return None if tokens.exists() or wrote_on_web.exists() else "no_web_session"


def _email_unreachable(conversation: Conversation) -> str | None:
    inbox = email.email_inbox_for(conversation)
    if inbox is None or not inbox.email_address:
        return "no_email_inbox"
    try:
        email.recipient_for(conversation)
    except email.EmailDeliveryError:
        return "no_email_address"
    return None


def _sms_unreachable(conversation: Conversation) -> str | None:
    inbox = sms.sms_inbox_for(conversation)
    if inbox is None or not inbox.phone_number:
        return "no_sms_inbox"
    config = inbox.provider_config or {}
    if not settings.SMS_OUTBOX and not (config.get("account_sid") and config.get("auth_token")):
        return "sms_not_configured"
    try:
        number = sms.phone_for(conversation)
    except sms.SmsSendError:
        return "no_phone_number"
    return "opted_out" if sms.is_opted_out(number) else None


_UNREACHABLE_CHECKS = {Channel.WEB: _web_unreachable, Channel.EMAIL: _email_unreachable, Channel.SMS: _sms_unreachable}


def reply_channels(conversation: Conversation) -> list[dict]:
    """Each channel a reply could take, whether it can reach the customer, and why not.

    The same rules as delivery (`deliver`): an email needs an email inbox and an address of the
    person, an SMS an SMS number, the person's phone and no STOP; a web reply needs a customer
    who used the widget (a live visitor token, or a web message in this conversation).
    """
    channels = []
    for channel in REPLY_CHANNELS:
        reason = _UNREACHABLE_CHECKS[channel](conversation)
        detail = UNREACHABLE.get(reason, "")
        channels.append({"channel": channel, "available": reason is None, "reason": reason or "", "detail": detail})
    return channels


def check_reply_channel(conversation: Conversation, channel: str) -> None:
    """InvalidInput `channel_unavailable` when a reply on `channel` cannot reach the customer."""
    check = _UNREACHABLE_CHECKS.get(channel)
    reason = check(conversation) if check else None
    if reason:
        label = Channel(channel).label
        raise InvalidInput(
            f"{label} cannot reach this customer: {UNREACHABLE[reason]}.",
            fields={"channel": [UNREACHABLE[reason]]},
            code=ErrorCode.CHANNEL_UNAVAILABLE,
        )
