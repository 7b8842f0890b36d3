"""Celery tasks of the feedback app. Each takes ids and is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def survey_send(invitation_id: int) -> bool:
    """Send one due invitation on its channel; an invitation already sent is not sent again."""
    return services.survey_send(invitation_id=invitation_id)


@shared_task(acks_late=True)
def survey_sweep() -> dict:
    """As queued by earlier releases' beat: the two survey timers (chat.tasks.timers_run runs them now)."""
    return {"sent": services.surveys_send_due(), "expired": services.survey_expire_due()}


@shared_task(acks_late=True)
def response_recorded(response_id: int) -> None:
    """Count one answer and close its loop (`feedback.pipeline.response_recorded`, idempotent).

    Answers no longer publish this task: their `survey_answered` event's task counts them in
    the pipeline's next batch (docs/adr/0003-metrics-pipeline.md). It stays for the tasks an
    earlier release queued.
    """
    from . import pipeline

    pipeline.response_recorded(response_id=response_id)
