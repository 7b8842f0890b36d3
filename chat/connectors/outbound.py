"""Delivery of agent replies on their channel (email, SMS); web replies need no delivery.

`deliver(message_id=...)` is what the `message_deliver` task runs. It claims the message first
(`chat.services.message_delivery_claim`), so a message already sent (or being sent) is not sent
again; the outcome is recorded with `message_set_delivery`, which broadcasts it to the console.
It never raises for a provider's failure: the failure is stored on the message and logged.
"""

import logging

from chat import services
from chat.models import Channel, Message

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
