"""The feedback app: surveys, the closed loop and the metrics pipeline."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback and metrics"

    def ready(self) -> None:
        # The pipeline's tasks live beside feedback/tasks.py; workers must know them too.
        from chat import outbox, timers

        from . import pipeline, pipeline_tasks, services  # noqa: F401

        outbox.register_drain("metrics", lambda since: pipeline.process_pending(since=since))
        outbox.register_drain("surveys", services.surveys_drain)
        timers.register("feedback.surveys_due", services.surveys_send_due)
        timers.register("feedback.surveys_expired", services.survey_expire_due)
        timers.register("feedback.metrics_windows", pipeline.finalise_windows)
