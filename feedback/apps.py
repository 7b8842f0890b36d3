"""The feedback app: surveys, the closed loop and the metrics pipeline."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback and metrics"
