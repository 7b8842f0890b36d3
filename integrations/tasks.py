"""Celery tasks of the outbound webhooks: they take ids and are safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True)
def webhook_deliver(delivery_id: str, attempt: int) -> None:
    """Attempt `attempt` of one delivery; a retriable failure sets the time of the next, which
    the timer `webhooks.deliveries_send_due` sends then (exponential backoff)."""
    from . import webhooks

    webhooks.delivery_attempt(delivery_id=delivery_id, attempt=attempt)
