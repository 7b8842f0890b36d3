"""Tasks no current code publishes, kept only for messages an earlier release left in the queue.

Each keeps its old name (`name=`), so a worker of this release still runs what its predecessor
queued, and does what the current code does instead. Remove this module in release 2027.03 (two
releases on: a queue holds nothing that old). New code must not publish any of these.
"""

from celery import shared_task

from chat import outbox, timers


@shared_task(name="chat.tasks.event_created", acks_late=True)
def event_created(event_id: int) -> dict:
    """One event's wake-up (before wake-ups per window): every drain, from that event on."""
    return outbox.run_drains(since=event_id)


@shared_task(name="chat.tasks.conversation_reopened", acks_late=True)
def conversation_reopened(conversation_id: int) -> dict:
    """A reopen's task (surveys now hear of it through their outbox drain)."""
    return outbox.run_drains(since=0)


@shared_task(name="feedback.pipeline_tasks.metrics_process_pending", acks_late=True)
def metrics_process_pending() -> dict:
    return outbox.run_drains(since=0)


@shared_task(name="feedback.pipeline_tasks.metrics_finalise_windows", acks_late=True)
def metrics_finalise_windows() -> dict:
    return timers.run_due()


@shared_task(name="feedback.tasks.survey_sweep", acks_late=True)
def survey_sweep() -> dict:
    return timers.run_due()


@shared_task(name="feedback.tasks.response_recorded", acks_late=True)
def response_recorded(response_id: int) -> dict:
    """An answer's own task (answers now count through their survey_answered event)."""
    return outbox.run_drains(since=0)


@shared_task(name="feedback.pipeline_tasks.metrics_response_arrived", acks_late=True)
def metrics_response_arrived(response_id: int) -> dict:
    return outbox.run_drains(since=0)


@shared_task(name="integrations.tasks.webhook_dispatch", acks_late=True)
def webhook_dispatch(event_id: int) -> dict:
    return outbox.run_drains(since=event_id)
