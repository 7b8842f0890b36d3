"""The feedback app: surveys, the closed loop and the metrics pipeline."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback and metrics"

    def ready(self) -> None:
        # The pipeline's tasks live beside feedback/tasks.py; workers must know them too.
        from chat import timers

        from . import pipeline, pipeline_tasks, services  # noqa: F401

        timers.register("feedback.surveys_due", services.surveys_send_due)
        timers.register("feedback.surveys_expired", services.survey_expire_due)
        timers.register("feedback.metrics_windows", pipeline.finalise_windows)
