"""Delivery of agent replies on their channel (email, SMS); web replies need no delivery."""

import logging

from chat.models import Message

logger = logging.getLogger(__name__)


def deliver(*, message_id: int) -> None:
    """Send one outbound message once. Filled in by the email and SMS connectors."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.delivery_status != Message.Delivery.PENDING:
        return
    logger.info("no connector delivers %s messages yet (message %s)", message.channel, message_id)
