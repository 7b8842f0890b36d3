"""The Celery application; tasks run eagerly in the embedded default (no REDIS_URL)."""

import os

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxhub.settings")

app = Celery("cxhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def keep_database_connection(task=None, **kwargs) -> None:
    """Before each task, what Django does before each request: drop the connection only when
    it is too old (CONN_MAX_AGE) or broken (CONN_HEALTH_CHECKS); CELERY_DB_REUSE_MAX keeps
    Celery from closing it around every task. Not for eager tasks: they run inside the
    caller's transaction."""
    if task is not None and not task.request.is_eager:
        close_old_connections()
