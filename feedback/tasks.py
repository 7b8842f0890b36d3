"""Celery tasks of the feedback app. Each takes ids and is safe to run twice."""

import logging

from celery import shared_task

from . import selectors, services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def survey_send(invitation_id: int) -> bool:
    """Send one due invitation on its channel; an invitation already sent is not sent again."""
    return services.survey_send(invitation_id=invitation_id)


@shared_task(acks_late=True)
def survey_sweep() -> dict:
    """Beat, every minute: send the invitations that are due (missed etas, retries) and expire old ones."""
    due = selectors.due_invitation_ids()
    for invitation_id in due:
        survey_send.delay(invitation_id)
    expired = services.survey_expire_due()
    return {"queued": len(due), "expired": expired}


@shared_task(acks_late=True)
def response_recorded(response_id: int) -> None:
    """After a survey answer (or an edit of it) commits: the closed loop of METRICS.md starts here.

    The metrics helper's `feedback.pipeline.response_recorded(response_id=...)` opens the
    FollowUp and marks the contact at risk for detractor answers; it must be idempotent
    (an edit within 24 h calls it again for the same response).
    """
    from . import pipeline

    handler = getattr(pipeline, "response_recorded", None)
    if handler is None:
        logger.debug("no closed-loop handler yet for survey response %s", response_id)
        return
    handler(response_id=response_id)
