"""The chat app: the conversation core every channel feeds."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from . import services, sla_services, timers

        timers.register("chat.snoozes", services.conversations_wake_due)
        timers.register("chat.pending", services.conversations_resolve_pending_due)
        timers.register("chat.sla", sla_services.sla_due)
