"""Celery tasks of the metrics pipeline (the beat schedule is in cxhub/settings.py).

Every task takes ids (or nothing), is safe to run twice and inherits acks_late,
reject_on_worker_lost and prefetch 1 from the settings. Events reach the pipeline through its
outbox drain (feedback/apps.py registers `pipeline.process_pending`); a survey answer is counted
through its survey_answered event; 7-day windows end through a timer.
"""

import logging

from celery import shared_task

from . import pipeline

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def metrics_reconcile(days: int = 3) -> int:
    """Beat, nightly: recompute the last days from raw rows; log and count any difference."""
    report = pipeline.reconcile(days=days)
    from . import predictions

    return len(report.differences) + len(predictions.reconcile(days=days).differences)


@shared_task(acks_late=True)
def satisfaction_train(trigger: str = "nightly", user_id: int | None = None) -> int:
    """Beat, nightly (and on demand: the API, `manage.py train_satisfaction_model`): train, evaluate,
    promote only a model that beats the baseline, score every conversation again. The run's id."""
    from django.contrib.auth import get_user_model

    from . import predictions

    by = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return predictions.model_train(trigger=trigger, by=by).pk
