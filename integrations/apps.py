"""App config of the outbound webhooks."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations (outbound webhooks)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import outbox, timers

        from . import webhooks

        outbox.register_drain("webhooks", webhooks.drain)
        timers.register("integrations.webhook_retries", webhooks.deliveries_send_due)
