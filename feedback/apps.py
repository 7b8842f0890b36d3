"""The feedback app: surveys, the closed loop and the metrics pipeline."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback and metrics"

    def ready(self) -> None:
        # The pipeline's tasks live beside feedback/tasks.py; workers must know them too.
        from . import pipeline_tasks  # noqa: F401
