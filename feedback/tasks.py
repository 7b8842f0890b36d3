"""Celery tasks of the feedback app. Each takes ids and is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def survey_send(invitation_id: int) -> bool:
    """Send one due invitation on its channel; an invitation already sent is not sent again."""
    return services.survey_send(invitation_id=invitation_id)
