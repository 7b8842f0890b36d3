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
    return len(report.differences)
