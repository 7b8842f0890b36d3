"""The feedback app: surveys, the closed loop and the metrics pipeline."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback and metrics"

    def ready(self) -> None:
        # The pipeline's tasks live beside feedback/tasks.py; workers must know them too.
        from chat import consumers, outbox, privacy, retention, selectors, timers
        from chat.connectors import sms

        from . import pipeline, pipeline_tasks, predictions, services  # noqa: F401
        from . import privacy as surveys_privacy
        from . import selectors as feedback_selectors

        outbox.register_drain("metrics", lambda since: pipeline.process_pending(since=since))
        outbox.register_drain("surveys", services.surveys_drain)
        consumers.register_widget_frame("survey.answer", services.survey_answer_frame)
        privacy.register_personal_data(export=surveys_privacy.export, erase=surveys_privacy.erase)
        # retention emptied old conversations' words: the sentiment derived from them goes too
        retention.register_purger("feedback.sentiment", purge=predictions.forget_conversation_words)
        selectors.register_contact_section("survey_history", feedback_selectors.contact_survey_history)
        sms.register_reply_handler(services.sms_survey_reply)
        timers.register("feedback.surveys_due", services.surveys_send_due)
        timers.register("feedback.surveys_expired", services.survey_expire_due)
        timers.register("feedback.metrics_windows", pipeline.finalise_windows)
