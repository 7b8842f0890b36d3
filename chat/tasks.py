"""Celery tasks of the conversation core. Each takes ids and is safe to run twice."""

import logging

from celery import shared_task

from . import assignment

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def conversation_route(conversation_id: int) -> None:
    """Give a new or returned conversation to an agent with room, if one is online."""
    assignment.conversation_route(conversation_id=conversation_id)


@shared_task(acks_late=True)
def agent_availability_changed(user_id: int) -> None:
    """Offline agents give back unanswered conversations; online agents take from the queue."""
    from . import events

    released = assignment.agent_release_unanswered(user_id=user_id)
    for conversation_id in released:
        assignment.conversation_route(conversation_id=conversation_id)
    assignment.route_queue()
    events.broadcast_presence(user_id)


@shared_task(acks_late=True)
def conversation_resolved(conversation_id: int, resolution_number: int) -> None:
    """After a resolution its assignee has room again: the queue is offered. (The survey hears of
    the resolution through the outbox: feedback's drain.)"""
    assignment.route_queue()


@shared_task(acks_late=True)
def events_drain(since: int = 0) -> dict:
    """Every drain the apps registered (chat/outbox.py) from event `since` on: woken by
    `chat.wakeup` after events commit, and by beat every minute from 0 for a lost wake-up."""
    from . import outbox

    return outbox.run_drains(since=since)


@shared_task(acks_late=True, ignore_result=True)
def timers_run() -> dict:
    """Beat, every second (TIMERS_INTERVAL_SECONDS): whatever has fallen due (chat/timers.py)."""
    from . import timers

    return timers.run_due()


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def message_deliver(message_id: int) -> None:
    """Send an agent's reply out by email or SMS (connectors); a sent message is not sent again."""
    from .connectors import outbound

    outbound.deliver(message_id=message_id)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def message_media_fetch(message_id: int) -> None:
    """Fetch an SMS's media (Twilio MediaUrl) through the SSRF guard, check and keep each file like
    an upload; what cannot be fetched or is refused is listed with its reason. Safe twice."""
    from .connectors import sms

    sms.media_fetch(message_id=message_id)
